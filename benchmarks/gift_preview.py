"""Benchmark: "where would my gift go" at the province's scale, against /healthz in the same run.

Loads Sơn La (75 communes, one library each) with open needs and a pool of paid money pledges and
received in-kind pledges (some restricted to a few communes or to books), signs a sponsor in, and
times ``GET /give/preview`` (the page's htmx request: read the province, run the fair-share engine
twice, without and with the gift, render the answer) for a mix of money and book gifts, one after
another, through the app in process (Litestar's test client: no network). ``/healthz`` (one
database round trip) is timed the same way in the same run as the baseline.

    .venv/bin/python benchmarks/gift_preview.py --db both --needs 1500 --supply 1000
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
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.asgi import create_app  # noqa: E402
from app.auth.models import Role, User  # noqa: E402
from app.auth.passwords import hash_password  # noqa: E402
from app.cli import migrate, seed_reference  # noqa: E402
from app.geography.models import Commune, Library, LibraryKind  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.text import fold  # noqa: E402
from benchmarks.scratch_db import scratch_database  # noqa: E402
from donations.models import Pledge, PledgeKind, PledgeStatus, Target  # noqa: E402
from needs.models import ItemKind, Need, NeedStatus, Urgency  # noqa: E402

SON_LA = 14
PASSWORD = "benchmark-2026"


async def load(url: str, n_needs: int, n_supply: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    engine = create_async_engine(url)
    now = dt.datetime.now(dt.UTC)
    async with async_sessionmaker(engine)() as session:
        await seed_reference(session)
        communes = list(await session.scalars(select(Commune).where(Commune.province_code == SON_LA)))
        kinds = list(await session.scalars(select(ItemKind)))
        books = [k.key for k in kinds if k.category.value == "book"]
        for c in communes:
            session.add(Library(commune_code=c.code, name=f"Thư viện {c.name}", name_folded=fold(f"Thư viện {c.name}"),
                                kind=LibraryKind.COMMUNE_PUBLIC_LIBRARY, address=""))
        sponsor = User(email="sponsor@bench.vn", full_name="Nhà tài trợ", role=Role.SPONSOR,
                       password_hash=hash_password(PASSWORD))
        session.add(sponsor)
        await session.flush()
        libraries = (await session.execute(select(Library.id, Library.commune_code))).all()
        needs = []
        for _ in range(n_needs):
            library_id, commune_code = rng.choice(libraries)
            kind = rng.choice(kinds)
            quantity = rng.randint(1, 5) if kind.category.value == "equipment" else rng.randrange(20, 500, 10)
            needs.append({"library_id": library_id, "commune_code": commune_code, "province_code": SON_LA,
                          "item_kind_key": kind.key, "quantity": quantity, "unit_value": kind.default_unit_value,
                          "urgency": rng.choice(list(Urgency)), "reason": "", "status": NeedStatus.OPEN,
                          "moderation_note": "", "pledged_quantity": rng.randint(0, quantity // 2),
                          "allocated_quantity": 0, "delivered_quantity": 0, "created_at": now, "updated_at": now})
        await session.execute(insert(Need), needs)
        codes = [c.code for c in communes]
        pledges = []
        for i in range(n_supply):
            row: dict[str, Any] = {"reference": f"B{i:011d}", "sponsor_id": sponsor.id, "target": Target.POOL,
                                   "anonymous": False, "titles": "", "created_at": now, "confirmed_at": now,
                                   "province_code": SON_LA}  # a gift to the pool: the province served
            if rng.random() < 0.15:
                row["allowed_communes"] = rng.sample(codes, rng.randint(1, 4))
            if i % 5 < 2:  # two in five are money
                row |= {"kind": PledgeKind.MONEY, "status": PledgeStatus.PAID, "quantity": 0, "unit_value": 0,
                        "amount": rng.randrange(500_000, 50_000_000, 100_000)}
                if rng.random() < 0.1:
                    row["allowed_items"] = rng.sample(books, 3)
            else:
                kind = rng.choice(kinds)
                row |= {"kind": PledgeKind.BOOKS if kind.category.value == "book" else PledgeKind.EQUIPMENT,
                        "status": PledgeStatus.RECEIVED, "amount": 0, "item_kind_key": kind.key,
                        "quantity": rng.randint(1, 3) if kind.category.value == "equipment" else rng.randint(10, 200),
                        "unit_value": kind.default_unit_value}
            pledges.append(row)
        await session.execute(insert(Pledge), pledges)
        await session.commit()
    await engine.dispose()


def gifts(rng: random.Random, n: int) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        if i % 2:
            out.append({"target": "pool", "kind": "books", "item_kind": "book/children",
                        "quantity": str(rng.randint(10, 300))})
        else:
            amount = rng.randrange(1_000_000, 100_000_000, 500_000)
            out.append({"target": "pool", "kind": "money", "amount": str(amount)})
    return out


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(ordered), "p50": statistics.median(ordered) * 1000,
            "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000, "max": ordered[-1] * 1000}


async def drive(url: str, n: int) -> list[tuple[str, dict[str, float]]]:
    settings = Settings(database_url=url, environment="test", secret_key="benchmark-" + "x" * 40,
                        public_cache_seconds=0)
    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
        await client.get("/login")
        token = client.cookies["csrftoken"]
        response = await client.post("/login", data={"email": "sponsor@bench.vn", "password": PASSWORD,
                                                     "_csrf_token": token})
        assert "sponsor@bench.vn" in response.text, response.text[:500]  # followed to the account page
        rng = random.Random(3)
        for query in gifts(rng, 3):  # warm up
            await client.get("/give/preview", params=query, headers={"HX-Request": "true"})
        results = []
        healthz: list[float] = []
        for _ in range(n * 4):
            started = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            healthz.append(time.perf_counter() - started)
        results.append(("/healthz (baseline)", summary(healthz)))
        preview: list[float] = []
        reached = 0
        for query in gifts(rng, n):
            started = time.perf_counter()
            response = await client.get("/give/preview", params=query, headers={"HX-Request": "true"})
            preview.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text[:500]
            reached += "/needs/" in response.text
        results.append((f"/give/preview ({reached}/{n} reached a need)", summary(preview)))
    return results


def run(kind: str, n_needs: int, n_supply: int, n: int) -> list[tuple[str, dict[str, float]]]:
    with scratch_database(kind) as (url, _tmp):
        migrate(url)
        asyncio.run(load(url, n_needs, n_supply))
        return asyncio.run(drive(url, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--needs", type=int, default=1500, help="open needs in Sơn La (default 1,500)")
    parser.add_argument("--supply", type=int, default=1000, help="pooled pledges (default 1,000: 2/5 money)")
    parser.add_argument("--requests", type=int, default=40, help="previews timed (default 40)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"Sơn La: 75 communes, {args.needs:,} open needs, {args.supply:,} pooled pledges")
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        for name, figures in run(kind, args.needs, args.supply, args.requests):
            print(f"{kind:9} {name:42} n={figures['n']:4.0f}  p50 {figures['p50']:8.1f} ms  "
                  f"p99 {figures['p99']:8.1f} ms  max {figures['max']:8.1f} ms")


if __name__ == "__main__":
    main()
