"""Migrations are code: `upgrade head` gives exactly the models, and downgrade/upgrade works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import alembic_config, migrate
from app.db import Base
from tests.conftest import create_database, drop_database


async def _diff_and_tables(url: str) -> tuple[list[object], set[str]]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
            )
        )
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return diff, tables


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = create_database(request.param, tmp_path)
    yield url
    drop_database(url)


def test_upgrade_head_gives_exactly_the_models(empty_database: str) -> None:
    migrate(empty_database)
    diff, tables = asyncio.run(_diff_and_tables(empty_database))
    assert diff == []
    assert set(Base.metadata.tables) <= tables


def test_downgrade_to_base_and_upgrade_again(empty_database: str) -> None:
    migrate(empty_database)
    command.downgrade(alembic_config(empty_database), "base")
    _diff, tables = asyncio.run(_diff_and_tables(empty_database))
    assert tables <= {"alembic_version"}
    migrate(empty_database)
    diff, _tables = asyncio.run(_diff_and_tables(empty_database))
    assert diff == []


async def _sql(url: str, statements: list[str]) -> list[tuple[object, ...]]:
    """Runs the statements in one transaction; returns the last one's rows."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        for statement in statements:
            result = await conn.execute(text(statement))
        rows = [tuple(row) for row in result] if result.returns_rows else []
    await engine.dispose()
    return rows


def test_open_duplicate_nominations_survive_the_unique_name_key(empty_database: str) -> None:
    """Migration e5f6a7b8c9d0 keys each nomination by its folded name; a duplicate already open keeps
    no key (nothing is withdrawn or changed), so the unique index builds over existing data."""
    config = alembic_config(empty_database)
    command.upgrade(config, "d4e5f6a7b8c9")
    columns = "province_code, period_key, nominee_name, nominee_kind, address, form, work, evidence, created_at"
    row = "14, '2026', '{name}', 'volunteer', '', 'thank_you_letter', 'w', 'e', '2026-01-01'"
    asyncio.run(_sql(empty_database, [
        "INSERT INTO provinces (code, name, name_folded, division_type) VALUES (14, 'Sơn La', 'son la', 'tỉnh')",
        *(f"INSERT INTO recognition_nominations ({columns}) VALUES ({row.format(name=name)})"
          for name in ("Lò Văn Tình", "lo van  tinh", "Quàng Thị Mai")),
    ]))
    command.upgrade(config, "head")
    keys = asyncio.run(_sql(empty_database, ["SELECT nominee_name, name_key FROM recognition_nominations ORDER BY id"]))
    assert keys == [("Lò Văn Tình", "lo van tinh"), ("lo van  tinh", None), ("Quàng Thị Mai", "quang thi mai")]
