"""The rules that must hold whatever happens: no need over-filled, even under 50 concurrent
pledges, a ledger that balances after any sequence of pledges, payments, refunds, cancels, and
a need, a pledge and a ledger that agree after any sequence of shortfall decisions."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.auth.models import Role, User
from app.errors import DomainError
from app.payments.registry import PaymentState
from donations import deliveries, services, shortfalls
from donations.models import (
    Allocation,
    AllocationStatus,
    LedgerEntry,
    LedgerKind,
    Payment,
    Pledge,
    PledgeKind,
    PledgeStatus,
    ShipmentReceipt,
    ShipmentSource,
    ShipmentStatus,
    Target,
)
from donations.schemas import PledgeIn
from needs.models import Need
from tests.conftest import settings_for
from tests.support import SON_LA, make_library, make_need, make_user

P = PledgeStatus


async def test_fifty_concurrent_pledges_take_exactly_what_remains(clean_backend, db) -> None:
    library = await make_library(db)
    need = await make_need(db, library, quantity=100, pledged_quantity=90)
    sponsors = [await make_user(db, Role.SPONSOR, email=f"s{i}@example.vn") for i in range(50)]
    await db.commit()
    app_settings = settings_for(clean_backend.url)
    engine = create_async_engine(clean_backend.url, pool_size=20, max_overflow=40) if \
        clean_backend.name == "postgres" else create_async_engine(clean_backend.url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def pledge_one(sponsor_id: int) -> bool:
        async with sessions() as session:
            sponsor = await session.get(type(sponsors[0]), sponsor_id)
            data = PledgeIn(kind=PledgeKind.MONEY, target=Target.NEED, need_id=need.id, quantity=1)
            try:
                await services.create_pledge(session, sponsor, data, app_settings)
                await session.commit()
                return True
            except DomainError:
                await session.rollback()
                return False

    results = await asyncio.gather(*(pledge_one(s.id) for s in sponsors))
    await engine.dispose()
    assert sum(results) == 10
    assert (await db.get(Need, need.id, populate_existing=True)).pledged_quantity == 100
    assert await db.scalar(select(func.count()).select_from(Pledge)) == 10


OPS = st.lists(
    st.tuples(st.sampled_from(["pledge_need", "pledge_pool", "pay", "refund", "cancel", "expire"]),
              st.integers(1, 6)),
    min_size=1, max_size=25,
)


async def _run(url: str, ops: list[tuple[str, int]], run_id: int) -> None:
    engine = create_async_engine(url)
    app_settings = settings_for(url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        library = await make_library(db, name=f"Thư viện {run_id}")
        need = await make_need(db, library, quantity=12, unit_value=10_000)
        sponsor = await make_user(db, Role.SPONSOR, email=f"p{run_id}@example.vn")
        await db.commit()
        need_id, sponsor_id = need.id, sponsor.id
        for op, n in ops:
            sponsor = await db.get(User, sponsor_id)  # a rollback expires what the session held
            try:
                if op == "pledge_need":
                    await services.create_pledge(db, sponsor, PledgeIn(
                        kind=PledgeKind.MONEY, target=Target.NEED, need_id=need_id, quantity=n), app_settings)
                elif op == "pledge_pool":
                    await services.create_pledge(db, sponsor, PledgeIn(
                        kind=PledgeKind.MONEY, target=Target.POOL, amount=(n + 1) * 7_000), app_settings)
                else:
                    pledges = list(await db.scalars(
                        select(Pledge).where(Pledge.sponsor_id == sponsor_id).order_by(Pledge.id)
                        .options(services.selectinload(Pledge.payments))))
                    if not pledges:
                        continue
                    pledge = pledges[n % len(pledges)]
                    if op == "pay":
                        payment = await services.new_payment(db, pledge, "offline")
                        await services.confirm_payment(db, payment, receipt_number=f"R{run_id}-{pledge.id}-{n}")
                    elif op == "refund":
                        payment = services.confirmed_payment(pledge)
                        if payment is None:
                            continue
                        await services.record_refund(db, None, payment, "test")
                    elif op == "cancel":
                        await services.cancel(db, sponsor, pledge)
                    elif op == "expire":
                        pledge.expires_at = services.utcnow()
                        await services.expire_unpaid(db, services.utcnow())
                await db.commit()
            except DomainError:
                await db.rollback()
        await _check(db, need_id, sponsor_id)
    await engine.dispose()


async def _check(db, need_id: int, sponsor_id: int) -> None:  # type: ignore[no-untyped-def]
    need = await db.get(Need, need_id, populate_existing=True)
    pledges = list(await db.scalars(select(Pledge).where(Pledge.sponsor_id == sponsor_id)
                                    .execution_options(populate_existing=True)))
    # The need is never over-filled, and its counters are exactly what the pledges hold.
    held = [p for p in pledges if p.need_id == need_id and p.status in services.HOLDING]
    assert need.pledged_quantity == sum(p.quantity for p in held) <= need.quantity
    assert need.allocated_quantity == sum(p.quantity for p in held if p.status == P.ALLOCATED)
    # The ledger balances: for each pledge, money in minus refunds is what it still holds.
    for pledge in pledges:
        entries = list(await db.scalars(select(LedgerEntry).where(LedgerEntry.pledge_id == pledge.id)))
        money = sum(e.amount for e in entries if e.kind in (LedgerKind.PAYMENT, LedgerKind.REFUND))
        allocated = sum(e.amount for e in entries if e.kind == LedgerKind.ALLOCATION)
        paid = pledge.status in (P.PAID, P.ALLOCATED)
        assert money == (pledge.amount if paid else 0)
        assert allocated == (pledge.amount if pledge.status == P.ALLOCATED else 0)
        confirmed = await db.scalar(select(func.count()).select_from(Payment).where(
            Payment.pledge_id == pledge.id, Payment.state == PaymentState.CONFIRMED))
        assert confirmed == (1 if paid else 0)


_runs = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_ledger_balances_and_no_need_is_overfilled(backend, ops) -> None:
    asyncio.run(_run(backend.url, ops, next(_runs) + 1000 * (backend.name == "postgres")))


# --- shortfalls: whatever officers decide, the need, the pledge and the ledger agree ----------------

SHORTFALL_OPS = st.lists(
    st.tuples(st.sampled_from(["resend", "release", "handle", "arrive"]), st.integers(0, 5)),
    min_size=1, max_size=12,
)


async def _shortfall_run(url: str, received: int, ops: list[tuple[str, int]], run_id: int) -> None:
    engine = create_async_engine(url)
    app_settings = settings_for(url)
    unit, pledged = 10_000, 8
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        library = await make_library(db, name=f"Thư viện thiếu {run_id}")
        need = await make_need(db, library, quantity=12, unit_value=unit)
        officer = await make_user(db, Role.OFFICER, email=f"o{run_id}@sonla.vn")
        librarian = await make_user(db, Role.LIBRARIAN, email=f"l{run_id}@sonla.vn", library_id=library.id)
        sponsor = await make_user(db, Role.SPONSOR, email=f"sf{run_id}@example.vn")
        pledge = await services.create_pledge(db, sponsor, PledgeIn(
            kind=PledgeKind.MONEY, target=Target.NEED, need_id=need.id, quantity=pledged), app_settings)
        await services.confirm_payment(db, await services.new_payment(db, pledge, "offline"),
                                       receipt_number=f"SF{run_id}")
        first = await db.scalar(select(Allocation).where(Allocation.pledge_id == pledge.id))
        shipment = await deliveries.create_shipment(db, officer, need.commune_code, [first.id],
                                                    ShipmentSource.HUB)
        await deliveries.dispatch(db, officer, shipment)
        await deliveries.confirm_receipt(db, librarian, app_settings, shipment.id, first.id, received,
                                         "Thiếu" if received < pledged else "")
        await db.commit()
        ids = (need.id, pledge.id, officer.id, librarian.id)

        async def actors() -> tuple[User, User]:
            return await db.get(User, ids[2]), await db.get(User, ids[3])  # type: ignore[return-value]

        for op, n in ops:
            officer, librarian = await actors()
            try:
                if op == "arrive":  # the re-sent lines travel and arrive, n of them missing at most
                    waiting = list(await db.scalars(select(Allocation).where(
                        Allocation.pledge_id == ids[1], Allocation.resends_receipt_id.is_not(None),
                        Allocation.status != AllocationStatus.DELIVERED).order_by(Allocation.id)))
                    for line in waiting:
                        shipment = await deliveries.get_shipment(db, line.shipment_id, for_update=True)
                        if shipment.status == ShipmentStatus.PLANNED:
                            await deliveries.dispatch(db, officer, shipment)
                        got = max(0, line.quantity - n)
                        await deliveries.confirm_receipt(db, librarian, app_settings, shipment.id, line.id, got,
                                                         "Thiếu" if got < line.quantity else "")
                else:
                    receipt = await db.scalar(select(ShipmentReceipt).where(
                        ShipmentReceipt.pledge_id == ids[1], ShipmentReceipt.shortfall_handled_at.is_(None),
                        ShipmentReceipt.quantity_received < ShipmentReceipt.quantity_sent)
                        .order_by(ShipmentReceipt.id))
                    if receipt is None:
                        continue
                    if op == "resend":
                        await shortfalls.resend(db, officer, receipt.id, SON_LA, "Gửi lại", n or None)
                    elif op == "release":
                        await shortfalls.release(db, officer, receipt.id, SON_LA, "Mất", n or None)
                    else:
                        await shortfalls.mark_handled(db, officer, receipt.id, SON_LA, "Xã tự bù")
                await db.commit()
            except DomainError:
                await db.rollback()

        need = await db.get(Need, ids[0], populate_existing=True)
        pledge = await db.get(Pledge, ids[1], populate_existing=True)
        receipts = list(await db.scalars(select(ShipmentReceipt).where(ShipmentReceipt.pledge_id == ids[1])
                                         .execution_options(populate_existing=True)))
        lines = list(await db.scalars(select(Allocation).where(Allocation.pledge_id == ids[1])
                                      .execution_options(populate_existing=True)))
        released = sum(r.shortfall_released for r in receipts)
        # The need counts what is still coming or came: released items are free for other gifts.
        assert need.pledged_quantity == need.allocated_quantity == pledged - released
        assert need.delivered_quantity == sum(r.quantity_received + r.shortfall_replaced for r in receipts)
        assert need.coverage_permille == need.pledged_quantity * 1000 // need.quantity
        # Every missing item is decided at most once; a shortfall is resolved once all are.
        for r in receipts:
            decided = r.shortfall_resent + r.shortfall_released + r.shortfall_replaced
            assert decided <= r.shortfall
            assert (r.shortfall_handled_at is not None) == (r.shortfall > 0 and decided == r.shortfall)
            assert r.shortfall_resent == sum(a.quantity for a in lines if a.resends_receipt_id == r.id)
        # The ledger: money in, and allocated exactly what was not released.
        entries = list(await db.scalars(select(LedgerEntry).where(LedgerEntry.pledge_id == ids[1])))
        assert sum(e.amount for e in entries if e.kind == LedgerKind.PAYMENT) == pledged * unit
        allocation_entries = [e for e in entries if e.kind == LedgerKind.ALLOCATION]
        assert sum(e.amount for e in allocation_entries) == (pledged - released) * unit
        assert sum(e.quantity for e in allocation_entries) == pledged - released
        # The pledge: what arrived, and acknowledged exactly when nothing waits any more.
        assert pledge.accepted_value == sum(r.quantity_received for r in receipts) * unit
        with_receipt = {r.allocation_id for r in receipts}
        settled = all(a.id in with_receipt for a in lines) and all(r.unresolved == 0 for r in receipts)
        all_delivered = all(a.status == AllocationStatus.DELIVERED for a in lines)
        expected = P.ACKNOWLEDGED if settled else P.DELIVERED if all_delivered else P.ALLOCATED
        assert pledge.status == expected, (ops, received)
    await engine.dispose()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(received=st.integers(0, 7), ops=SHORTFALL_OPS)
def test_shortfall_decisions_keep_need_pledge_and_ledger_in_step(backend, received, ops) -> None:
    asyncio.run(_shortfall_run(backend.url, received, ops, next(_runs) + 1000 * (backend.name == "postgres")))
