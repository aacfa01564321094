"""Fixtures that start the real parts the tests need: SQLite, PostgreSQL, the app, a browser.

Every test that takes `backend` (directly or through `db`, `app`, `client`) runs twice: on SQLite
and on PostgreSQL (the local server at 127.0.0.1:5432). Where PostgreSQL is unreachable its tests
skip with a message, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.asgi import create_app
from app.cli import migrate, seed_reference
from app.db import Base, import_models
from app.geography.models import Commune, Province
from app.i18n import set_locale
from app.settings import Settings
from tests.support import postgres_available, run_pg_admin

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_HOST = os.environ.get("PGHOST_TEST", "127.0.0.1")
TEST_SECRET = "test-secret-" + "x" * 40

import_models()


@dataclass
class Backend:
    name: str
    url: str


def _require_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI but unreachable: {reason}")
    pytest.skip(f"PostgreSQL unreachable ({reason}); its tests skip outside CI")


def create_database(kind: str, tmp_dir: Path) -> str:
    """A fresh, empty database of this kind; returns its SQLAlchemy URL."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_dir / f'test-{uuid.uuid4().hex[:8]}.db'}"
    _require_postgres()
    name = f"glg_test_{uuid.uuid4().hex[:10]}"
    run_pg_admin(f'CREATE DATABASE "{name}"')
    return f"postgresql+asyncpg://postgres@{PG_HOST}:5432/{name}"


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        run_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _seed_reference(url: str) -> None:
    engine = create_async_engine(url)
    async with async_sessionmaker(engine)() as session:
        await seed_reference(session)
        await session.commit()
    await engine.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A migrated database with the geography seeded, shared by the session's tests."""
    url = create_database(request.param, tmp_path_factory.mktemp("db"))
    try:
        migrate(url)
        asyncio.run(_seed_reference(url))
        yield Backend(request.param, url)
    finally:
        drop_database(url)


GEOGRAPHY = {Province.__tablename__, Commune.__tablename__}


async def _reset(url: str) -> None:
    """Empty every table but the geography, put commune attributes back to their defaults, and
    the item catalogue back to the default one."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in GEOGRAPHY:
                await conn.execute(delete(table))
        await conn.execute(
            update(Commune)
            .where(text("is_border OR is_remote OR population IS NOT NULL OR priority_weight <> 1.0"))
            .values(is_border=False, is_remote=False, population=None, priority_weight=1.0)
        )
    await _seed_reference(url)
    await engine.dispose()


@pytest.fixture
async def clean_backend(backend: Backend) -> Backend:
    await _reset(backend.url)
    return backend


@pytest.fixture
async def db(clean_backend: Backend) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data; its engine lives in this test's event loop."""
    engine = create_async_engine(clean_backend.url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


@pytest.fixture(autouse=True)
def vietnamese() -> None:
    """Every test starts in the site's first language, whatever the previous one left set
    (services called directly format their messages in the current locale)."""
    set_locale("vi")


def settings_for(url: str, **overrides: object) -> Settings:
    overrides.setdefault("public_cache_seconds", 0)  # tests that want the cache say so
    return Settings(database_url=url, environment="test", secret_key=TEST_SECRET, **overrides)


@pytest.fixture
def app(clean_backend: Backend) -> Litestar:
    return create_app(settings_for(clean_backend.url))


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        c.follow_redirects = False
        yield c


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `sqlite_only` is not collected for PostgreSQL (a case that cannot happen there,
    not a skip). Browser journeys run last: Playwright's sync API keeps an event loop running for
    the rest of the session, which would stop the other tests from starting their own. Other tests
    of the live server run just before them, so the servers they start serve the journeys too."""
    def on_postgres_only_for_sqlite(item: pytest.Item) -> bool:
        params = getattr(getattr(item, "callspec", None), "params", {})
        return item.get_closest_marker("sqlite_only") is not None and params.get("backend") == "postgres"

    deselected = [item for item in items if on_postgres_only_for_sqlite(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]

    def order(item: pytest.Item) -> int:
        if item.get_closest_marker("browser") is not None:
            return 2
        return 1 if "live_server" in getattr(item, "fixturenames", ()) else 0

    items.sort(key=order)


from tests.mail_server import smtp_server  # noqa: E402,F401
from tests.stripe_server import localstripe_server, localstripe_url  # noqa: E402,F401
