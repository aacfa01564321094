"""How the audit pages name the donations domain's entities and gather one entity's history
(``app.audit.AuditEntity``): a pledge's history holds its own rows and those of its payments,
allocations, delivery receipts and the statement lines whose money paid it; a need's, those of
the allocations and receipts of its items; a shipment's, those of its lines and their receipts."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditEntity, Ref, Subject, int_ids
from app.i18n import _, format_date, format_vnd, lazy
from donations.models import (
    Allocation,
    HeldMoneySettlement,
    Payment,
    Pledge,
    Shipment,
    ShipmentReceipt,
    StatementLine,
)
from needs.audit_entities import describe_needs, resolve_need

Named = dict[str, tuple[str, str | None]]


async def _pledges(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(Pledge.id, Pledge.reference).where(Pledge.id.in_(int_ids(ids))))
    return {str(i): (_("Pledge %(ref)s", ref=ref), f"/pledges/{ref}") for i, ref in rows}


async def _resolve_pledge(session: AsyncSession, key: str) -> Subject | None:
    code = key.strip().upper()
    where = Pledge.reference == code if not code.isdigit() else Pledge.id == int(code)
    pledge = await session.scalar(select(Pledge).where(where)) if len(code) < 17 else None
    if pledge is None:
        return None
    payments = list(await session.scalars(select(Payment.id).where(Payment.pledge_id == pledge.id)))
    allocations = (await session.execute(select(Allocation.id, Allocation.run_id)
                                         .where(Allocation.pledge_id == pledge.id))).all()
    receipts = await session.scalars(select(ShipmentReceipt.id).where(ShipmentReceipt.pledge_id == pledge.id))
    lines = await session.scalars(select(StatementLine.id).where(or_(
        StatementLine.payment_id.in_(payments),
        StatementLine.id.in_(select(HeldMoneySettlement.line_id).where(HeldMoneySettlement.pledge_id == pledge.id)))))
    refs: list[Ref] = [("pledge", str(pledge.id))]
    refs += [("payment", str(i)) for i in payments] + [("allocation", str(i)) for i, _run in allocations]
    refs += [("shipment_receipt", str(i)) for i in receipts] + [("statement_line", str(i)) for i in lines]
    refs += _runs_of(run for _i, run in allocations)
    return Subject(_("Pledge %(ref)s", ref=pledge.reference), f"/pledges/{pledge.reference}", refs)


def _runs_of(runs: Iterable[str]) -> list[Ref]:
    """The matching runs among allocations' run ids (a run's commit is one row, on the run)."""
    return [("matching_run", run) for run in sorted(set(runs)) if run not in ("direct", "resend")]


async def _payments(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(Payment.id, Payment.provider, Pledge.reference)
                                 .join(Pledge, Pledge.id == Payment.pledge_id).where(Payment.id.in_(int_ids(ids))))
    return {str(i): (_("Payment #%(id)s (%(provider)s) of %(ref)s", id=i, provider=provider, ref=ref),
                     f"/pledges/{ref}") for i, provider, ref in rows}


async def _allocations(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(Allocation.id, Allocation.need_id, Allocation.quantity, Allocation.shipment_id,
                                        Pledge.reference)
                                 .join(Pledge, Pledge.id == Allocation.pledge_id)
                                 .where(Allocation.id.in_(int_ids(ids))))
    return {str(i): (_("Allocation #%(id)s: %(n)s items of %(ref)s to need #%(need)s", id=i, n=n, ref=ref,
                       need=need), f"/officer/deliveries/{shipment}" if shipment else f"/needs/{need}")
            for i, need, n, shipment, ref in rows}


def _shipment_code(shipment_id: int) -> str:
    return Shipment(id=shipment_id).code


async def _shipments(session: AsyncSession, ids: list[str]) -> Named:
    found = await session.scalars(select(Shipment.id).where(Shipment.id.in_(int_ids(ids))))
    return {str(i): (_("Shipment %(code)s", code=_shipment_code(i)), f"/officer/deliveries/{i}") for i in found}


async def _resolve_shipment(session: AsyncSession, key: str) -> Subject | None:
    code = key.strip().upper().removeprefix("GH-")
    if not code.isdigit() or len(code) > 9:
        return None
    shipment = await session.get(Shipment, int(code))
    if shipment is None:
        return None
    allocations = list(await session.scalars(select(Allocation.id).where(Allocation.shipment_id == shipment.id)))
    receipts = await session.scalars(select(ShipmentReceipt.id).where(ShipmentReceipt.shipment_id == shipment.id))
    refs: list[Ref] = [("shipment", str(shipment.id))] + [("allocation", str(i)) for i in allocations]
    refs += [("shipment_receipt", str(i)) for i in receipts]
    return Subject(_("Shipment %(code)s", code=shipment.code), f"/officer/deliveries/{shipment.id}", refs)


async def _receipts(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(ShipmentReceipt.id, ShipmentReceipt.shipment_id)
                                 .where(ShipmentReceipt.id.in_(int_ids(ids))))
    return {str(i): (_("Delivery receipt #%(id)s (shipment %(code)s)", id=i, code=_shipment_code(s)),
                     f"/officer/deliveries/{s}") for i, s in rows}


async def _lines(session: AsyncSession, ids: list[str]) -> Named:
    lines = await session.scalars(select(StatementLine).where(StatementLine.id.in_(int_ids(ids))))
    return {str(line.id): (_("Statement line #%(id)s: %(amount)s on %(date)s", id=line.id,
                             amount=format_vnd(line.amount), date=format_date(line.booked_on)),
                           f"/officer/statements/lines?line={line.id}") for line in lines}


async def _resolve_line(session: AsyncSession, key: str) -> Subject | None:
    key = key.strip().removeprefix("#")
    named = await _lines(session, [key])
    if key not in named:
        return None
    line = await session.get(StatementLine, int(key))
    assert line is not None
    refs: list[Ref] = [("statement_line", key)] + ([("payment", str(line.payment_id))] if line.payment_id else [])
    return Subject(*named[key], refs)


async def _imports(_session: AsyncSession, ids: list[str]) -> Named:
    return {i: (_("Statement import"), "/officer/statements") for i in ids}


async def _runs(_session: AsyncSession, ids: list[str]) -> Named:
    return {i: (_("Matching run %(run)s", run=i), "/officer/matching") for i in ids}


async def _resolve_run(session: AsyncSession, key: str) -> Subject | None:
    allocations = list(await session.scalars(select(Allocation.id).where(Allocation.run_id == key.strip())))
    if not allocations:
        return None
    refs: list[Ref] = [("matching_run", key.strip())] + [("allocation", str(i)) for i in allocations]
    return Subject(_("Matching run %(run)s", run=key.strip()), "/officer/matching", refs)


async def _resolve_need_with_deliveries(session: AsyncSession, key: str) -> Subject | None:
    subject = await resolve_need(session, key)
    if subject is None:
        return None
    need_id = int(subject.refs[0][1])
    allocations = (await session.execute(select(Allocation.id, Allocation.run_id)
                                         .where(Allocation.need_id == need_id))).all()
    receipts = await session.scalars(select(ShipmentReceipt.id).where(ShipmentReceipt.need_id == need_id))
    refs = subject.refs + [("allocation", str(i)) for i, _run in allocations]
    refs += [("shipment_receipt", str(i)) for i in receipts] + _runs_of(run for _i, run in allocations)
    return Subject(subject.label, subject.url, refs)


ENTITIES = {
    "need": AuditEntity(lazy("Need"), describe_needs, _resolve_need_with_deliveries),
    "pledge": AuditEntity(lazy("Pledge"), _pledges, _resolve_pledge),
    "payment": AuditEntity(lazy("Payment"), _payments),
    "allocation": AuditEntity(lazy("Allocation"), _allocations),
    "shipment": AuditEntity(lazy("Shipment"), _shipments, _resolve_shipment),
    "shipment_receipt": AuditEntity(lazy("Delivery receipt"), _receipts),
    "statement_line": AuditEntity(lazy("Statement line"), _lines, _resolve_line),
    "statement": AuditEntity(lazy("Statement import"), _imports),
    "matching_run": AuditEntity(lazy("Matching run"), _runs, _resolve_run),
}
