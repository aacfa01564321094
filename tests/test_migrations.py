"""Migrations are code: `upgrade head` gives exactly the models, and downgrade/upgrade works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
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
