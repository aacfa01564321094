"""The officers' audit pages: ``/officer/audit`` lists the audit trail (who did what, when, and the
note or reason they gave), the latest first, 50 a page, filtered by one entity's history
(``entity=pledge:GLG…``, ``need:12``, …), kind of entity, action, actor and days. Each domain
registers its kinds of entity (``app.audit.AuditEntity``); ``create_app`` merges them into the
app's state (``audit_entities``). The app's own kinds (accounts, communes, libraries) are here."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import (
    SYSTEM,
    AuditEntity,
    AuditQuery,
    Subject,
    action_label,
    audit_choices,
    audit_trail,
    describe,
    int_ids,
    itself,
)
from app.auth.guards import officer_only
from app.auth.models import User
from app.geography.models import Commune, Library
from app.i18n import _, lazy
from app.web import DbSession, last_page, page_number, render

PER_PAGE = 50


def history_url(entity_type: str, key: object) -> str:
    """The address of one entity's history (entity pages link to it)."""
    return "/officer/audit?" + urlencode({"entity": f"{entity_type}:{key}"})


def _day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((value or "").strip())
    except ValueError:
        return None


async def _users(session: AsyncSession, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await session.execute(select(User.id, User.full_name, User.email).where(User.id.in_(int_ids(ids))))
    return {str(i): (f"{name} <{email}>", None) for i, name, email in rows}


async def _communes(session: AsyncSession, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await session.execute(select(Commune.code, Commune.name).where(Commune.code.in_(int_ids(ids))))
    return {str(code): (name, f"/officer/communes/{code}") for code, name in rows}


async def _libraries(session: AsyncSession, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await session.execute(select(Library.id, Library.name).where(Library.id.in_(int_ids(ids))))
    return {str(i): (name, "/officer/libraries") for i, name in rows}


ENTITIES: dict[str, AuditEntity] = {
    "user": AuditEntity(lazy("Account"), _users, itself("user", _users)),
    "commune": AuditEntity(lazy("Commune"), _communes, itself("commune", _communes)),
    "library": AuditEntity(lazy("Library"), _libraries, itself("library", _libraries)),
}


class OfficerAudit(Controller):
    path = "/officer/audit"
    guards = [officer_only]

    @get("/", name="officer_audit")
    async def trail(self, request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Template:
        entities: dict[str, AuditEntity] = state.audit_entities
        params = request.query_params
        values = {k: (params.get(k) or "").strip() for k in ("entity", "type", "action", "actor", "from", "to")}
        errors: dict[str, str] = {}
        subject: Subject | None = None
        if values["entity"]:
            entity_type, _sep, key = values["entity"].partition(":")
            kind = entities.get(entity_type)
            if kind is None or kind.resolve is None or not key.strip():
                errors["entity"] = _("Write the kind and the reference, e.g. pledge:GLG7K2M9QXA or need:12.")
            else:
                subject = await kind.resolve(db_session, key.strip())
                if subject is None:
                    errors["entity"] = _("Nothing of this kind has this reference.")
        since, until = _day(values["from"]), _day(values["to"])
        for name, day in (("from", since), ("to", until)):
            if values[name] and day is None:
                errors[name] = _("Enter a valid date.")
        query = AuditQuery(
            refs=subject.refs if subject else ([] if "entity" in errors else None),
            entity_type=values["type"] or None, action=values["action"] or None,
            actor=values["actor"] or None, since=since, until=until, page=page_number(request), per_page=PER_PAGE)
        rows, total = await audit_trail(db_session, query)
        types, actions = await audit_choices(db_session)
        kept = {k: v for k, v in values.items() if v}
        return render(
            request, "officer/audit.html", status_code=422 if errors else 200,
            rows=rows, total=total, page=query.page, pages=last_page(total, PER_PAGE),
            subject=subject, values=values, errors=errors, types=types, actions=actions,
            entities=entities, described=await describe(db_session, rows, entities), system=SYSTEM,
            base_query=urlencode(kept), history_url=history_url, action_label=action_label,
        )
