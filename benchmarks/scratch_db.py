"""A throwaway database for a benchmark run: a SQLite file in a temporary directory, or a fresh
PostgreSQL database on the local server (trust auth, user postgres), dropped afterwards."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG = "postgres@127.0.0.1:5432"


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)


@contextmanager
def scratch_database(kind: str, *, keep: bool = False) -> Iterator[tuple[str, Path]]:
    """Yields the database's SQLAlchemy URL and a temporary directory that lives as long."""
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "sqlite":
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", Path(tmp)
            return
        name = f"glg_bench_{uuid.uuid4().hex[:8]}"
        psql(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://{PG}/{name}", Path(tmp)
        finally:
            if keep:
                print(f"kept database {name}")
            else:
                psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
