"""Benchmark: the needs board at national scale against the same server's trivial endpoint.

Loads 3,321 communes, one library per commune and 50,000 needs into a fresh database (SQLite,
PostgreSQL or both), serves the app with uvicorn (one process, as `make run` does), and drives it
with 16 concurrent clients (wrk when installed: `apt-get install wrk`): first `/healthz` (the
baseline: a database round trip and nothing else), then the board's page and JSON with filters.
Prints requests per second and p50/p99 latency for each, and the board's throughput as a share of
the baseline's.

    .venv/bin/python benchmarks/needs_board.py --db both --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.cli import migrate, seed_reference  # noqa: E402
from app.geography.models import Commune, Library, LibraryKind  # noqa: E402
from app.text import fold  # noqa: E402
from benchmarks.scratch_db import scratch_database  # noqa: E402
from needs.models import ItemKind, Need, NeedStatus, Urgency  # noqa: E402

STATUSES = (
    [NeedStatus.OPEN] * 70
    + [NeedStatus.SUBMITTED] * 8
    + [NeedStatus.FULFILLED] * 10
    + [NeedStatus.CLOSED] * 4
    + [NeedStatus.EXPIRED] * 4
    + [NeedStatus.DRAFT] * 4
)
SCENARIOS = {
    "/healthz (baseline)": ["/healthz"],
    "/needs page": [
        "/needs",
        "/needs?province_code=14",
        "/needs?q=muong+la",
        "/needs?category=book&urgency=3",
        "/needs?province_code=1&sort=least_covered",
        "/needs?item=equipment/computer&sort=newest",
        "/needs?library_kind=law_bookcase&page=3",
    ],
    "/api/v1/needs": [
        "/api/v1/needs",
        "/api/v1/needs?province_code=14",
        "/api/v1/needs?q=chieng",
        "/api/v1/needs?category=equipment&sort=least_covered",
        "/api/v1/needs?urgency=4&page=2",
        "/api/v1/needs?province_code=1&item=book/children",
    ],
}


async def load(url: str, n_needs: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    engine = create_async_engine(url)
    async with async_sessionmaker(engine)() as session:
        await seed_reference(session)
        communes = list(await session.scalars(select(Commune)))
        kinds = list(await session.scalars(select(ItemKind)))
        kinds_list = list(LibraryKind)
        await session.execute(
            insert(Library),
            [
                {
                    "commune_code": c.code,
                    "name": f"Thư viện {c.name}",
                    "name_folded": fold(f"Thư viện {c.name}"),
                    "kind": rng.choice(kinds_list),
                    "address": "",
                    "created_at": dt.datetime.now(dt.UTC),
                }
                for c in communes
            ],
        )
        libraries = (await session.execute(select(Library.id, Library.commune_code))).all()
        province = {c.code: c.province_code for c in communes}
        now = dt.datetime.now(dt.UTC)
        rows = []
        for _ in range(n_needs):
            library_id, commune_code = rng.choice(libraries)
            kind = rng.choice(kinds)
            quantity = rng.randint(1, 5) if kind.category.value == "equipment" else rng.randrange(20, 500, 10)
            created = now - dt.timedelta(minutes=rng.randint(0, 400_000))
            rows.append(
                {
                    "library_id": library_id,
                    "commune_code": commune_code,
                    "province_code": province[commune_code],
                    "item_kind_key": kind.key,
                    "quantity": quantity,
                    "unit_value": kind.default_unit_value,
                    "urgency": rng.choice(list(Urgency)),
                    "reason": "",
                    "status": rng.choice(STATUSES),
                    "moderation_note": "",
                    "pledged_quantity": rng.randint(0, quantity),
                    "allocated_quantity": 0,
                    "delivered_quantity": 0,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        for start in range(0, len(rows), 5000):
            await session.execute(insert(Need), rows[start : start + 5000])
        await session.commit()
    # Give the planner its statistics, as any database that has been running a while has them.
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE" if url.startswith("sqlite") else "VACUUM ANALYZE"))
    await engine.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int, log: Path, cache_seconds: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "production",
        "SECRET_KEY": "benchmark-" + "x" * 40,
        "PUBLIC_CACHE_SECONDS": str(cache_seconds),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.asgi:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(log.read_text())


WRK_SCRIPT = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""


def _ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def drive_wrk(base: str, paths: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    """wrk (C, one thread per core) leaves the server most of the machine."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds:g}s", "--latency", "-s", script.name, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "99" not in latency:
        raise RuntimeError(f"wrk said:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(latency["50"]),
        "p99": _ms(latency["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


async def drive(base: str, paths: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    """The fallback load generator (Python, shares the machine's cores with the server)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            k = i
            while time.perf_counter() < deadline:
                path = paths[k % len(paths)]
                k += 1
                start = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "requests": len(latencies),
        "errors": errors,
    }


async def wide_scenario(url: str) -> dict[str, list[str]]:
    """Hundreds of distinct board URLs (every province × 3 sorts × 3 pages), so that with the
    public cache on most requests in a run still find their page cold or expired at least once."""
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        codes = list(await conn.scalars(select(Commune.province_code).distinct().order_by(Commune.province_code)))
    await engine.dispose()
    paths = [f"/needs?province_code={code}&sort={sort}&page={page}"
             for code in codes for sort in ("urgency", "newest", "least_covered") for page in (1, 2, 3)]
    return {f"/needs page, {len(paths)} URLs": paths}


def run(
    kind: str, n_needs: int, seconds: float, concurrency: int, cache_seconds: int
) -> list[tuple[str, dict[str, float]]]:
    with scratch_database(kind) as (url, tmp):
        migrate(url)
        started = time.perf_counter()
        asyncio.run(load(url, n_needs))
        print(f"[{kind}] loaded {n_needs:,} needs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        port = free_port()
        server = serve(url, port, tmp / "server.log", cache_seconds)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(drive(base, ["/healthz", "/needs", "/api/v1/needs"], 2, concurrency))  # warm up
            scenarios = {**SCENARIOS, **asyncio.run(wide_scenario(url))}
            if shutil.which("wrk"):
                return [(name, drive_wrk(base, paths, seconds, concurrency)) for name, paths in scenarios.items()]
            return [(name, asyncio.run(drive(base, paths, seconds, concurrency))) for name, paths in scenarios.items()]
        finally:
            server.terminate()
            server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--needs", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--cache-seconds",
        type=int,
        default=0,
        help="the public page cache (PUBLIC_CACHE_SECONDS); 0, the default, measures every request computed afresh",
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.needs:,} needs, 3,321 communes, {args.concurrency} concurrent clients, "
        f"{args.seconds:g} s per scenario; public cache {args.cache_seconds} s; load from "
        f"{'wrk' if shutil.which('wrk') else 'Python httpx'} on the same machine.\n"
    )
    print("| database | endpoint | req/s | share of baseline | p50 ms | p99 ms | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    loads = []
    for kind in kinds:
        before = os.getloadavg()[0]
        results = run(kind, args.needs, args.seconds, args.concurrency, args.cache_seconds)
        loads.append(f"{kind} {before:.1f} → {os.getloadavg()[0]:.1f}")
        baseline = results[0][1]["rps"]
        for name, r in results:
            print(
                f"| {kind} | {name} | {r['rps']:.0f} | {r['rps'] / baseline:.0%} | "
                f"{r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} |"
            )

    # The machine may be shared: other work on it shows here, and in the baseline's figures.
    print(f"\nLoad average (1 min) at the start and the end of each database's run: {'; '.join(loads)}.")


if __name__ == "__main__":
    main()
