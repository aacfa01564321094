"""What the delivery pages show: shipments with their lines (allocation, pledge, need, item,
library, receipt, how a shortfall was resolved), the allocations waiting for a shipment, a commune's
incoming shipments, the shortfall queue, and each pledge's deliveries for the sponsor's dashboard. Reading only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.models import Role, User
from app.geography.models import Commune, Library
from app.i18n import _
from donations.deliveries import library_of
from donations.models import (
    Allocation,
    AllocationStatus,
    Pledge,
    PledgeStatus,
    Shipment,
    ShipmentReceipt,
    ShipmentStatus,
)
from needs.models import ItemKind, Need

S = ShipmentStatus


@dataclass
class LineView:
    allocation: Allocation
    pledge: Pledge
    need: Need
    item_name: str
    library_name: str
    receipt: ShipmentReceipt | None = None
    resends: list[Allocation] = field(default_factory=list)  # a shortfall's items sent again


@dataclass
class ShipmentView:
    shipment: Shipment
    commune_name: str
    lines: list[LineView] = field(default_factory=list)

    @property
    def pending(self) -> list[LineView]:
        return [line for line in self.lines if line.receipt is None]

    @property
    def quantity(self) -> int:
        return sum(line.allocation.quantity for line in self.lines)


async def _lines(session: AsyncSession, allocations: list[Allocation]) -> list[LineView]:
    if not allocations:
        return []
    pledges = {p.id: p for p in await session.scalars(
        select(Pledge).where(Pledge.id.in_({a.pledge_id for a in allocations})))}
    needs = {n.id: n for n in await session.scalars(select(Need).where(Need.id.in_({a.need_id for a in allocations})))}
    kinds = {k.key: k for k in await session.scalars(
        select(ItemKind).where(ItemKind.key.in_({n.item_kind_key for n in needs.values()})))}
    libraries = dict((await session.execute(select(Library.id, Library.name).where(
        Library.id.in_({n.library_id for n in needs.values()})))).tuples().all())
    receipts = {r.allocation_id: r for r in await session.scalars(
        select(ShipmentReceipt).where(ShipmentReceipt.allocation_id.in_([a.id for a in allocations])))}
    resends = await _resends(session, [r.id for r in receipts.values() if r.shortfall_resent])
    return [LineView(a, pledges[a.pledge_id], needs[a.need_id], kinds[needs[a.need_id].item_kind_key].name,
                     libraries.get(needs[a.need_id].library_id, ""), receipts.get(a.id),
                     resends.get(receipts[a.id].id, []) if a.id in receipts else [])
            for a in allocations]


async def _resends(session: AsyncSession, receipt_ids: list[int]) -> dict[int, list[Allocation]]:
    """The allocations that carry each shortfall's items again (their shipment is ``shipment_id``)."""
    result: dict[int, list[Allocation]] = defaultdict(list)
    if receipt_ids:
        for allocation in await session.scalars(select(Allocation).where(
                Allocation.resends_receipt_id.in_(receipt_ids)).order_by(Allocation.id)):
            result[allocation.resends_receipt_id].append(allocation)  # type: ignore[index]
    return result


async def _views(session: AsyncSession, shipments: list[Shipment]) -> list[ShipmentView]:
    names = dict((await session.execute(select(Commune.code, Commune.name).where(
        Commune.code.in_({s.commune_code for s in shipments})))).tuples().all())
    lines = await _lines(session, [a for s in shipments for a in s.allocations])
    by_allocation = {line.allocation.id: line for line in lines}
    return [ShipmentView(s, names.get(s.commune_code, ""), [by_allocation[a.id] for a in s.allocations])
            for s in shipments]


async def shipment_view(session: AsyncSession, shipment: Shipment) -> ShipmentView:
    return (await _views(session, [shipment]))[0]


@dataclass
class Waiting:
    """A commune's planned allocations that no shipment carries yet."""

    commune_code: int
    commune_name: str
    lines: list[LineView]


async def waiting_for_shipment(session: AsyncSession, province_code: int) -> list[Waiting]:
    allocations = list(await session.scalars(
        select(Allocation).join(Commune, Commune.code == Allocation.commune_code)
        .where(Commune.province_code == province_code, Allocation.status == AllocationStatus.PLANNED,
               Allocation.shipment_id.is_(None))
        .order_by(Commune.name_folded, Allocation.id)))
    names = dict((await session.execute(select(Commune.code, Commune.name).where(
        Commune.code.in_({a.commune_code for a in allocations})))).tuples().all())
    groups: dict[int, list[LineView]] = defaultdict(list)
    for line in await _lines(session, allocations):
        groups[line.allocation.commune_code].append(line)
    return [Waiting(code, names[code], lines) for code, lines in groups.items()]


