"""Benchmark: generating a province's honor roll from 1,000,000 contributions by 100,000 sponsors in
PostgreSQL, against a plain `SELECT count(*)` over the same table in the same run.

Creates its own database, loads sponsors and pledges with COPY (every state and kind: money paid
or refunded, books and equipment acknowledged or still on their way, anonymous gifts, gifts to the
pool, to Sơn La's communes and to other provinces', over two years), collects planner statistics,
then times `recognition.services.generate` (the whole service: the aggregating pass, the INSERT
... SELECT of the ranked entries, the period's totals, the nominations and the summary,
committed; a fresh roll each run, then the same draft generated again) and the count. Also times
the floor any persisted roll has, the generation's two halves apart: the aggregating pass alone,
and writing the same entries into a bare table (no index, no key, no constraint); and writing them
into the roll's own table from per-sponsor totals already computed (what generation would still
cost if running totals kept the aggregation up to date). Prints the median of each and the ratio,
with the machine.

    .venv/bin/python benchmarks/honor_roll.py --contributions 1000000 --sponsors 100000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import asyncpg
from sqlalchemy import column, delete, func, insert, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.cli import migrate, seed_reference  # noqa: E402
from app.db import import_models  # noqa: E402
from app.geography.models import Commune  # noqa: E402
from benchmarks.scratch_db import scratch_database  # noqa: E402
from recognition import generation, rules, services  # noqa: E402
from recognition.models import HonorRoll, RollEntry, RollStatus  # noqa: E402
from recognition.schemas import DEFAULT_THRESHOLDS, RuleSetIn  # noqa: E402

SON_LA = 14
YEAR = 2026
# Most gifts are small; a few are large (VND).
AMOUNTS = [100_000, 200_000, 300_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 50_000_000]
AMOUNT_WEIGHTS = [20, 20, 15, 15, 12, 8, 6, 3, 1]
MONEY_STATUSES = (["paid"] * 40 + ["allocated"] * 20 + ["delivered"] * 15 + ["acknowledged"] * 10
                  + ["awaiting_payment"] * 5 + ["canceled"] * 3 + ["expired"] * 3 + ["refunded"] * 4)
IN_KIND_STATUSES = ["acknowledged"] * 60 + ["delivered"] * 15 + ["received"] * 15 + ["awaiting_delivery"] * 10

USER_COLUMNS = ["id", "email", "password_hash", "full_name", "role", "phone", "is_active", "created_at",
                "sponsor_type", "organisation_name", "organisation_kind", "tax_code"]
PLEDGE_COLUMNS = ["id", "reference", "sponsor_id", "kind", "target", "commune_code", "amount", "item_kind_key",
                  "quantity", "unit_value", "titles", "anonymous", "status", "created_at", "confirmed_at",
                  "accepted_value", "acknowledged_at", "province_code"]


def users(n: int, rng: random.Random) -> list[tuple[object, ...]]:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i in range(1, n + 1):
        organisation = rng.random() < 0.3
        rows.append((i, f"s{i}@bench.vn", "x", f"Nhà tài trợ {i}", "sponsor", "", True, now,
                     "organisation" if organisation else "individual",
                     f"Công ty số {i}" if organisation else None, "enterprise" if organisation else None,
                     None))
    return rows


def pledges(n: int, n_sponsors: int, communes: list[int], others: list[int], provinces: dict[int, int],
            rng: random.Random) -> list[tuple[object, ...]]:
    """Pledge rows as `build_pledge` makes them: the province is the commune's, or the pool's."""
    start = dt.datetime(YEAR - 1, 1, 1, tzinfo=dt.UTC)
    span = int(dt.timedelta(days=730).total_seconds())
    amounts = rng.choices(AMOUNTS, AMOUNT_WEIGHTS, k=n)
    rows = []
    for i in range(1, n + 1):
        # Some sponsors give often: a skewed choice of sponsor.
        sponsor = 1 + int(n_sponsors * rng.random() ** 1.5) % n_sponsors
        where = rng.random()
        commune, target = (None, "pool") if where < 0.15 else (
            (rng.choice(others), "commune") if where < 0.30 else (rng.choice(communes), "commune"))
        at = start + dt.timedelta(seconds=rng.randrange(span))
        anonymous = rng.random() < 0.1
        if rng.random() < 0.8:
            status = rng.choice(MONEY_STATUSES)
            confirmed = at if status not in ("awaiting_payment", "canceled", "expired") else None
            rows.append((i, f"B{i:012d}", sponsor, "money", target, commune, amounts[i - 1], None, 0, 0, "",
                         anonymous, status, at, confirmed, 0, None, provinces.get(commune, SON_LA)))
        else:
            books = rng.random() < 0.7
            status = rng.choice(IN_KIND_STATUSES)
            quantity, unit = (rng.randint(10, 200), 35_000) if books else (rng.randint(1, 4), 2_500_000)
            acknowledged = at + dt.timedelta(days=20) if status == "acknowledged" else None
            rows.append((i, f"B{i:012d}", sponsor, "books" if books else "equipment", target, commune, 0,
                         "book/children" if books else "equipment/bookshelf", quantity, unit, "", anonymous,
                         status, at, at if status != "awaiting_delivery" else None,
                         quantity * unit if acknowledged else 0, acknowledged, provinces.get(commune, SON_LA)))
    return rows


async def load(url: str, dsn: str, n_pledges: int, n_sponsors: int) -> None:
    rng = random.Random(2026)
    engine = create_async_engine(url)
    async with async_sessionmaker(engine)() as session:
        await seed_reference(session)
        await session.commit()
        communes = list(await session.scalars(select(Commune.code).where(Commune.province_code == SON_LA)))
        others = list(await session.scalars(select(Commune.code).where(Commune.province_code != SON_LA)))
        provinces = {code: province for code, province in await session.execute(
            select(Commune.code, Commune.province_code))}
    await engine.dispose()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("users", records=users(n_sponsors, rng), columns=USER_COLUMNS)
        chunk = 200_000
        for first in range(0, n_pledges, chunk):
            rows = pledges(min(chunk, n_pledges - first), n_sponsors, communes, others, provinces, rng)
            rows = [(first + r[0], f"B{first + r[0]:012d}", *r[2:]) for r in rows]
            await conn.copy_records_to_table("pledges", records=rows, columns=PLEDGE_COLUMNS)
        await conn.execute("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
        await conn.execute("SELECT setval('pledges_id_seq', (SELECT max(id) FROM pledges))")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def measure(url: str, runs: int) -> dict[str, object]:
    engine = create_async_engine(url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    thresholds = {f"{form}_{category}": value for form, by_category in DEFAULT_THRESHOLDS.items()
                  for category, value in by_category.items()}
    async with maker() as session:
        await rules.save_rule_set(session, None, SON_LA, RuleSetIn(
            period_key=str(YEAR), period_start=dt.date(YEAR, 1, 1), period_end=dt.date(YEAR, 12, 31),
            count_money=True, count_books=True, count_equipment=True, **thresholds))
        await session.commit()
    counts, generations, regenerations, aggregations, writes, entry_writes = [], [], [], [], [], []
    total = 0
    roll_id = 0
    for _ in range(runs):
        async with maker() as session:  # the floor: its two halves alone, rolled back
            aggregation, write, entry_write = await floor(session)
            aggregations.append(aggregation)
            writes.append(write)
            entry_writes.append(entry_write)
        async with maker() as session:  # a fresh roll each run: the previous one goes (not timed)
            await session.execute(delete(RollEntry))
            await session.execute(delete(HonorRoll))
            await session.commit()
        async with maker() as session:
            started = time.perf_counter()
            total = int(await session.scalar(text("SELECT count(*) FROM pledges")) or 0)
            counts.append(time.perf_counter() - started)
        async with maker() as session:
            started = time.perf_counter()
            roll = await services.generate(session, None, SON_LA, str(YEAR))
            await session.commit()
            generations.append(time.perf_counter() - started)
            roll_id = roll.id
        async with maker() as session:  # "generate again" on the draft: its entries replaced
            started = time.perf_counter()
            await services.generate(session, None, SON_LA, str(YEAR))
            await session.commit()
            regenerations.append(time.perf_counter() - started)
    async with maker() as session:
        entries = int(await session.scalar(select(func.count()).where(RollEntry.roll_id == roll_id)) or 0)
        anonymous = int(await session.scalar(
            select(func.count()).where(RollEntry.roll_id == roll_id, RollEntry.anonymous.is_(True))) or 0)
        version = await session.scalar(text("SHOW server_version"))
    await engine.dispose()
    return {"count": statistics.median(counts), "generate": statistics.median(generations), "rows": total,
            "entries": entries, "anonymous": anonymous, "counts": counts, "generations": generations,
            "regenerate": statistics.median(regenerations), "regenerations": regenerations, "server": version,
            "aggregation": statistics.median(aggregations), "aggregations": aggregations,
            "write": statistics.median(writes), "writes": writes,
            "entry_write": statistics.median(entry_writes), "entry_writes": entry_writes}


async def floor(session: AsyncSession) -> tuple[float, float, float]:
    """What any persisted roll costs at least, timed apart (in one transaction, rolled back): the
    aggregating pass alone (the generation's first statement); writing the same entries into a
    table with no index, no key and no constraint; and writing them into the roll's own table (its
    key, index and foreign keys) from the per-sponsor totals already computed, which is all a roll
    kept up to date by running totals would have left to do."""
    rule_set = await rules.latest_rule_set(session, SON_LA, str(YEAR))
    assert rule_set is not None
    await session.execute(text(f"SET LOCAL work_mem = '{generation.WORK_MEM}'"))
    started = time.perf_counter()
    await session.execute(generation.CreateTempTableAs(generation.WORK_TABLE, generation.tiered(rule_set)))
    aggregation = time.perf_counter() - started
    await session.execute(text("CREATE TABLE floor_entries (LIKE honor_roll_entries INCLUDING DEFAULTS)"))
    bare = table("floor_entries", *(column(name) for name in generation.ENTRY_COLUMNS))
    started = time.perf_counter()
    await session.execute(insert(bare).from_select(list(bare.c), generation.ranked_entries(0)))
    write = time.perf_counter() - started
    roll = HonorRoll(province_code=SON_LA, period_key="floor", version=1, rule_set_id=rule_set.id,
                     status=RollStatus.DRAFT)
    session.add(roll)
    await session.flush()
    columns = [getattr(RollEntry.__table__.c, name) for name in generation.ENTRY_COLUMNS]
    started = time.perf_counter()
    await session.execute(insert(RollEntry).from_select(columns, generation.ranked_entries(roll.id)))
    entries = time.perf_counter() - started
    await session.rollback()
    return aggregation, write, entries


def memory() -> str:
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        return f"{kb / 1024 / 1024:.0f} GB"
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contributions", type=int, default=1_000_000)
    parser.add_argument("--sponsors", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed) to look into")
    args = parser.parse_args()
    import_models()
    with scratch_database("postgres", keep=args.keep) as (url, _tmp):
        dsn = url.replace("+asyncpg", "")
        migrate(url)
        started = time.perf_counter()
        asyncio.run(load(url, dsn, args.contributions, args.sponsors))
        print(f"loaded {args.contributions:,} contributions from {args.sponsors:,} sponsors in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        r = asyncio.run(measure(url, args.runs))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {memory()}, Python {platform.python_version()}, "
          f"PostgreSQL {r['server']}; {r['rows']:,} contributions from {args.sponsors:,} sponsors; "
          f"median of {args.runs} runs.\n")
    print("| measure | median | runs |")
    print("| --- | ---: | --- |")
    runs_c = ", ".join(f"{x * 1000:.0f}" for x in r["counts"])  # type: ignore[attr-defined]
    runs_g = ", ".join(f"{x * 1000:.0f}" for x in r["generations"])  # type: ignore[attr-defined]
    print(f"| `SELECT count(*) FROM pledges` (baseline) | {r['count'] * 1000:.0f} ms | {runs_c} |")  # type: ignore[operator]
    runs_r = ", ".join(f"{x * 1000:.0f}" for x in r["regenerations"])  # type: ignore[attr-defined]
    print(f"| honor roll generation ({r['entries']:,} entries, {r['anonymous']:,} anonymous) | "
          f"{r['generate'] * 1000:.0f} ms | {runs_g} |")  # type: ignore[operator]
    print(f"| the same draft generated again (its entries replaced) | {r['regenerate'] * 1000:.0f} ms | "
          f"{runs_r} |")  # type: ignore[operator]
    for key, label in (("aggregation", "the floor: the aggregating pass alone (no write)"),
                       ("write", "the floor: writing the entries alone (no index, key or constraint)"),
                       ("entry_write", "writing the entries into the roll's table from totals already computed")):
        runs_f = ", ".join(f"{x * 1000:.0f}" for x in r[key + "s"])  # type: ignore[attr-defined]
        print(f"| {label} | {r[key] * 1000:.0f} ms ({r[key] / r['count']:.1f} ×) | {runs_f} |")  # type: ignore[operator]
    print(f"\nratio: {r['generate'] / r['count']:.1f} × the count")  # type: ignore[operator]


if __name__ == "__main__":
    main()
