"""Every change to a pledge or a payment: checked, written, audited, entered in the ledger.
Services never commit; the request (or the job, or the webhook) owns the transaction."""

from __future__ import annotations

import datetime as dt
import secrets
import string

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from app import audit
from app.auth.models import Role, User
from app.db import utcnow
from app.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from app.geography.models import Commune
from app.i18n import _, format_vnd
from app.outbox import notify
from app.payments.registry import PaymentState, check_transition
from app.settings import Settings
from donations.models import (
    PLEDGE_STATUS_LABELS,
    Allocation,
    AllocationStatus,
    LedgerEntry,
    LedgerKind,
    Payment,
    Pledge,
    PledgeKind,
    PledgeStatus,
    ReceiptCounter,
    Target,
)
from donations.schemas import PledgeIn
from donations.statements import REFERENCE_CODE_PREFIX
from needs.models import ItemCategory, ItemKind, Need, NeedStatus

P = PledgeStatus
ALLOWED: dict[PledgeStatus, frozenset[PledgeStatus]] = {
    P.PLEDGED: frozenset({P.AWAITING_PAYMENT, P.AWAITING_DELIVERY}),
    P.AWAITING_PAYMENT: frozenset({P.PAID, P.CANCELED, P.EXPIRED}),
    P.AWAITING_DELIVERY: frozenset({P.RECEIVED, P.CANCELED, P.EXPIRED}),
    P.PAID: frozenset({P.ALLOCATED, P.REFUNDED}),
    P.RECEIVED: frozenset({P.ALLOCATED}),
    P.ALLOCATED: frozenset({P.DELIVERED, P.REFUNDED}),
    P.DELIVERED: frozenset({P.ACKNOWLEDGED, P.ALLOCATED}),  # allocated again: a shortfall re-sent
    P.ACKNOWLEDGED: frozenset(),
    P.CANCELED: frozenset(),
    P.EXPIRED: frozenset(),
    P.REFUNDED: frozenset(),
}
# Pledges whose items still count against their need.
HOLDING = frozenset({P.AWAITING_PAYMENT, P.AWAITING_DELIVERY, P.PAID, P.RECEIVED, P.ALLOCATED,
                     P.DELIVERED, P.ACKNOWLEDGED})
CODE_ALPHABET = string.ascii_uppercase + string.digits
# The smallest money pledge, in VND. Card payments have a floor anyway (Stripe's minimum charge is
# US$0.50 or its equivalent), and a few-đồng gift only adds noise to the ledger and the statements.
MIN_MONEY_PLEDGE = 10_000
# A declared value per item (books, equipment) stays near the catalogue's value of that kind of
# item (ItemKind.default_unit_value, an average price new): a used book or a second-hand shelf in
# good condition is still worth about a third of it (second-hand books sell at 30-50 % of the cover
# price), and a hardcover edition or a better model of a shelf or a computer rarely costs more than
# three times the average. Outside that range a value would inflate (or belittle) the ledger, the
# receipt and the honor roll. The floor is rounded down to the thousand đồng.
UNIT_VALUE_FLOOR_PERCENT = 30
UNIT_VALUE_CEILING_TIMES = 3


def new_reference() -> str:
    return REFERENCE_CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def move_pledge(session: AsyncSession, actor_id: int | None, pledge: Pledge, to: PledgeStatus, action: str,
                summary: str = "") -> None:
    if to not in ALLOWED[pledge.status]:
        raise IllegalTransition(_(
            "This pledge is %(status)s: it cannot become %(target)s.",
            status=_(PLEDGE_STATUS_LABELS[pledge.status]).lower(),
            target=_(PLEDGE_STATUS_LABELS[to]).lower(),
        ))
    before = pledge.status
    pledge.status = to
    audit.record(session, actor_id=actor_id, action=action, entity_type="pledge", entity_id=pledge.id,
                 summary=summary, before={"status": before.value}, after={"status": to.value})


