"""Shortfalls: a receipt with fewer items than were sent waits for an officer's decision about the
missing items. Each decision is one service here (checked, written, audited; services never
commit), with a note, for some or all of the items still undecided:

- **Re-send** (:func:`resend`): the missing items travel again. A new allocation of that many items
  from the same pledge to the same need (``resends_receipt_id`` links it to the shortfall) goes in a
  new planned shipment to the same commune, from the same source as the first one (the hub; or the
  sponsor, for goods the sponsor brings), and then through dispatch → delivered → receipt like any
  other. It draws nothing more from the pledge (``amount`` 0) and takes nothing more from the need:
  the missing items still count there as pledged and allocated. A delivered pledge is allocated
  again until the re-sent items arrive.
- **Release** (:func:`release`): the items are lost and will not come. They go back to the need
  (``pledged_quantity`` and ``allocated_quantity`` decrease, so the need can take new pledges; the
  board's stored coverage follows), the ledger gets a reversing ALLOCATION entry for their value,
  and the sponsor is told what arrived and what did not.
- **Replaced outside the platform** (:func:`mark_handled`, the queue's "mark as handled"): the
  library got the missing items some other way (the carrier's or the sponsor's replacement, the
  province's own stock). They count as delivered to the need (its progress, and its fulfilment once
  complete); the allocation and the ledger stand; the pledge's accepted value stays what arrived
  through the platform. For goods the sponsor brings, the ledger's in-kind entries count them again.

A shortfall is resolved (``shortfall_handled_at``) once every missing item is decided; its pledge is
then recomputed: acknowledged (at the value that really arrived) once nothing else it has waits.
A pledge acknowledged before this workflow existed, with a shortfall still open, stays acknowledged
when its items are re-sent; its accepted value grows when they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.models import User
from app.db import utcnow
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.geography.models import Commune, Library
from app.i18n import _, format_vnd
from app.outbox import notify
from donations import deliveries, services
from donations.models import (
    Allocation,
    LedgerEntry,
    LedgerKind,
    Pledge,
    PledgeKind,
    PledgeStatus,
    Shipment,
    ShipmentReceipt,
    ShipmentSource,
)
from needs.models import Need

NOTE_MAX = deliveries.NOTE_MAX


@dataclass
class _Case:
    receipt: ShipmentReceipt
    allocation: Allocation
    pledge: Pledge
    shipment: Shipment

    @property
    def unit(self) -> int:
        """VND per item, as the receipt counted it: the pledge's unit value, or the price money bought."""
        if self.pledge.kind != PledgeKind.MONEY:
            return self.pledge.unit_value
        return self.allocation.value // self.allocation.quantity


async def _open(session: AsyncSession, actor: User, receipt_id: int, province_code: int, note: str | None,
                quantity: int | None, *, whole: bool = False) -> tuple[_Case, int, str]:
    """The shortfall, locked, with the checked quantity and note; nothing written yet."""
    services.require_officer(actor)
    receipt = await session.get(ShipmentReceipt, receipt_id, with_for_update=True)
    if receipt is None:
        raise NotFound(_("No such receipt."))
    commune = await session.get(Commune, receipt.commune_code)
    if commune is None or commune.province_code != province_code:
        raise IllegalTransition(_("This shortfall is in another province: its officers resolve it."))
    if receipt.shortfall <= 0:
        raise IllegalTransition(_("Everything sent arrived: there is no shortfall to resolve."))
    if receipt.unresolved <= 0:
        raise IllegalTransition(_("This shortfall is already handled."))
    errors: dict[str, str] = {}
    text = (note or "").strip()
    if not text:
        errors["note"] = _("Say how the shortfall was handled.")
    elif len(text) > NOTE_MAX:
        errors["note"] = _("Must be at most %(n)s characters.", n=NOTE_MAX)
    wanted = receipt.unresolved if quantity is None or whole else quantity
    if wanted < 1:
        errors["quantity"] = _("Enter how many items: from 1 to %(n)s.", n=receipt.unresolved)
    if errors:
        raise ValidationFailed(errors)
    if wanted > receipt.unresolved:
        raise IllegalTransition(_("Only %(n)s missing items are still to be resolved.", n=receipt.unresolved))
    allocation = await session.get(Allocation, receipt.allocation_id, with_for_update=True)
    pledge = await session.get(Pledge, receipt.pledge_id, with_for_update=True)
    shipment = await session.get(Shipment, receipt.shipment_id)
    assert allocation is not None and pledge is not None and shipment is not None
    return _Case(receipt, allocation, pledge, shipment), wanted, text


def _settle(session: AsyncSession, actor: User, case: _Case, field: str, quantity: int, note: str,
            action: str, **after: object) -> None:
    """Count ``quantity`` missing items as decided (``field``), keep the note, audit; the shortfall
    is resolved once nothing is left to decide."""
    receipt = case.receipt
    before = {"resent": receipt.shortfall_resent, "released": receipt.shortfall_released,
              "replaced": receipt.shortfall_replaced}
    setattr(receipt, field, getattr(receipt, field) + quantity)
    receipt.shortfall_handling_note = "\n".join(filter(None, [receipt.shortfall_handling_note, note]))[:NOTE_MAX * 4]
    if receipt.unresolved == 0:
        receipt.shortfall_handled_at, receipt.shortfall_handled_by_id = utcnow(), actor.id
    audit.record(session, actor_id=actor.id, action=action, entity_type="shipment_receipt", entity_id=receipt.id,
                 summary=note, before=before,
                 after={"resent": receipt.shortfall_resent, "released": receipt.shortfall_released,
                        "replaced": receipt.shortfall_replaced, "resolved": receipt.unresolved == 0, **after})


