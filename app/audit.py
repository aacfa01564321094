"""The audit trail: every state-changing service writes one row (actor, action, entity, change).

Officers read it at ``/officer/audit`` (``app.audit_pages``): who did what, when and why (the
row's summary keeps the officer's note or reason), paged and filtered by entity, kind of entity,
action, actor and days. Each domain says how to name its entities and which rows make up one
entity's history (``AuditEntity``): a pledge's history also holds its payments, allocations,
delivery receipts and the statement lines that paid it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Select, String, Text, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.models import User
from app.db import Base, utcnow
from app.i18n import VN_TZ, _, lazy

# What each action means, in words, for the officers' audit pages. Every action the code records
# has one (tests/test_audit_pages.py checks the source for them); an unknown one shows its code.
ACTION_LABELS = {
    "allocation.cancel": lazy("Allocation canceled"),
    "allocation.resend": lazy("Missing items sent again"),
    "commune.update": lazy("Commune details changed"),
    "delivery.receipt": lazy("Delivery confirmed by the library"),
    "delivery.released": lazy("Sponsor told the missing items went back to the need"),
    "delivery.resend": lazy("Sponsor told the missing items are sent again"),
    "delivery.shortfall": lazy("Items missing on arrival"),
    "delivery.shortfall_handled": lazy("Shortfall marked as handled"),
    "delivery.shortfall_release": lazy("Shortfall released"),
    "delivery.shortfall_resend": lazy("Shortfall sent again"),
    "held_money.reassign": lazy("Held money reassigned to a pledge"),
    "held_money.refund": lazy("Held money paid back"),
    "item_kind.save": lazy("Catalogue item saved"),
    "library.create": lazy("Library added"),
    "matching.commit": lazy("Matching run committed"),
    "need.approve": lazy("Need approved"),
    "need.close": lazy("Need closed"),
    "need.create": lazy("Need created"),
    "need.expire": lazy("Need expired"),
    "need.fulfil": lazy("Need fulfilled"),
    "need.open": lazy("Need opened"),
    "need.reject": lazy("Need rejected"),
    "need.release": lazy("Items given back to the need"),
    "need.return": lazy("Need returned for correction"),
    "need.submit": lazy("Need submitted for review"),
    "need.take_back": lazy("Need taken back to correct"),
    "need.update": lazy("Need edited"),
    "need.withdraw": lazy("Need withdrawn"),
    "payment.canceled": lazy("Payment canceled"),
    "payment.confirmed": lazy("Payment confirmed"),
    "payment.create": lazy("Payment started"),
    "payment.created": lazy("Payment started"),
    "payment.failed": lazy("Payment failed"),
    "payment.pending": lazy("Payment pending"),
    "payment.refunded": lazy("Payment refunded"),
    "pledge.accept_goods": lazy("Goods recorded at the hub"),
    "pledge.acknowledge": lazy("Gift acknowledged by the library"),
    "pledge.allocate": lazy("Pledge allocated"),
    "pledge.await": lazy("Pledge awaiting payment or delivery"),
    "pledge.cancel": lazy("Pledge canceled"),
    "pledge.create": lazy("Pledge made"),
    "pledge.deliver": lazy("Pledge delivered"),
    "pledge.delivered": lazy("Sponsor told their gift was delivered"),
    "pledge.dispatch": lazy("Pledge dispatched"),
    "pledge.expire": lazy("Pledge expired"),
    "pledge.paid": lazy("Pledge paid"),
    "pledge.receive": lazy("Goods received at the hub"),
    "pledge.received": lazy("Sponsor told their pledge was received"),
    "pledge.received_goods": lazy("Sponsor told their goods arrived"),
    "pledge.refund": lazy("Pledge refunded"),
    "pledge.resend": lazy("Pledge sent again"),
    "pledge.short_payment": lazy("Short payment confirmed for what arrived"),
    "recognition.commended": lazy("Sponsor told of their commendation"),
    "recognition.entry_edited": lazy("Honor roll entry edited"),
    "recognition.entry_excluded": lazy("Left out of the honor roll"),
    "recognition.entry_included_again": lazy("Included in the honor roll again"),
    "recognition.entry_revoked": lazy("Certificate revoked"),
    "recognition.nominated": lazy("Nomination made"),
    "recognition.nomination_updated": lazy("Nomination corrected"),
    "recognition.nomination_withdrawn": lazy("Nomination withdrawn"),
    "recognition.revoked": lazy("Sponsor told of a revocation"),
    "recognition.roll_approved": lazy("Honor roll approved"),
    "recognition.roll_corrected": lazy("Honor roll correction started"),
    "recognition.roll_generated": lazy("Honor roll generated"),
    "recognition.roll_hashed": lazy("Honor roll sealed with its content hash"),
    "recognition.roll_published": lazy("Honor roll published"),
    "recognition.roll_returned": lazy("Honor roll returned to draft"),
    "recognition.roll_submitted": lazy("Honor roll submitted for approval"),
    "recognition.rules_saved": lazy("Recognition rules saved"),
    "shipment.cancel": lazy("Shipment canceled"),
    "shipment.create": lazy("Shipment planned"),
    "shipment.deliver": lazy("Shipment delivered"),
    "shipment.dispatch": lazy("Shipment dispatched"),
    "statement.import": lazy("Bank statement imported"),
    "statement_line.dismiss": lazy("Bank line dismissed"),
    "statement_line.hold": lazy("Bank line held"),
    "statement_line.match": lazy("Bank line matched to a pledge"),
    "statement_line.matched": lazy("Bank line matched automatically"),
    "statement_line.reopen": lazy("Bank line back to review"),
    "statement_line.review": lazy("Bank line waiting for review"),
    "need.approved": lazy("Librarians told their need was approved"),
    "need.returned": lazy("Librarians told their need was returned for changes"),
    "need.rejected": lazy("Librarians told their need was not approved"),
    "user.create_officer": lazy("Officer account created"),
    "user.change_password": lazy("Password changed"),
    "user.reset_password": lazy("Password chosen again through an e-mailed link"),
    "user.deactivate": lazy("Access withdrawn"),
    "user.invite_librarian": lazy("Librarian invited"),
    "user.reactivate": lazy("Access restored"),
    "user.register": lazy("Account registered"),
    "user.update_contact": lazy("Contact details changed"),
}


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return _(label) if label else action

class AuditLog(Base):
    __tablename__ = "audit_log"
    # One entity's history (the officer's history page, the sponsor's timeline) reads by this.
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def record(
    session: AsyncSession,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: object,
    summary: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit row to the caller's transaction (services never commit)."""
    row = AuditLog(
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        summary=summary,
        before=before,
        after=after,
    )
    session.add(row)
    return row


