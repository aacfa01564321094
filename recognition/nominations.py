"""Nominations: an officer puts forward a librarian, a volunteer, a school or a collective for a
form of commendation, with the work done and its evidence; corrects or withdraws it (with a
reason). Rolls generated afterwards take the open nominations of their period. Services never
commit; every change is audited."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.models import User
from app.db import insert_once, utcnow
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.i18n import _
from app.text import fold
from recognition import rules
from recognition.models import EntryDecision, Nomination
from recognition.schemas import NominationIn, RevokeIn


def duplicate(data: NominationIn) -> ValidationFailed:
    return ValidationFailed({"nominee_name": _(
        "%(name)s is already nominated in this period as %(kind)s: correct that nomination instead.",
        name=data.nominee_name, kind=_(data.nominee_kind.label).lower())})


async def refuse_duplicate(session: AsyncSession, province_code: int, data: NominationIn,
                           other_than: int | None = None) -> None:
    """One open nomination per nominee, kind and period: the same name, ignoring case, diacritics
    and spacing, is refused beside the name (the same person put forward twice). Two identical
    submits at the same instant both pass this check; the unique index on `name_key` then refuses
    the second, with the same message."""
    same = await session.scalar(select(Nomination.id).where(
        Nomination.province_code == province_code, Nomination.period_key == data.period_key,
        Nomination.nominee_kind == data.nominee_kind, Nomination.name_key == fold(data.nominee_name),
        Nomination.withdrawn_at.is_(None), Nomination.id != (other_than or 0)).limit(1))
    if same is not None:
        raise duplicate(data)


async def nominate(session: AsyncSession, actor: User | None, province_code: int, data: NominationIn) -> Nomination:
    await rules.require_rules(session, province_code, data.period_key)
    await refuse_duplicate(session, province_code, data)
    nomination = Nomination(province_code=province_code, created_by_id=actor.id if actor else None,
                            **{**data.model_dump(), "address": data.address or ""})
    await insert_once(session, nomination, duplicate(data))
    audit.record(session, actor_id=nomination.created_by_id, action="recognition.nominated",
                 entity_type="recognition_nomination", entity_id=nomination.id, summary=data.nominee_name,
                 after={"form": data.form.value, "kind": data.nominee_kind.value})
    return nomination


async def open_nomination(session: AsyncSession, province_code: int, nomination_id: int, *,
                          for_update: bool = False) -> Nomination:
    """A nomination of the province that is not withdrawn (404 for another province's or none)."""
    nomination = await session.get(Nomination, nomination_id, with_for_update=for_update or None,
                                   populate_existing=for_update)
    if nomination is None or nomination.province_code != province_code:
        raise NotFound(_("No such nomination."))
    if nomination.withdrawn_at is not None:
        raise IllegalTransition(_("This nomination was withdrawn: it can no longer be edited."))
    return nomination


def form_values(nomination: Nomination | NominationIn) -> dict[str, Any]:
    """The editable fields as plain JSON (enums by value, no address as "")."""
    return {field: (value.value if isinstance(value, enum.Enum) else value or "")
            for field in NominationIn.model_fields for value in [getattr(nomination, field)]}


async def update_nomination(session: AsyncSession, actor: User | None, province_code: int, nomination_id: int,
                            data: NominationIn) -> Nomination:
    """Correct an open nomination: checked as a new one is, then written with an audit row of the
    fields that changed (nothing changed: nothing written, no audit row). Rolls already generated
    keep the copy they made of it; drafts generated from now on use the new values (instead of
    edits made to its entry in a roll; an exclusion stays)."""
    nomination = await open_nomination(session, province_code, nomination_id, for_update=True)
    await rules.require_rules(session, province_code, data.period_key)
    old, new = form_values(nomination), form_values(data)
    changed = [field for field in new if new[field] != old[field]]
    if not changed:
        return nomination
    await refuse_duplicate(session, province_code, data, other_than=nomination.id)
    try:
        async with session.begin_nested():  # another nomination corrected into the same at the same instant
            for field in changed:
                setattr(nomination, field, getattr(data, field) or "")
    except IntegrityError as exc:
        raise duplicate(data) from exc
    # The corrected nomination replaces what officers edited in its roll entries.
    await session.execute(update(EntryDecision).where(EntryDecision.nomination_id == nomination.id)
                          .values(name=None, address=None, form=None))
    audit.record(session, actor_id=actor.id if actor else None, action="recognition.nomination_updated",
                 entity_type="recognition_nomination", entity_id=nomination.id, summary=nomination.nominee_name,
                 before={field: old[field] for field in changed}, after={field: new[field] for field in changed})
    return nomination


async def withdraw_nomination(session: AsyncSession, actor: User | None, province_code: int, nomination_id: int,
                              data: RevokeIn) -> Nomination:
    """Leave a nomination out of the rolls generated from now on (with the reason)."""
    nomination = await session.get(Nomination, nomination_id, with_for_update=True)
    if nomination is None or nomination.province_code != province_code:
        raise NotFound(_("No such nomination."))
    if nomination.withdrawn_at is not None:
        raise IllegalTransition(_("This nomination was already withdrawn."))
    nomination.withdrawn_at, nomination.withdrawal_reason = utcnow(), data.reason
    audit.record(session, actor_id=actor.id if actor else None, action="recognition.nomination_withdrawn",
                 entity_type="recognition_nomination", entity_id=nomination.id, summary=data.reason,
                 before={"withdrawn": False}, after={"withdrawn": True})
    return nomination


async def in_province(session: AsyncSession, province_code: int, period_key: str | None = None, *,
                      withdrawn: bool = True) -> list[Nomination]:
    query = select(Nomination).where(Nomination.province_code == province_code)
    if period_key:
        query = query.where(Nomination.period_key == period_key)
    if not withdrawn:
        query = query.where(Nomination.withdrawn_at.is_(None))
    return list(await session.scalars(query.order_by(Nomination.id.desc())))