async def shipments(session: AsyncSession, province_code: int, status: ShipmentStatus | None,
                    *, limit: int = 100) -> list[ShipmentView]:
    query = (select(Shipment).join(Commune, Commune.code == Shipment.commune_code)
             .where(Commune.province_code == province_code)
             .options(selectinload(Shipment.allocations)).order_by(Shipment.id.desc()).limit(limit))
    if status is not None:
        query = query.where(Shipment.status == status)
    return await _views(session, list(await session.scalars(query)))


async def incoming(session: AsyncSession, librarian: User) -> list[ShipmentView]:
    """Shipments on their way to (or arrived at) the librarian's commune: those with lines to
    confirm first, then the last confirmed ones."""
    library = await library_of(session, librarian)
    rows = list(await session.scalars(
        select(Shipment).where(Shipment.commune_code == library.commune_code,
                               Shipment.status.in_([S.DISPATCHED, S.DELIVERED]))
        .options(selectinload(Shipment.allocations)).order_by(Shipment.id.desc()).limit(50)))
    views = await _views(session, rows)
    return sorted(views, key=lambda v: (not v.pending, -v.shipment.id))


async def librarian_tasks(session: AsyncSession, librarian: User) -> list[tuple[str, str]]:
    """What waits for the librarian on the delivery side, for their first page: (link, what)."""
    if librarian.role != Role.LIBRARIAN or librarian.library_id is None:
        return []
    tasks = []
    lines = sum(len(view.pending) for view in await incoming(session, librarian))
    if lines:
        tasks.append(("/library/deliveries", _("Deliveries to count and confirm: %(n)s lines.", n=lines)))
    gifts = await session.scalar(
        select(func.count()).select_from(Pledge).join(Need, Need.id == Pledge.need_id)
        .where(Need.library_id == librarian.library_id, Pledge.status == PledgeStatus.AWAITING_DELIVERY))
    if gifts:
        tasks.append(("/library/pledges", _("Gifts sponsors are bringing to your library: %(n)s.", n=gifts)))
    return tasks


@dataclass
class Shortfall:
    receipt: ShipmentReceipt
    pledge: Pledge
    commune_name: str
    shipment_code: str
    resends: list[Allocation] = field(default_factory=list)


async def shortfalls(session: AsyncSession, province_code: int, *, resolved: bool = False,
                     limit: int = 200) -> list[Shortfall]:
    """The province's shortfalls still waiting for a decision (oldest first), or the last resolved
    ones (newest first)."""
    query = (
        select(ShipmentReceipt, Pledge, Commune.name, Shipment)
        .join(Pledge, Pledge.id == ShipmentReceipt.pledge_id)
        .join(Commune, Commune.code == ShipmentReceipt.commune_code)
        .join(Shipment, Shipment.id == ShipmentReceipt.shipment_id)
        .where(Commune.province_code == province_code,
               ShipmentReceipt.quantity_received < ShipmentReceipt.quantity_sent)
    )
    if resolved:
        query = query.where(ShipmentReceipt.shortfall_handled_at.is_not(None)).order_by(
            ShipmentReceipt.shortfall_handled_at.desc(), ShipmentReceipt.id.desc())
    else:
        query = query.where(ShipmentReceipt.shortfall_handled_at.is_(None)).order_by(
            ShipmentReceipt.received_at, ShipmentReceipt.id)
    rows = (await session.execute(query.limit(limit))).tuples().all()
    resends = await _resends(session, [receipt.id for receipt, *_rest in rows if receipt.shortfall_resent])
    return [Shortfall(receipt, pledge, name, shipment.code, resends.get(receipt.id, []))
            for receipt, pledge, name, shipment in rows]


async def open_shortfalls(session: AsyncSession, province_code: int) -> list[Shortfall]:
    return await shortfalls(session, province_code)


async def deliveries_of(session: AsyncSession, pledge_ids: list[int]) -> dict[int, list[LineView]]:
    """For the sponsor's dashboard: each pledge's allocations with their shipment and receipt."""
    if not pledge_ids:
        return {}
    allocations = list(await session.scalars(
        select(Allocation).where(Allocation.pledge_id.in_(pledge_ids), Allocation.status != AllocationStatus.CANCELED)
        .order_by(Allocation.id)))
    result: dict[int, list[LineView]] = defaultdict(list)
    for line in await _lines(session, allocations):
        result[line.allocation.pledge_id].append(line)
    return result