# --- reading the trail ------------------------------------------------------------------------------

Ref = tuple[str, str]  # (entity_type, entity_id) as the rows store them
SYSTEM = "system"  # the actor filter's value for rows no person wrote (jobs, webhooks)


@dataclass(frozen=True)
class Subject:
    """One entity whose history is asked for: how to name it, its page, and the rows that make up
    its history (the entity itself and the parts that belong to it)."""

    label: str
    url: str | None
    refs: list[Ref]


Describe = Callable[[AsyncSession, list[str]], Awaitable[dict[str, tuple[str, str | None]]]]
Resolve = Callable[[AsyncSession, str], Awaitable[Subject | None]]


@dataclass(frozen=True)
class AuditEntity:
    """What a domain tells the audit pages about one kind of entity: its name (a msgid), how to
    name some of them and link to their pages (``describe``: entity ids → (label, url)), and the
    history of one, from what an officer types (``resolve``: a reference code or an id)."""

    label: str
    describe: Describe | None = None
    resolve: Resolve | None = None


@dataclass(frozen=True)
class AuditQuery:
    refs: list[Ref] | None = None  # only these entities' rows
    entity_type: str | None = None
    action: str | None = None  # an action, or its prefix ending in "." (e.g. "pledge.")
    actor: str | None = None  # SYSTEM, or part of an e-mail address or a name
    since: dt.date | None = None  # days in Vietnam, both included
    until: dt.date | None = None
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class AuditRow:
    entry: AuditLog
    actor_name: str | None
    actor_email: str | None
    actor_role: str | None

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) for every field whose value the row records as changed or set."""
        before, after = self.entry.before or {}, self.entry.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k) or k not in before]


def day_start(day: dt.date) -> dt.datetime:
    """Midnight of a day in Vietnam, as a UTC instant."""
    return dt.datetime.combine(day, dt.time.min, VN_TZ).astimezone(dt.UTC)


def _conditions(query: AuditQuery) -> list[Any]:
    conditions: list[Any] = []
    if query.refs is not None:
        by_type: dict[str, list[str]] = {}
        for entity_type, entity_id in query.refs:
            by_type.setdefault(entity_type, []).append(entity_id)
        conditions.append(or_(*(and_(AuditLog.entity_type == t, AuditLog.entity_id.in_(ids))
                                for t, ids in sorted(by_type.items()))) if by_type else AuditLog.id.is_(None))
    if query.entity_type:
        conditions.append(AuditLog.entity_type == query.entity_type)
    if query.action:
        conditions.append(AuditLog.action.startswith(query.action, autoescape=True) if query.action.endswith(".")
                          else AuditLog.action == query.action)
    if query.actor == SYSTEM:
        conditions.append(AuditLog.actor_id.is_(None))
    elif query.actor:
        text = query.actor.strip().lower()
        conditions.append(AuditLog.actor_id.in_(select(User.id).where(or_(
            func.lower(User.email).contains(text, autoescape=True),
            func.lower(User.full_name).contains(text, autoescape=True),
            User.full_name.contains(query.actor.strip(), autoescape=True)))))
    if query.since:
        conditions.append(AuditLog.at >= day_start(query.since))
    if query.until:
        conditions.append(AuditLog.at < day_start(query.until + dt.timedelta(days=1)))
    return conditions


def _rows(conditions: list[Any]) -> Select[Any]:
    return (select(AuditLog, User.full_name, User.email, User.role)
            .outerjoin(User, User.id == AuditLog.actor_id).where(*conditions))


async def audit_trail(session: AsyncSession, query: AuditQuery) -> tuple[list[AuditRow], int]:
    """One page of the rows the query selects, the latest first, and how many there are."""
    conditions = _conditions(query)
    total = await session.scalar(select(func.count()).select_from(AuditLog).where(*conditions)) or 0
    result = await session.execute(
        _rows(conditions).order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(query.per_page).offset((query.page - 1) * query.per_page))
    rows = [AuditRow(entry, name, email, role.value if role is not None else None)
            for entry, name, email, role in result]
    return rows, total


async def audit_choices(session: AsyncSession) -> tuple[list[str], list[str]]:
    """The entity types and the actions the trail holds (the filters' choices), sorted."""
    types = list(await session.scalars(select(AuditLog.entity_type).distinct().order_by(AuditLog.entity_type)))
    actions = list(await session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))
    return types, actions


