"""What keeps the public board fast without showing stale state or sharing secrets: one
computation per cache miss, expired copies only while a page is recomputed, no cookies in cached
pages, reference lists kept per process and dropped when they change, the heap frozen after
startup, and an index for the slowest combination of filters."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from sqlalchemy import event, func, select

from app.asgi import create_app
from app.auth.models import Role
from needs import catalog, services
from needs.models import PUBLIC_STATUSES, Need
from needs.schemas import BoardFilters
from tests.conftest import TEST_SECRET, settings_for
from tests.support import make_library, make_need, make_user, post_form, sign_in

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def concurrent_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests run concurrently in this event loop (the test client's take turns)."""
    async with app.lifespan(), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as client:
        yield client


def _count_board_queries(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every statement the app sends that counts needs (one per board computation)."""
    seen: list[str] = []
    engine = app.state.db_config.get_engine()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "count(" in statement.lower() and "FROM needs" in statement:
            seen.append(statement)

    return seen


async def test_concurrent_misses_for_one_page_compute_it_once(clean_backend, db) -> None:
    library = await make_library(db)
    need = await make_need(db, library)
    await db.commit()
    app = create_app(settings_for(clean_backend.url, public_cache_seconds=60))
    counts = _count_board_queries(app)
    async with concurrent_client(app) as client:
        for url in ("/needs?province_code=14", "/api/v1/needs?province_code=14"):
            counts.clear()
            responses = await asyncio.gather(*(client.get(url) for _ in range(8)))
            assert [r.status_code for r in responses] == [200] * 8
            assert all(f"{need.id}" in r.text for r in responses)
            assert len({r.text for r in responses}) == 1
            assert len(counts) == 1, url  # one request computed, seven waited for it
        counts.clear()
        other = await asyncio.gather(client.get("/needs?province_code=1"), client.get("/needs?province_code=14"))
        assert [r.status_code for r in other] == [200, 200]
        assert len(counts) == 1  # another URL is another computation; the first is cached


async def test_waiters_do_not_hang_when_the_first_request_stores_nothing(clean_backend, db) -> None:
    app = create_app(settings_for(clean_backend.url, public_cache_seconds=60))
    async with concurrent_client(app) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get("/needs", params={"urgency": "9"}) for _ in range(6)))
        assert [r.status_code for r in responses] == [422] * 6
        assert time.perf_counter() - started < 3  # the waiters were released, not timed out (5 s)


async def test_without_the_public_cache_every_request_computes(clean_backend, db) -> None:
    library = await make_library(db)
    await make_need(db, library)
    await db.commit()
    app = create_app(settings_for(clean_backend.url, public_cache_seconds=0))
    counts = _count_board_queries(app)
    async with concurrent_client(app) as client:
        responses = await asyncio.gather(*(client.get("/needs") for _ in range(4)))
        assert [r.status_code for r in responses] == [200] * 4
    assert len(counts) == 4


async def test_a_catalogue_change_shows_in_the_board_filter_as_soon_as_it_is_committed(client, db) -> None:
    officer = await make_user(db, Role.OFFICER)
    await db.commit()
    catalog._kind_choices.clear()  # whatever earlier tests left (they reset the catalogue directly)
    assert 'value="book/comics"' not in (await client.get("/needs")).text  # the list is now kept
    await sign_in(client, officer.email)
    form = {"key": "book/comics", "category": "book", "name_vi": "Truyện tranh", "name_en": "Comics",
            "default_unit_value": "25000"}
    assert (await post_form(client, "/officer/item-kinds", form)).status_code == 303
    page = (await client.get("/needs")).text
    assert 'value="book/comics"' in page and "Truyện tranh<" in page
    renamed = {**form, "name_vi": "Truyện tranh thiếu nhi"}
    assert (await post_form(client, "/officer/item-kinds", renamed)).status_code == 303
    assert "Truyện tranh thiếu nhi" in (await client.get("/needs")).text
    bad = {**form, "key": "book/x", "default_unit_value": "-1"}
    assert (await post_form(client, "/officer/item-kinds", bad)).status_code == 422  # nothing committed
    assert catalog._kind_choices  # a rejected change leaves the kept list alone


async def test_the_total_is_the_same_on_every_page_and_past_the_last(client, db) -> None:
    library = await make_library(db)
    for _ in range(5):
        await make_need(db, library, item_kind_key="equipment/computer", quantity=2, unit_value=12_000_000)
    await make_need(db, library)
    await db.commit()
    for page, size in ((1, 3), (2, 2), (3, 0), (4, 0)):
        body = (await client.get("/api/v1/needs", params={"category": "equipment", "per_page": 3, "page": page})).json()
        assert (body["total"], len(body["items"])) == (5, size), page
    body = (await client.get("/api/v1/needs", params={"category": "book", "urgency": 4})).json()
    assert body == {"items": [], "total": 0}
    page = await client.get("/needs", params={"category": "equipment", "per_page": 3, "page": 2})
    assert "5 nhu cầu" in page.text and "2 / 2" in page.text


async def test_a_cached_page_never_hands_one_visitors_cookies_to_another(clean_backend, db) -> None:
    library = await make_library(db)
    await make_need(db, library)
    await db.commit()
    app = create_app(settings_for(clean_backend.url, public_cache_seconds=60))
    async with concurrent_client(app) as client:
        first = await client.get("/needs")
        token = client.cookies["csrftoken"]
        assert token in first.headers["set-cookie"]
        for url in ("/needs", "/api/v1/needs"):
            await client.get(url)
            client.cookies.clear()  # a new visitor, served from the cache
            again = await client.get(url)
            cookies = again.headers.get_list("set-cookie")
            assert all(token not in c for c in cookies), cookies
            assert len(cookies) == 1 and client.cookies["csrftoken"] != token  # their own token
            returning = await client.get(url)  # a visitor who has a token gets no other
            assert returning.headers.get_list("set-cookie") == []


async def test_while_a_page_is_recomputed_other_visitors_get_the_copy_that_just_expired(clean_backend, db) -> None:
    library = await make_library(db)
    old = await make_need(db, library)
    await db.commit()
    app = create_app(settings_for(clean_backend.url, public_cache_seconds=1))
    counts = _count_board_queries(app)
    async with concurrent_client(app) as client:
        assert f"/needs/{old.id}" in (await client.get("/needs")).text
        new = await make_need(db, library)
        await db.commit()
        await asyncio.sleep(1.1)  # the cached page has expired
        counts.clear()
        leader, waiter = await asyncio.gather(client.get("/needs"), client.get("/needs"))
        assert len(counts) == 1  # computed once
        assert f"/needs/{new.id}" in leader.text  # the first recomputed it
        assert f"/needs/{new.id}" not in waiter.text and f"/needs/{old.id}" in waiter.text  # not kept waiting
        after = await client.get("/needs")
        assert f"/needs/{new.id}" in after.text  # the fresh copy from then on
        assert len(counts) == 1


def test_a_server_takes_its_startup_heap_out_of_the_collectors_sight_except_in_tests(backend) -> None:
    """In a process of its own, as a server runs (freezing this test process's heap, or collecting
    the garbage other tests left, would change what they see)."""
    script = (
        "import asyncio, gc, sys\n"
        "from app.asgi import create_app\n"
        "from app.settings import Settings\n"
        "async def main():\n"
        "    for environment in ('test', 'production'):\n"
        "        settings = Settings(database_url=sys.argv[1], environment=environment, secret_key=sys.argv[2])\n"
        "        async with create_app(settings).lifespan():\n"
        "            print(environment, gc.get_freeze_count())\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, backend.url, TEST_SECRET],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout.split()
    assert out[0:2] == ["test", "0"]
    assert out[2] == "production" and int(out[3]) > 10_000  # modules, the app, its templates and caches


async def test_no_visitor_gets_a_copy_older_than_twice_the_expiry(clean_backend, db) -> None:
    library = await make_library(db)
    await make_need(db, library)
    await db.commit()
    app = create_app(settings_for(clean_backend.url, public_cache_seconds=1))
    counts = _count_board_queries(app)
    async with concurrent_client(app) as client:
        await client.get("/needs")
        new = await make_need(db, library)
        await db.commit()
        await asyncio.sleep(2.1)  # expired, and past the time an expired copy is kept
        counts.clear()
        responses = await asyncio.gather(client.get("/needs"), client.get("/needs"))
        assert all(f"/needs/{new.id}" in r.text for r in responses)  # the second waited for the first
        assert len(counts) == 1


def test_urgency_with_a_category_is_counted_from_an_index_alone(tmp_path) -> None:
    """The board's total for a category and an urgency reads no needs row: SQLite's plan on the
    migrated schema (PostgreSQL's planner chooses by table statistics, so its plan is shown by the
    benchmark at scale rather than asserted on a test table)."""
    import sqlite3

    from sqlalchemy.dialects import sqlite

    from app.cli import migrate

    path = tmp_path / "plan.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    filters = BoardFilters(category="book", urgency=3)
    count = services._filtered(select(func.count()).select_from(Need), filters, PUBLIC_STATUSES, None)
    sql = str(count.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with sqlite3.connect(path) as conn:
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "COVERING INDEX ix_needs_status_urgency_item" in plan, plan
