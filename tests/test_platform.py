"""Health, language, formatting, logs, OpenAPI, static files, page weight."""

from __future__ import annotations

import gzip
import json
import logging
import re

from babel.messages.pofile import read_po
from litestar.testing import AsyncTestClient

from app import i18n
from app.asgi import create_app
from app.settings import ROOT
from tests.conftest import settings_for


async def test_healthz_ok(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_503_when_database_unreachable(tmp_path) -> None:
    unreachable = [
        f"sqlite+aiosqlite:///{tmp_path}/missing-dir/nope.db",
        "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",  # nothing listens on port 1
    ]
    for url in unreachable:
        app = create_app(settings_for(url))
        async with AsyncTestClient(app=app) as client:
            response = await client.get("/healthz")
        assert response.status_code == 503, url
        assert response.json()["status"] == "unavailable"


async def test_language_switch_is_remembered(client) -> None:
    assert '<html lang="vi">' in (await client.get("/")).text
    response = await client.get("/lang/en", params={"next": "/register"})
    assert response.status_code == 303 and response.headers["location"] == "/register"
    page = (await client.get("/")).text
    assert '<html lang="en">' in page and "Grassroots Library Giving" in page
    assert "Open needs" in page
    await client.get("/lang/vi")
    assert "Nhu cầu đang mở" in (await client.get("/")).text


async def test_language_switch_keeps_the_page_and_its_query(client) -> None:
    """Switching language on a filtered board keeps the filters: the link carries the whole
    address, and the switch leads back to it."""
    html = (await client.get("/needs", params={"q": "muong la", "sort": "newest"})).text
    link = re.search(r'href="(/lang/en\?next=[^"]+)"', html)
    assert link, html[:3000]
    response = await client.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 303 and response.headers["location"] == "/needs?q=muong+la&sort=newest"


async def test_language_switch_ignores_unknown_and_offsite(client) -> None:
    response = await client.get("/lang/fr", params={"next": "https://evil.example/"})
    assert response.headers["location"] == "/"
    assert '<html lang="vi">' in (await client.get("/")).text


async def test_language_switch_and_sign_in_come_back_to_the_page_a_form_was_sent_from(client, db) -> None:
    """A page that answers a form (sent back with a message) has the address the form was posted
    to, which cannot be opened: switching language, or signing in again, comes back to the page
    the form was on (htmx's HX-Current-URL, else the Referer; never another site), with its query."""
    from app.auth.models import Role
    from tests.support import csrf_token, make_user, post_form, sign_in

    site = str(client.base_url).rstrip("/")
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    await sign_in(client, "a@example.vn")
    refused = await post_form(client, "/account/contact", {"phone": "gọi tôi"}, headers={"Referer": f"{site}/account"})
    assert refused.status_code == 422
    assert 'href="/lang/en?next=/account"' in refused.text
    back = await client.get("/lang/en", params={"next": "/account"})
    assert back.headers["location"] == "/account" and (await client.get("/account")).status_code == 200
    elsewhere = await post_form(client, "/account/contact", {"phone": "x"}, headers={"Referer": "https://evil.example/a"})
    assert 'href="/lang/vi?next=/"' in elsewhere.text
    board = await client.get("/needs", params={"category": "book"})
    assert 'href="/lang/vi?next=/needs%3Fcategory%3Dbook"' in board.text

    await post_form(client, "/logout", {})
    token = await csrf_token(client)
    expired = await client.post("/library/needs/validate", data={"_csrf_token": token}, headers={
        "HX-Request": "true", "HX-Current-URL": f"{site}/library/needs/new"})
    assert expired.headers["HX-Redirect"] == "/login?next=%2Flibrary%2Fneeds%2Fnew"
    listed = await client.get("/library/needs", params={"page": "2", "x": "1"}, follow_redirects=False)
    assert listed.headers["location"] == "/login?next=%2Flibrary%2Fneeds%3Fpage%3D2%26x%3D1"


async def test_a_signed_in_persons_pages_are_not_kept_by_the_browser(client, db) -> None:
    """On a shared phone, Back after signing out must not show the last person's pages."""
    from app.auth.models import Role
    from tests.support import make_user, post_form, sign_in

    assert "no-store" not in (await client.get("/needs")).headers.get("cache-control", "")
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    await sign_in(client, "a@example.vn")
    for url in ("/account", "/account/pledges", "/needs"):
        assert (await client.get(url)).headers.get("cache-control") == "no-store", url
    assert "no-store" not in (await client.get("/static/css/site.css")).headers.get("cache-control", "")
    logout = await post_form(client, "/logout", {})
    assert logout.headers.get("cache-control") == "no-store"


def test_vnd_and_dates_formatted_per_locale() -> None:
    import datetime as dt

    i18n.set_locale("vi")
    assert i18n.format_vnd(1_500_000) == "1.500.000\xa0₫"
    assert i18n.format_number(3321) == "3.321"
    assert i18n.format_date(dt.date(2026, 3, 8)) == "08/03/2026"
    # A moment is the day it was in Vietnam: 20:00 UTC on 7 March is 03:00 on 8 March there.
    assert i18n.format_date(dt.datetime(2026, 3, 7, 20, tzinfo=dt.UTC)) == "08/03/2026"
    assert i18n.format_document_date(dt.date(2026, 3, 8)) == "ngày 08 tháng 3 năm 2026"
    i18n.set_locale("en")
    assert i18n.format_vnd(1_500_000) == "₫1,500,000"
    assert i18n.format_date(dt.date(2026, 3, 8)) == "Mar 8, 2026"
    i18n.set_locale("vi")


def test_vietnamese_catalog_is_complete() -> None:
    """Every message in the code and templates has its Vietnamese translation."""
    with (ROOT / "app/translations/vi/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    with (ROOT / "app/translations/messages.pot").open("rb") as fh:
        template = read_po(fh)
    missing = [m.id for m in template if m.id and not (catalog.get(m.id) and catalog.get(m.id).string)]
    assert missing == []
    # And the template is up to date with the templates' source (spot check: every _("...") found).
    sources = "\n".join(p.read_text() for p in (ROOT / "templates").rglob("*.html"))
    used = set(re.findall(r'_\("([^"]+)"', sources))
    assert used <= {m.id for m in template if isinstance(m.id, str)}


async def test_one_structured_log_line_per_request(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="app.request"):
        await client.get("/api/v1/provinces")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.request"]
    assert len(lines) == 1
    assert lines[0]["path"] == "/api/v1/provinces" and lines[0]["status"] == 200
    assert lines[0]["duration_ms"] >= 0


async def test_openapi_document(client) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/communes" in doc["paths"] and "/api/v1/provinces" in doc["paths"]


async def test_pages_go_gzipped_to_clients_that_accept_it(client) -> None:
    """Over slow links: HTML, fragments, CSS and JSON are gzipped when the client accepts it (and
    a cached public page still goes plain to one that does not)."""
    for url in ("/", "/needs", "/static/css/site.css", "/schema/openapi.json"):
        response = await client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, url
        assert response.headers.get("content-encoding") == "gzip", url
        assert "accept-encoding" in response.headers.get("vary", "").lower(), url
    plain = await client.get("/needs", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and "Nhu cầu" in plain.text


async def test_pages_are_light(client) -> None:
    """Home page with its CSS and JS under 60 KB gzipped, all from our own host."""
    page = await client.get("/")
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert assets and not re.search(r'(?:href|src)="https?://', page.text)
    total = len(gzip.compress(page.content))
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        total += len(gzip.compress(response.content))
    assert total < 60 * 1024, total


async def test_unknown_paths_get_the_sites_404_page_in_the_visitors_language(client) -> None:
    for path in ("/nonexistent", "/verify/", "/certificates/", "/honor-rolls/abc"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "Trang này không tồn tại." in response.text, path
    api = await client.get("/api/v1/nonexistent")
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")
    # An id beyond what the database's keys hold names nothing (the database would refuse the number).
    for path in ("/honor-rolls/99999999999999999999", "/needs/2147483648", "/communes/-99999999999"):
        response = await client.get(path)
        assert response.status_code == 404 and "Trang này không tồn tại." in response.text, path


async def test_an_unexpected_error_gets_the_sites_error_page_and_is_logged(app, caplog) -> None:
    from litestar import get

    @get("/test-only/boom", sync_to_thread=False)
    def boom() -> str:
        raise RuntimeError("the thing nobody expected")

    @get("/api/v1/test-only/boom", sync_to_thread=False)
    def api_boom() -> str:
        raise RuntimeError("the thing nobody expected")

    app.register(boom)
    app.register(api_boom)
    async with AsyncTestClient(app=app) as client:
        with caplog.at_level(logging.ERROR, logger="app.request"):
            page = await client.get("/test-only/boom")
        api = await client.get("/api/v1/test-only/boom")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "Đã có lỗi ở phía chúng tôi" in page.text and "nobody expected" not in page.text
    assert any("the thing nobody expected" in str(r.exc_info) for r in caplog.records if r.exc_info)
    assert api.status_code == 500 and api.json()["status_code"] == 500


async def test_a_row_written_once_goes_with_its_requests_rollback(db) -> None:
    """`insert_once` writes inside a savepoint; on SQLite a savepoint opened before any other write
    used to be the outermost, so releasing it committed the row whatever the request did next."""
    from sqlalchemy import func, select

    from app.db import insert_once
    from recognition.models import Nomination
    from tests.support import SON_LA

    await db.scalar(select(func.count()).select_from(Nomination))  # a read only: no write yet
    await insert_once(db, Nomination(province_code=SON_LA, period_key="2026", nominee_name="Lò Văn Tình",
                                     nominee_kind="volunteer", form="thank_you_letter", work="w", evidence="e"),
                      "taken")
    await db.rollback()
    assert await db.scalar(select(func.count()).select_from(Nomination)) == 0


async def test_a_refused_csrf_token_is_logged_with_the_status_sent(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="app.request"):
        response = await client.post("/logout", data={})
    assert response.status_code == 403
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.request"]
    assert [line["status"] for line in lines] == [403]
