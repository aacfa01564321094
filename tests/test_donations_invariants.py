"""The rules that must hold whatever happens: no need over-filled, even under 50 concurrent
pledges, and a ledger that balances after any sequence of pledges, payments, refunds, cancels."""

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
from donations import services
from donations.models import LedgerEntry, LedgerKind, Payment, Pledge, PledgeKind, PledgeStatus, Target
from donations.schemas import PledgeIn
from needs.models import Need
from tests.conftest import settings_for
from tests.support import make_library, make_need, make_user

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
                        kind=PledgeKind.MONEY, target=Target.POOL, amount=n * 7_000), app_settings)
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
