"""Deliveries: allocations travel to their commune in shipments, and the librarian confirms what
arrived. Every change is a service here: checked, written, audited; services never commit.

- Every delivery goes through an ``Allocation`` row: a committed matching run writes them for the
  pool; a gift to one need gets one (policy ``direct``) once it is paid or received.
- An officer groups a commune's planned allocations into a ``Shipment`` (from the province hub, or
  brought directly by the sponsor): planned → dispatched → delivered. Its allocations follow.
- A pledge becomes *delivered* when it is fully allocated and all its allocations are delivered,
  and *acknowledged* when the librarian has confirmed the receipt of every one of them.
- The librarian confirms each line: the quantity received (0 .. sent, partial allowed), a note and
  an optional photo (a real image, under the size limit). Confirming a dispatched shipment marks
  it delivered. What arrived adds to the need's ``delivered_quantity`` (the need is fulfilled
  once all its items arrived) and to the pledge's ``accepted_value`` (received items × the
  pledge's unit value; for money, × the item price the allocation bought). Less than was sent is a
  shortfall, listed for the officers with the librarian's note until one of them resolves it
  (:mod:`donations.shortfalls`); the pledge is acknowledged only then.
- Photos: :mod:`donations.receipt_photos`; what the pages show: :mod:`donations.delivery_queries`.
- Goods a sponsor brings straight to the commune (in kind, to one need) are confirmed by the
  librarian in one step: received → allocated → a shipment "directly from the sponsor",
  delivered → the receipt. The ledger's in-kind entries then count only what arrived.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app import audit
from app.auth.models import Role, User
from app.db import utcnow
from app.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from app.geography.models import Commune, Library
from app.i18n import _
from app.outbox import notify
from app.settings import Settings
from donations import services
from donations.models import (
    SHIPMENT_STATUS_LABELS,
    Allocation,
    AllocationStatus,
    LedgerEntry,
    LedgerKind,
    Pledge,
    PledgeKind,
    PledgeStatus,
    Shipment,
    ShipmentReceipt,
    ShipmentSource,
    ShipmentStatus,
)
from donations.receipt_photos import Photo, check_photo, store_photo
from needs import services as need_services
from needs.models import Need, NeedStatus

S = ShipmentStatus
ALLOWED: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    S.PLANNED: frozenset({S.DISPATCHED, S.CANCELED}),
    S.DISPATCHED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELED: frozenset(),
}
FOLLOW = {S.DISPATCHED: AllocationStatus.DISPATCHED, S.DELIVERED: AllocationStatus.DELIVERED}
NOTE_MAX = 2000


# --- reading --------------------------------------------------------------------------------------


async def get_shipment(session: AsyncSession, shipment_id: int, *, for_update: bool = False) -> Shipment:
    query = select(Shipment).where(Shipment.id == shipment_id).options(selectinload(Shipment.allocations))
    if for_update:
        query = query.with_for_update()
    shipment = await session.scalar(query)
    if shipment is None:
        raise NotFound(_("No such shipment."))
    return shipment


# --- shipments ------------------------------------------------------------------------------------


def _move(session: AsyncSession, actor_id: int | None, shipment: Shipment, to: ShipmentStatus, action: str) -> None:
    if to not in ALLOWED[shipment.status]:
        raise IllegalTransition(_(
            "This shipment is %(status)s: it cannot become %(target)s.",
            status=_(SHIPMENT_STATUS_LABELS[shipment.status]).lower(),
            target=_(SHIPMENT_STATUS_LABELS[to]).lower(),
        ))
    before = shipment.status
    shipment.status = to
    for allocation in shipment.allocations:
        if to in FOLLOW:
            allocation.status = FOLLOW[to]
    audit.record(session, actor_id=actor_id, action=action, entity_type="shipment", entity_id=shipment.id,
                 summary=shipment.carrier, before={"status": before.value}, after={"status": to.value})


async def create_shipment(session: AsyncSession, actor: User, commune_code: int, allocation_ids: list[int],
                          source: ShipmentSource, carrier: str = "", note: str = "") -> Shipment:
    """Group planned allocations of one commune into a new planned shipment."""
    services.require_officer(actor)
    return await new_shipment(session, actor.id, commune_code, allocation_ids, source, carrier, note)


async def new_shipment(session: AsyncSession, actor_id: int, commune_code: int, allocation_ids: list[int],
                       source: ShipmentSource, carrier: str, note: str) -> Shipment:
    """A new planned shipment of the given allocations (the caller checked who may make it: an
    officer, a sponsor sending their own gift, a re-send of a shortfall)."""
    wanted = sorted(set(allocation_ids))
    if not wanted:
        raise ValidationFailed({"allocations": _("Choose at least one allocation.")})
    allocations = list(await session.scalars(
        select(Allocation).where(Allocation.id.in_(wanted)).order_by(Allocation.id).with_for_update()))
    if len(allocations) != len(wanted):
        raise NotFound(_("No such allocation."))
    for allocation in allocations:
        if allocation.commune_code != commune_code:
            raise ValidationFailed({"allocations": _("A shipment goes to one commune only.")})
        if allocation.status != AllocationStatus.PLANNED or allocation.shipment_id is not None:
            raise IllegalTransition(_("This allocation is already in a shipment."))
    shipment = Shipment(commune_code=commune_code, source=source, status=S.PLANNED, carrier=carrier.strip()[:200],
                        note=note.strip()[:NOTE_MAX], created_by_id=actor_id, allocations=allocations)
    session.add(shipment)
    await session.flush()
    audit.record(session, actor_id=actor_id, action="shipment.create", entity_type="shipment", entity_id=shipment.id,
                 after={"status": S.PLANNED.value, "commune_code": commune_code, "source": source.value,
                        "allocations": wanted})
    return shipment


async def dispatch(session: AsyncSession, actor: User, shipment: Shipment, carrier: str | None = None) -> Shipment:
    """The goods left: planned → dispatched, with the carrier and tracking note."""
    services.require_officer(actor)
    return await _dispatch(session, actor.id, shipment, carrier)


async def _dispatch(session: AsyncSession, actor_id: int, shipment: Shipment, carrier: str | None) -> Shipment:
    if not shipment.allocations:
        raise IllegalTransition(_("This shipment is empty."))
    if carrier:
        shipment.carrier = carrier.strip()[:200]
    _move(session, actor_id, shipment, S.DISPATCHED, "shipment.dispatch")
    shipment.dispatched_at = utcnow()
    for pledge_id in sorted({a.pledge_id for a in shipment.allocations}):  # the sponsor's timeline
        audit.record(session, actor_id=actor_id, action="pledge.dispatch", entity_type="pledge",
                     entity_id=pledge_id, summary=shipment.code, after={"shipment": shipment.id})
    return shipment


async def cancel_shipment(session: AsyncSession, actor: User, shipment: Shipment) -> Shipment:
    """A planned shipment was a mistake: it is canceled and its allocations wait for another."""
    services.require_officer(actor)
    _move(session, actor.id, shipment, S.CANCELED, "shipment.cancel")
    for allocation in shipment.allocations:
        allocation.shipment_id = None
    await session.flush()
    return shipment


async def mark_delivered(session: AsyncSession, actor: User, shipment: Shipment) -> Shipment:
    """The goods arrived at the commune (an officer says so; a librarian's receipt does it too)."""
    services.require_officer(actor)
    return await _deliver(session, actor.id, shipment)


async def _deliver(session: AsyncSession, actor_id: int, shipment: Shipment) -> Shipment:
    _move(session, actor_id, shipment, S.DELIVERED, "shipment.deliver")
    shipment.delivered_at = utcnow()
    await session.flush()
    for pledge_id in sorted({a.pledge_id for a in shipment.allocations}):
        await advance_pledge(session, actor_id, pledge_id)
    return shipment


async def advance_pledge(session: AsyncSession, actor_id: int | None, pledge_id: int) -> None:
    """Allocated → delivered once all its allocations arrived; delivered → acknowledged once the
    librarians confirmed every one of them and no shortfall of its waits for a decision (a re-send,
    a release: :mod:`donations.shortfalls`). A pledge not fully allocated yet (pool money left) waits."""
    pledge = await session.get(Pledge, pledge_id, with_for_update=True)
    assert pledge is not None
    rows = (await session.execute(
        select(Allocation.status, ShipmentReceipt)
        .outerjoin(ShipmentReceipt, ShipmentReceipt.allocation_id == Allocation.id)
        .where(Allocation.pledge_id == pledge_id, Allocation.status != AllocationStatus.CANCELED))).all()
    if not rows:
        return
    if pledge.status == PledgeStatus.ALLOCATED and all(s == AllocationStatus.DELIVERED for s, _r in rows):
        services.move_pledge(session, actor_id, pledge, PledgeStatus.DELIVERED, "pledge.deliver")
        notify(session, pledge.sponsor_id, "pledge.delivered",
                        _("Your gift %(ref)s was delivered", ref=pledge.reference),
                        _("The library has your gift. Thank you for supporting reading in the mountains."))
    if pledge.status == PledgeStatus.DELIVERED and all(r is not None and not r.unresolved for _s, r in rows):
        total = await session.scalar(select(func.sum(ShipmentReceipt.accepted_value))
                                     .where(ShipmentReceipt.pledge_id == pledge_id))
        services.move_pledge(session, actor_id, pledge, PledgeStatus.ACKNOWLEDGED, "pledge.acknowledge",
                             summary=str(int(total or 0)))
        pledge.acknowledged_at = utcnow()


# --- receipts -------------------------------------------------------------------------------------


async def library_of(session: AsyncSession, actor: User) -> Library:
    library = await session.get(Library, actor.library_id) if actor.library_id else None
    if actor.role != Role.LIBRARIAN or library is None:
        raise Forbidden(_("Only the receiving commune's librarian can confirm a delivery."))
    return library


def _checked(quantity: int | None, sent: int, note: str | None, photo: bytes | None,
             settings: Settings) -> tuple[int, str, Photo | None]:
    """The receipt's input, or every problem with it at once (nothing written yet)."""
    errors: dict[str, str] = {}
    note = (note or "").strip()
    if quantity is None or not 0 <= quantity <= sent:
        errors["quantity"] = _("Enter how many arrived: from 0 to %(n)s.", n=sent)
    elif quantity < sent and not note:
        errors["note"] = _("Fewer items than were sent: say what is missing or damaged.")
    if len(note) > NOTE_MAX:
        errors["note"] = _("Must be at most %(n)s characters.", n=NOTE_MAX)
    checked = None
    if photo:
        try:
            checked = check_photo(photo, settings.receipt_photo_max_bytes)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return quantity, note, checked  # type: ignore[return-value]


async def confirm_receipt(session: AsyncSession, actor: User, settings: Settings, shipment_id: int,
                          allocation_id: int, quantity: int | None, note: str | None = None,
                          photo: bytes | None = None) -> ShipmentReceipt:
    """The commune's librarian confirms one line of a shipment to their commune."""
    library = await library_of(session, actor)
    shipment = await get_shipment(session, shipment_id, for_update=True)
    if shipment.commune_code != library.commune_code:
        raise Forbidden(_("This shipment goes to another commune: only its librarians can confirm it."))
    allocation = next((a for a in shipment.allocations if a.id == allocation_id), None)
    if allocation is None:
        raise NotFound(_("No such line in this shipment."))
    if shipment.status == S.PLANNED:
        raise IllegalTransition(_("This shipment has not been dispatched yet."))
    if await session.scalar(select(ShipmentReceipt.id).where(ShipmentReceipt.allocation_id == allocation.id)):
        raise IllegalTransition(_("The receipt of this line is already confirmed."))
    received, text, checked = _checked(quantity, allocation.quantity, note, photo, settings)
    if shipment.status == S.DISPATCHED:
        await _deliver(session, actor.id, shipment)
    return await _record(session, actor, settings, shipment, allocation, received, text, checked)


async def _record(session: AsyncSession, actor: User, settings: Settings, shipment: Shipment,
                  allocation: Allocation, received: int, note: str, photo: Photo | None) -> ShipmentReceipt:
    pledge = await session.get(Pledge, allocation.pledge_id, with_for_update=True)
    assert pledge is not None
    unit = pledge.unit_value if pledge.kind != PledgeKind.MONEY else allocation.value // allocation.quantity
    receipt = ShipmentReceipt(
        shipment_id=shipment.id, allocation_id=allocation.id, pledge_id=pledge.id, need_id=allocation.need_id,
        commune_code=allocation.commune_code, quantity_sent=allocation.quantity, quantity_received=received,
        accepted_value=received * unit, note=note, received_by_id=actor.id,
        photo_path=store_photo(settings.upload_dir, photo) if photo else None,
    )
    session.add(receipt)
    await session.flush()
    audit.record(session, actor_id=actor.id, action="delivery.receipt", entity_type="shipment_receipt",
                 entity_id=receipt.id, summary=note,
                 after={"shipment": shipment.id, "allocation": allocation.id, "sent": allocation.quantity,
                        "received": received, "photo": receipt.photo_path is not None})
    if received < allocation.quantity:
        audit.record(session, actor_id=actor.id, action="delivery.shortfall", entity_type="shipment_receipt",
                     entity_id=receipt.id, summary=note, after={"missing": allocation.quantity - received})
        commune = await session.get(Commune, allocation.commune_code)
        for officer_id in await session.scalars(select(User.id).where(User.role == Role.OFFICER,
                                                                      User.is_active.is_(True))):
            notify(session, officer_id, "delivery.shortfall",
                            _("Shortfall in shipment %(code)s", code=shipment.code),
                            _("%(commune)s received %(received)s of %(sent)s items: %(note)s",
                              commune=commune.name if commune else "", received=received,
                              sent=allocation.quantity, note=note))
    pledge.accepted_value += receipt.accepted_value
    if shipment.source == ShipmentSource.SPONSOR and pledge.kind != PledgeKind.MONEY:
        _in_kind_arrived(session, pledge, allocation, received, unit)
    if received:
        await add_delivered(session, actor, allocation.need_id, received)
    await advance_pledge(session, actor.id, pledge.id)
    return receipt


async def add_delivered(session: AsyncSession, actor: User, need_id: int, quantity: int) -> Need:
    """``quantity`` more items of the need are at the library; an open need that has them all is
    fulfilled."""
    await session.execute(update(Need).where(Need.id == need_id)
                          .values(delivered_quantity=Need.delivered_quantity + quantity)
                          .execution_options(synchronize_session=False))
    need = await session.get(Need, need_id, with_for_update=True, populate_existing=True)
    assert need is not None
    if need.status == NeedStatus.OPEN and need.delivered_quantity >= need.quantity:
        await need_services.mark_fulfilled(session, actor, need)
    return need


def _in_kind_arrived(session: AsyncSession, pledge: Pledge, allocation: Allocation, received: int, unit: int) -> None:
    """Goods the sponsor brings never pass the hub: the ledger's in-kind entries count what the
    librarian received. The first arrival was entered in full when the pledge was received
    (``services.receive_in_kind``): what was missing is taken back out; a re-send's items are
    entered as they arrive."""
    if allocation.resends_receipt_id is None:
        quantity = received - allocation.quantity
    else:
        quantity = received
    if quantity:
        session.add(LedgerEntry(kind=LedgerKind.IN_KIND, pledge_id=pledge.id, amount=quantity * unit,
                                quantity=quantity, need_id=allocation.need_id, commune_code=allocation.commune_code))


async def receive_from_sponsor(session: AsyncSession, actor: User, settings: Settings, pledge: Pledge,
                               quantity: int | None, note: str | None = None,
                               photo: bytes | None = None) -> ShipmentReceipt:
    """Goods a sponsor brought to the commune for one of its needs: the librarian confirms what
    arrived, and the pledge goes received → allocated → delivered → acknowledged at once (through
    a shipment "directly from the sponsor"). ``quantity`` is checked as a shipment receipt's is: None
    (an empty field, not a whole number) is refused, never read as "all of them"."""
    need = await session.get(Need, pledge.need_id) if pledge.need_id else None
    if actor.role != Role.LIBRARIAN or need is None or need.library_id != actor.library_id:
        raise Forbidden(_("Only the province or the receiving library can confirm receipt."))
    if pledge.kind == PledgeKind.MONEY or pledge.status != PledgeStatus.AWAITING_DELIVERY:
        raise IllegalTransition(_("This pledge is not waiting for its items."))
    received, text, checked = _checked(quantity, pledge.quantity, note, photo, settings)
    await services.receive_in_kind(session, actor, pledge)
    await session.flush()
    allocation = await session.scalar(select(Allocation).where(
        Allocation.pledge_id == pledge.id, Allocation.status == AllocationStatus.PLANNED,
        Allocation.shipment_id.is_(None)))
    assert allocation is not None
    shipment = await new_shipment(session, actor.id, allocation.commune_code, [allocation.id], ShipmentSource.SPONSOR,
                                  "", "")
    await _dispatch(session, actor.id, shipment, None)
    await _deliver(session, actor.id, shipment)
    return await _record(session, actor, settings, shipment, allocation, received, text, checked)