@dataclass
class Described:
    """Labels and links of the entities a page of rows mentions: (type, id) → (label, url)."""

    names: dict[Ref, tuple[str, str | None]] = field(default_factory=dict)

    def known(self, entity_type: str, entity_id: str) -> bool:
        return (entity_type, entity_id) in self.names

    def label(self, entity_type: str, entity_id: str) -> tuple[str, str | None]:
        return self.names.get((entity_type, entity_id), (f"#{entity_id}", None))


async def describe(session: AsyncSession, rows: list[AuditRow], entities: dict[str, AuditEntity]) -> Described:
    """Name every entity the rows mention, one query per kind of entity."""
    ids: dict[str, set[str]] = {}
    for row in rows:
        ids.setdefault(row.entry.entity_type, set()).add(row.entry.entity_id)
    described = Described()
    for entity_type, wanted in sorted(ids.items()):
        kind = entities.get(entity_type)
        if kind is not None and kind.describe is not None:
            for entity_id, named in (await kind.describe(session, sorted(wanted))).items():
                described.names[entity_type, entity_id] = named
    return described


def itself(entity_type: str, describe: Describe) -> Resolve:
    """A ``resolve`` for a kind whose history is its own rows, named by its id."""
    async def resolve(session: AsyncSession, key: str) -> Subject | None:
        key = key.strip().removeprefix("#")
        named = await describe(session, [key])
        return Subject(*named[key], [(entity_type, key)]) if key in named else None
    return resolve


def int_ids(ids: list[str]) -> list[int]:
    """The ids that are whole numbers (the rows store ids as text)."""
    return [int(i) for i in ids if i.isascii() and i.isdigit() and len(i) < 10]
