"""The sponsor's dashboard: every pledge with where it went, its timeline and its documents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit import AuditLog
from app.auth.models import User
from app.geography.models import Commune, Library
from app.i18n import _, format_vnd, lazy
from app.payments.registry import STATE_LABELS, PaymentState
from donations.delivery_queries import LineView, deliveries_of
from donations.ledger import goods_arrived
from donations.models import PLEDGE_STATUS_LABELS, Pledge, PledgeKind, PledgeStatus
from donations.receipts import can_file_confirmation, receipt_number
from needs.models import ItemKind, Need

PLEDGE_MADE = lazy("Pledge made")
PAYMENT_STARTED = lazy("Payment started")
DISPATCHED = lazy("Dispatched")
# Why a payment failed or was canceled: the audit rows say it in English for the record; the
# sponsor reads it in their language. (A refund's reason is the officer's own words, shown as is.)
PAYMENT_NOTES = {
    "another method chosen": lazy("another payment method was chosen"),
    "paid another way": lazy("paid another way"),
    "card declined": lazy("the card was declined"),
}
CARD_DECLINED = "declined:"  # "declined: <Stripe's code>", written when the card form is refused


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    label: str  # a msgid, translated where shown
    detail: str = ""


@dataclass
class PledgeView:
    pledge: Pledge
    item_name_vi: str | None
    item_name_en: str | None
    commune_name: str | None
    library_name: str | None
    receipt_number: str | None
    confirmation: bool
    # What the receipt and the ledger count once confirmed (None before): the money paid, or the
    # items that arrived (fewer than pledged when some never came) and their value.
    received_quantity: int | None = None
    received_value: int | None = None
    timeline: list[Event] = field(default_factory=list)
    deliveries: list[LineView] = field(default_factory=list)  # its allocations, shipments, receipts


def _payment_note(state: PaymentState, summary: str) -> str:
    if state == PaymentState.REFUNDED:
        return summary
    if summary.startswith(CARD_DECLINED):
        summary = "card declined"
    return _(PAYMENT_NOTES[summary]) if summary in PAYMENT_NOTES else ""


def _event(row: AuditLog, provider_names: Mapping[str, str]) -> Event | None:
    after = row.after or {}
    if row.entity_type == "pledge":
        if row.action == "pledge.create":
            return Event(row.at, PLEDGE_MADE)
        if row.action == "pledge.dispatch":
            return Event(row.at, DISPATCHED, row.summary)
        if "status" not in after:
            return None
        detail = row.summary if row.action in ("pledge.paid", "pledge.refund") else ""
        if row.action == "pledge.acknowledge" and row.summary.isdigit():
            detail = format_vnd(int(row.summary))  # the value the library acknowledged
        return Event(row.at, PLEDGE_STATUS_LABELS[PledgeStatus(after["status"])], detail)
    if row.action == "payment.create":
        provider = str(after.get("provider", ""))
        return Event(row.at, PAYMENT_STARTED, _(provider_names.get(provider, provider)))
    state = after.get("state")
    # A confirmed payment shows as the pledge's "Paid" step, with its receipt number; a pending one
    # would repeat the pledge's "Awaiting payment" step.
    if state is None or state in (PaymentState.CONFIRMED, PaymentState.PENDING):
        return None
    return Event(row.at, STATE_LABELS[PaymentState(state)], _payment_note(PaymentState(state), row.summary))


PLEDGES_PER_PAGE = 20  # a card each, with its timeline and deliveries: a busy sponsor's list is paged


async def count_pledges(session: AsyncSession, sponsor: User) -> int:
    return await session.scalar(select(func.count()).select_from(Pledge).where(Pledge.sponsor_id == sponsor.id)) or 0


async def sponsor_pledges(
    session: AsyncSession, sponsor: User, provider_names: Mapping[str, str], *, page: int = 1,
    per_page: int = PLEDGES_PER_PAGE,
) -> list[PledgeView]:
    """One page of the sponsor's pledges, newest first. `provider_names`: each payment provider's
    display name (a msgid) by its identifier."""
    pledges = list(await session.scalars(
        select(Pledge).where(Pledge.sponsor_id == sponsor.id)
        .options(selectinload(Pledge.payments))
        .order_by(Pledge.created_at.desc(), Pledge.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ))
    if not pledges:
        return []
    keys = {p.item_kind_key for p in pledges if p.item_kind_key}
    kinds = {k.key: k for k in await session.scalars(
        select(ItemKind).where(ItemKind.key.in_(keys)))}
    communes = dict((await session.execute(
        select(Commune.code, Commune.name)
        .where(Commune.code.in_({p.commune_code for p in pledges if p.commune_code}))
    )).tuples().all())
    libraries = dict((await session.execute(
        select(Need.id, Library.name).join(Library, Library.id == Need.library_id)
        .where(Need.id.in_({p.need_id for p in pledges if p.need_id}))
    )).tuples().all())
    payment_ids = {str(pay.id): p.id for p in pledges for pay in p.payments}
    pledge_ids = [str(p.id) for p in pledges]
    audit_rows = await session.scalars(
        select(AuditLog).where(or_(
            and_(AuditLog.entity_type == "pledge", AuditLog.entity_id.in_(pledge_ids)),
            and_(AuditLog.entity_type == "payment", AuditLog.entity_id.in_(list(payment_ids))),
        )).order_by(AuditLog.at, AuditLog.id)
    )
    views = {}
    confirmation = can_file_confirmation(sponsor)
    arrived = await goods_arrived(session, [p.id for p in pledges if p.kind != PledgeKind.MONEY])
    for p in pledges:
        kind = kinds.get(p.item_kind_key or "")
        numbered = receipt_number(p)
        if p.kind != PledgeKind.MONEY and arrived.get(p.id, (0, 0))[0] <= 0:
            numbered = None  # none of its items arrived: nothing to give a receipt for
        views[p.id] = PledgeView(
            pledge=p, item_name_vi=kind.name_vi if kind else None,
            item_name_en=kind.name_en if kind else None,
            commune_name=communes.get(p.commune_code) if p.commune_code else None,
            library_name=libraries.get(p.need_id) if p.need_id else None,
            receipt_number=numbered[0] if numbered else None,
            confirmation=confirmation and numbered is not None,
        )
        if numbered is not None:
            views[p.id].received_quantity, views[p.id].received_value = (
                (p.quantity, p.amount) if p.kind == PledgeKind.MONEY else arrived[p.id])
    for pledge_id, lines in (await deliveries_of(session, [p.id for p in pledges])).items():
        views[pledge_id].deliveries = lines
    for row in audit_rows:
        if row.entity_type == "pledge":
            pledge_id = int(row.entity_id)
        else:
            pledge_id = payment_ids[row.entity_id]
        event = _event(row, provider_names)
        if event is not None:
            views[pledge_id].timeline.append(event)
    return list(views.values())