def unit_value_bounds(catalogue_value: int) -> tuple[int, int]:
    """The lowest and highest value per item accepted for a kind of item of this catalogue value."""
    low = max(1_000, catalogue_value * UNIT_VALUE_FLOOR_PERCENT // 100 // 1_000 * 1_000)
    return low, max(low, catalogue_value * UNIT_VALUE_CEILING_TIMES)


def check_unit_value(value: int | None, catalogue_value: int, field: str = "unit_value") -> int:
    """The value per item if it is within the bounds (see above); otherwise a message beside the field."""
    low, high = unit_value_bounds(catalogue_value)
    if value is None or not low <= value <= high:
        raise ValidationFailed({field: _("The value per item must be from %(min)s to %(max)s.",
                                         min=format_vnd(low), max=format_vnd(high))})
    return value


async def get_pledge(session: AsyncSession, reference: str, *, for_update: bool = False) -> Pledge:
    query = select(Pledge).where(Pledge.reference == reference).options(selectinload(Pledge.payments))
    if for_update:
        query = query.with_for_update()
    pledge = await session.scalar(query)
    if pledge is None:
        raise NotFound(_("No such pledge."))
    return pledge


# --- the need's remaining items: taken and given back atomically ---------------------------------


async def _take_from_need(session: AsyncSession, need_id: int, quantity: int) -> None:
    """Count `quantity` items as pledged, only if the need is open and lacks that many. One
    conditional UPDATE: concurrent pledges can never take more than what remains."""
    result = await session.execute(
        update(Need)
        .where(Need.id == need_id, Need.status == NeedStatus.OPEN,
               Need.pledged_quantity + quantity <= Need.quantity)
        .values(pledged_quantity=Need.pledged_quantity + quantity)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        return
    need = await session.get(Need, need_id, populate_existing=True)
    if need is None:
        raise ValidationFailed({"need_id": _("No such need.")})
    if need.status != NeedStatus.OPEN:
        raise ValidationFailed({"need_id": _("This need is not open for pledges.")})
    raise ValidationFailed({"quantity": _(
        "This need lacks only %(n)s items.", n=max(0, need.quantity - need.pledged_quantity))})


async def _give_back_to_need(session: AsyncSession, pledge: Pledge, *, allocated: bool) -> None:
    if pledge.need_id is not None:
        await give_back_items(session, pledge.need_id, pledge.quantity, allocated=allocated)


async def give_back_items(session: AsyncSession, need_id: int, quantity: int, *, allocated: bool = False) -> None:
    """``quantity`` items of the need are no longer pledged (nor allocated): others may pledge them."""
    if not quantity:
        return
    values = {"pledged_quantity": Need.pledged_quantity - quantity}
    if allocated:
        values["allocated_quantity"] = Need.allocated_quantity - quantity
    await session.execute(update(Need).where(Need.id == need_id).values(**values)
                          .execution_options(synchronize_session=False))


# --- pledging -------------------------------------------------------------------------------------


async def build_pledge(session: AsyncSession, sponsor: User, data: PledgeIn, settings: Settings) -> Pledge:
    """A checked pledge, not yet in the session: nothing is reserved or written. ``create_pledge``
    records it; the "where would my gift go" preview solves the matching with it."""
    if sponsor.role != Role.SPONSOR:
        raise Forbidden(_("Only sponsors can pledge."))
    pledge = Pledge(
        reference=new_reference(), sponsor_id=sponsor.id, kind=data.kind, target=data.target,
        anonymous=data.anonymous, status=P.PLEDGED, condition=data.condition, titles=data.titles,
        delivery=data.delivery if data.kind != PledgeKind.MONEY else None,
    )
    if data.target == Target.NEED:
        need = await session.get(Need, data.need_id)
        if need is None:
            raise ValidationFailed({"need_id": _("No such need.")})
        kind = await session.get(ItemKind, need.item_kind_key)
        assert kind is not None
        if data.kind != PledgeKind.MONEY and data.kind.value != _kind_of(kind):
            raise ValidationFailed({"kind": _("This need asks for %(item)s.", item=kind.name)})
        pledge.need_id, pledge.commune_code, pledge.province_code = need.id, need.commune_code, need.province_code
        pledge.item_kind_key, pledge.quantity = need.item_kind_key, data.quantity or 0
        pledge.unit_value = need.unit_value
        if data.kind == PledgeKind.MONEY:
            pledge.amount = pledge.quantity * need.unit_value
    else:
        if data.target == Target.COMMUNE:
            commune = await session.get(Commune, data.commune_code)
            if commune is None:
                raise ValidationFailed({"commune_code": _("Choose an existing commune.")})
            pledge.commune_code, pledge.province_code = commune.code, commune.province_code
        else:  # the pool: the province this deployment serves
            pledge.province_code = settings.province_code
            pledge.allowed_communes = sorted(set(data.allowed_communes)) if data.allowed_communes else None
            pledge.allowed_items = sorted(set(data.allowed_items)) if data.allowed_items else None
            if pledge.allowed_communes and await session.scalar(
                select(func.count()).select_from(Commune).where(Commune.code.in_(pledge.allowed_communes))
            ) != len(pledge.allowed_communes):
                raise ValidationFailed({"allowed_communes": _("Choose existing communes.")})
        if data.kind == PledgeKind.MONEY:
            pledge.amount = data.amount or 0
        else:
            kind = await session.get(ItemKind, data.item_kind or "")
            if kind is None or _kind_of(kind) != data.kind.value:
                raise ValidationFailed({"item_kind": _("Choose a kind of item from the catalogue.")})
            pledge.item_kind_key, pledge.quantity = kind.key, data.quantity or 0
            pledge.unit_value = kind.default_unit_value
            if data.unit_value is not None:
                pledge.unit_value = check_unit_value(data.unit_value, kind.default_unit_value)
    if data.kind == PledgeKind.MONEY and pledge.amount > settings.max_money_pledge:
        raise ValidationFailed({"amount": _(
            "A single pledge can be at most %(max)s.", max=format_vnd(settings.max_money_pledge))})
    if data.kind == PledgeKind.MONEY and pledge.amount < MIN_MONEY_PLEDGE:
        raise ValidationFailed({"quantity" if pledge.need_id else "amount": _(
            "A money pledge must be at least %(min)s.", min=format_vnd(MIN_MONEY_PLEDGE))})
    return pledge


async def create_pledge(session: AsyncSession, sponsor: User, data: PledgeIn, settings: Settings) -> Pledge:
    pledge = await build_pledge(session, sponsor, data, settings)
    if pledge.need_id is not None:
        await _take_from_need(session, pledge.need_id, pledge.quantity)
    pledge.expires_at = utcnow() + dt.timedelta(days=settings.pledge_expiry_days)
    session.add(pledge)
    await session.flush()
    audit.record(session, actor_id=sponsor.id, action="pledge.create", entity_type="pledge",
                 entity_id=pledge.id, after={"kind": pledge.kind.value, "target": pledge.target.value,
                                             "value": pledge.value, "need_id": pledge.need_id})
    waiting = P.AWAITING_PAYMENT if pledge.kind == PledgeKind.MONEY else P.AWAITING_DELIVERY
    move_pledge(session, sponsor.id, pledge, waiting, "pledge.await")
    notify(session, sponsor.id, "pledge.received", _("We received your pledge %(ref)s", ref=pledge.reference),
           _("Thank you. Your pledge of %(value)s is recorded.", value=format_vnd(pledge.value)))
    return pledge


def _kind_of(kind: ItemKind) -> str:
    return PledgeKind.BOOKS.value if kind.category == ItemCategory.BOOK else PledgeKind.EQUIPMENT.value


async def cancel(session: AsyncSession, actor: User, pledge: Pledge) -> Pledge:
    if actor.id != pledge.sponsor_id:
        raise Forbidden(_("You can only cancel your own pledges."))
    move_pledge(session, actor.id, pledge, P.CANCELED, "pledge.cancel")
    for payment in pledge.payments:
        if payment.state in (PaymentState.CREATED, PaymentState.PENDING):
            set_payment_state(session, actor.id, payment, PaymentState.CANCELED)
    await write_payment(session)  # the money arrived meanwhile (a statement, a card): not canceled
    await _give_back_to_need(session, pledge, allocated=False)
    return pledge


async def expire_unpaid(session: AsyncSession, now: dt.datetime) -> int:
    """Expire pledges still waiting for payment or delivery after their time (a daily job)."""
    stale = await session.scalars(
        select(Pledge).where(Pledge.status.in_([P.AWAITING_PAYMENT, P.AWAITING_DELIVERY]),
                             Pledge.expires_at < now)
        .options(selectinload(Pledge.payments)).with_for_update()
    )
    count = 0
    for pledge in stale:
        move_pledge(session, None, pledge, P.EXPIRED, "pledge.expire")
        for payment in pledge.payments:
            if payment.state in (PaymentState.CREATED, PaymentState.PENDING):
                set_payment_state(session, None, payment, PaymentState.CANCELED)
        await write_payment(session)
        await _give_back_to_need(session, pledge, allocated=False)
        count += 1
    return count


# --- payments -------------------------------------------------------------------------------------


class PaymentChanged(IllegalTransition):
    """Another request settled the payment after this one read it: nothing was written."""


async def write_payment(session: AsyncSession) -> None:
    """Write a payment's new state now. Its UPDATE is conditional on the state read (see
    ``Payment.__mapper_args__``): a payment settled meanwhile by another request is refused here,
    before anything else (a receipt number, a ledger entry) is spent on it."""
    try:
        await session.flush()
    except StaleDataError as exc:
        raise PaymentChanged(_("This payment was settled by another request at the same moment: "
                               "nothing was changed. Reload the page to see where it stands.")) from exc


def set_payment_state(session: AsyncSession, actor_id: int | None, payment: Payment, to: PaymentState,
                      summary: str = "") -> None:
    check_transition(payment.state, to)
    before = payment.state
    payment.state = to
    audit.record(session, actor_id=actor_id, action=f"payment.{to.value}", entity_type="payment",
                 entity_id=payment.id, summary=summary, before={"state": before.value},
                 after={"state": to.value})


async def new_payment(session: AsyncSession, pledge: Pledge, provider: str) -> Payment:
    if pledge.kind != PledgeKind.MONEY or pledge.status != P.AWAITING_PAYMENT:
        raise IllegalTransition(_("This pledge is not waiting for a payment."))
    payment = Payment(pledge_id=pledge.id, provider=provider, amount=pledge.amount, state=PaymentState.CREATED)
    session.add(payment)
    await session.flush()
    payment.pledge = pledge
    audit.record(session, actor_id=pledge.sponsor_id, action="payment.create", entity_type="payment",
                 entity_id=payment.id, after={"provider": provider, "amount": payment.amount})
    return payment


async def next_receipt_number(session: AsyncSession, year: int) -> str:
    counter = await session.get(ReceiptCounter, year, with_for_update=True)
    if counter is None:
        counter = ReceiptCounter(year=year, last=0)
        session.add(counter)
    counter.last += 1
    await session.flush()
    return f"GLG-{year}-{counter.last:06d}"


async def confirm_payment(session: AsyncSession, payment: Payment, *, actor_id: int | None = None,
                          receipt_number: str | None = None) -> Payment:
    """Money arrived: the payment is confirmed, the pledge paid (and, given to a need, allocated
    to it), the ledger written, the sponsor told. Callers lock the payment row first."""
    pledge = await session.scalar(select(Pledge).where(Pledge.id == payment.pledge_id)
                                  .options(selectinload(Pledge.payments)).with_for_update())
    assert pledge is not None
    set_payment_state(session, actor_id, payment, PaymentState.CONFIRMED)
    await write_payment(session)
    for other in pledge.payments:  # one way of paying succeeded: the other attempts are over
        if other.id != payment.id and other.state in (PaymentState.CREATED, PaymentState.PENDING):
            set_payment_state(session, actor_id, other, PaymentState.CANCELED, "paid another way")
    now = utcnow()
    payment.confirmed_at = now
    payment.receipt_number = receipt_number or await next_receipt_number(session, now.year)
    move_pledge(session, actor_id, pledge, P.PAID, "pledge.paid", summary=payment.receipt_number)
    pledge.confirmed_at = now
    session.add(LedgerEntry(kind=LedgerKind.PAYMENT, pledge_id=pledge.id, payment_id=payment.id,
                            amount=payment.amount, commune_code=pledge.commune_code, need_id=pledge.need_id))
    await _allocate_direct(session, actor_id, pledge)
    notify(session, pledge.sponsor_id, "payment.confirmed",
           _("Payment received for pledge %(ref)s", ref=pledge.reference),
           _("We received %(value)s. Receipt %(number)s.", value=format_vnd(payment.amount),
             number=payment.receipt_number))
    return payment


async def receive_in_kind(session: AsyncSession, actor: User, pledge: Pledge) -> Pledge:
    """Items arrived at the hub (an officer) or at the commune (its librarian)."""
    if actor.role != Role.OFFICER and not (
        actor.role == Role.LIBRARIAN and pledge.need_id is not None
        and (await session.get(Need, pledge.need_id)).library_id == actor.library_id  # type: ignore[union-attr]
    ):
        raise Forbidden(_("Only the province or the receiving library can confirm receipt."))
    move_pledge(session, actor.id, pledge, P.RECEIVED, "pledge.receive")
    pledge.confirmed_at = utcnow()
    session.add(LedgerEntry(kind=LedgerKind.IN_KIND, pledge_id=pledge.id, amount=pledge.value,
                            quantity=pledge.quantity, commune_code=pledge.commune_code, need_id=pledge.need_id))
    await _allocate_direct(session, actor.id, pledge)
    notify(session, pledge.sponsor_id, "pledge.received_goods",
           _("Your gift %(ref)s has arrived", ref=pledge.reference),
           _("The items you pledged were received. Thank you."))
    return pledge


async def _allocate_direct(session: AsyncSession, actor_id: int | None, pledge: Pledge) -> None:
    """A gift to one need is allocated to it as soon as it is paid or received."""
    if pledge.need_id is None:
        return
    await session.execute(update(Need).where(Need.id == pledge.need_id)
                          .values(allocated_quantity=Need.allocated_quantity + pledge.quantity)
                          .execution_options(synchronize_session=False))
    if pledge.quantity > 0:  # every delivery goes through an Allocation row (donations.deliveries)
        assert pledge.commune_code is not None
        session.add(Allocation(run_id="direct", policy="direct", pledge_id=pledge.id, need_id=pledge.need_id,
                               commune_code=pledge.commune_code, quantity=pledge.quantity,
                               amount=pledge.amount if pledge.kind == PledgeKind.MONEY else 0,
                               value=pledge.value, created_by_id=actor_id))
    session.add(LedgerEntry(kind=LedgerKind.ALLOCATION, pledge_id=pledge.id, amount=pledge.value,
                            quantity=pledge.quantity, need_id=pledge.need_id, commune_code=pledge.commune_code))
    move_pledge(session, actor_id, pledge, P.ALLOCATED, "pledge.allocate", summary=f"need {pledge.need_id}")


async def fail_payment(session: AsyncSession, payment: Payment, summary: str = "") -> None:
    set_payment_state(session, None, payment, PaymentState.FAILED, summary)
    await write_payment(session)


async def record_refund(session: AsyncSession, actor_id: int | None, payment: Payment, reason: str) -> None:
    """The money went back to the sponsor (the provider has done it): ledger, pledge, need."""
    pledge = await session.get(Pledge, payment.pledge_id, with_for_update=True)
    assert pledge is not None
    set_payment_state(session, actor_id, payment, PaymentState.REFUNDED, reason)
    payment.refunded_amount = payment.amount
    await write_payment(session)
    allocated = pledge.status == P.ALLOCATED
    move_pledge(session, actor_id, pledge, P.REFUNDED, "pledge.refund", summary=reason)
    if allocated and pledge.need_id is not None:
        session.add(LedgerEntry(kind=LedgerKind.ALLOCATION, pledge_id=pledge.id, amount=-pledge.value,
                                quantity=-pledge.quantity, need_id=pledge.need_id,
                                commune_code=pledge.commune_code))
    session.add(LedgerEntry(kind=LedgerKind.REFUND, pledge_id=pledge.id, payment_id=payment.id,
                            amount=-payment.amount, commune_code=pledge.commune_code, need_id=pledge.need_id))
    await _give_back_to_need(session, pledge, allocated=allocated)
    await _cancel_planned_allocations(session, actor_id, pledge)
    notify(session, pledge.sponsor_id, "payment.refunded", _("Refund for pledge %(ref)s", ref=pledge.reference),
           _("%(value)s was refunded.", value=format_vnd(payment.amount)))


async def _cancel_planned_allocations(session: AsyncSession, actor_id: int | None, pledge: Pledge) -> None:
    """The money went back: what it was to buy is not shipped (planned lines leave their shipment).
    A matching run's lines also give their items back to the needs (a direct gift's need is given
    back by the caller) and are reversed in the ledger."""
    for allocation in await session.scalars(select(Allocation).where(
            Allocation.pledge_id == pledge.id, Allocation.status == AllocationStatus.PLANNED).with_for_update()):
        allocation.status, allocation.shipment_id = AllocationStatus.CANCELED, None
        if allocation.policy != "direct":
            await session.execute(
                update(Need).where(Need.id == allocation.need_id)
                .values(pledged_quantity=Need.pledged_quantity - allocation.quantity,
                        allocated_quantity=Need.allocated_quantity - allocation.quantity)
                .execution_options(synchronize_session=False))
            session.add(LedgerEntry(kind=LedgerKind.ALLOCATION, pledge_id=pledge.id, amount=-allocation.value,
                                    quantity=-allocation.quantity, need_id=allocation.need_id,
                                    commune_code=allocation.commune_code))
        audit.record(session, actor_id=actor_id, action="allocation.cancel", entity_type="allocation",
                     entity_id=allocation.id, summary="refund", before={"status": AllocationStatus.PLANNED.value},
                     after={"status": AllocationStatus.CANCELED.value})


async def goods_on_their_way(session: AsyncSession, pledge: Pledge) -> bool:
    """Whether some of what the pledge pays for has left (dispatched or delivered): too late to refund."""
    return await session.scalar(select(func.count()).select_from(Allocation).where(
        Allocation.pledge_id == pledge.id,
        Allocation.status.in_([AllocationStatus.DISPATCHED, AllocationStatus.DELIVERED]))) != 0


def confirmed_payment(pledge: Pledge) -> Payment | None:
    return next((p for p in pledge.payments if p.state == PaymentState.CONFIRMED), None)


def open_payment(pledge: Pledge, provider: str | None = None) -> Payment | None:
    """The pledge's payment still waiting (created or pending), of this provider if one is named."""
    return next((p for p in pledge.payments if p.state in (PaymentState.CREATED, PaymentState.PENDING)
                 and provider in (None, p.provider)), None)


def require_officer(user: User) -> None:
    if user.role != Role.OFFICER:
        raise Forbidden(_("Only province officers can do this."))