async def resend(session: AsyncSession, actor: User, receipt_id: int, province_code: int, note: str | None,
                 quantity: int | None = None) -> Allocation:
    """The missing items (all of them, or ``quantity``) will be sent again: a new allocation in a new
    planned shipment to the same commune. Returns the allocation (its ``shipment_id`` is set)."""
    case, wanted, text = await _open(session, actor, receipt_id, province_code, note, quantity)
    original = case.allocation
    allocation = Allocation(run_id="resend", policy="resend", pledge_id=original.pledge_id, need_id=original.need_id,
                            commune_code=original.commune_code, quantity=wanted, amount=0,
                            value=wanted * case.unit, created_by_id=actor.id, resends_receipt_id=case.receipt.id)
    session.add(allocation)
    await session.flush()
    audit.record(session, actor_id=actor.id, action="allocation.resend", entity_type="allocation",
                 entity_id=allocation.id, summary=text,
                 after={"receipt": case.receipt.id, "quantity": wanted, "value": allocation.value})
    shipment = await deliveries.new_shipment(session, actor.id, original.commune_code, [allocation.id],
                                             case.shipment.source, "", text)
    if case.pledge.status == PledgeStatus.DELIVERED:  # something of it is on its way again
        services.move_pledge(session, actor.id, case.pledge, PledgeStatus.ALLOCATED, "pledge.resend",
                             summary=shipment.code)
    _settle(session, actor, case, "shortfall_resent", wanted, text, "delivery.shortfall_resend",
            shipment=shipment.id, allocation=allocation.id)
    notify(session, case.pledge.sponsor_id, "delivery.resend",
                    _("Part of your gift %(ref)s is being sent again", ref=case.pledge.reference),
                    _("%(received)s of %(sent)s items arrived. The %(n)s missing items will be sent again "
                      "(shipment %(code)s).", received=case.receipt.quantity_received,
                      sent=case.receipt.quantity_sent, n=wanted, code=shipment.code))
    return allocation


async def release(session: AsyncSession, actor: User, receipt_id: int, province_code: int, note: str | None,
                  quantity: int | None = None) -> ShipmentReceipt:
    """The missing items (all of them, or ``quantity``) will not come: they go back to the need, the
    ledger reverses their allocation, the pledge is recomputed and the sponsor told."""
    case, wanted, text = await _open(session, actor, receipt_id, province_code, note, quantity)
    need = await session.get(Need, case.allocation.need_id, with_for_update=True)
    assert need is not None
    before = {"pledged": need.pledged_quantity, "allocated": need.allocated_quantity}
    result = await session.execute(
        update(Need).where(Need.id == need.id, Need.pledged_quantity >= wanted, Need.allocated_quantity >= wanted)
        .values(pledged_quantity=Need.pledged_quantity - wanted, allocated_quantity=Need.allocated_quantity - wanted)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise IllegalTransition(_("The need no longer counts these items: they cannot be released."))
    await session.refresh(need)
    audit.record(session, actor_id=actor.id, action="need.release", entity_type="need", entity_id=need.id,
                 summary=text, before=before,
                 after={"pledged": need.pledged_quantity, "allocated": need.allocated_quantity})
    value = wanted * case.unit
    session.add(LedgerEntry(kind=LedgerKind.ALLOCATION, pledge_id=case.pledge.id, amount=-value, quantity=-wanted,
                            need_id=need.id, commune_code=case.allocation.commune_code))
    _settle(session, actor, case, "shortfall_released", wanted, text, "delivery.shortfall_release", value=value)
    await session.flush()
    await deliveries.advance_pledge(session, actor.id, case.pledge.id)
    library = await session.get(Library, need.library_id)
    notify(session, case.pledge.sponsor_id, "delivery.released",
                    _("What arrived of your gift %(ref)s", ref=case.pledge.reference),
                    _("%(received)s of %(sent)s items arrived at %(library)s. %(n)s items (%(value)s) did not "
                      "arrive and will not be sent again: they are no longer counted as allocated, and the "
                      "library's need is open to other gifts for them. %(note)s",
                      received=case.receipt.quantity_received, sent=case.receipt.quantity_sent,
                      library=library.name if library else "", n=wanted, value=format_vnd(value), note=text))
    return case.receipt


async def mark_handled(session: AsyncSession, actor: User, receipt_id: int, province_code: int,
                       note: str | None) -> ShipmentReceipt:
    """The missing items still undecided were replaced outside the platform: the library has them."""
    case, wanted, text = await _open(session, actor, receipt_id, province_code, note, None, whole=True)
    need = await deliveries.add_delivered(session, actor, case.allocation.need_id, wanted)
    if case.shipment.source == ShipmentSource.SPONSOR and case.pledge.kind != PledgeKind.MONEY:
        session.add(LedgerEntry(kind=LedgerKind.IN_KIND, pledge_id=case.pledge.id, amount=wanted * case.unit,
                                quantity=wanted, need_id=need.id, commune_code=case.allocation.commune_code))
    _settle(session, actor, case, "shortfall_replaced", wanted, text, "delivery.shortfall_handled")
    await session.flush()
    await deliveries.advance_pledge(session, actor.id, case.pledge.id)
    return case.receipt
