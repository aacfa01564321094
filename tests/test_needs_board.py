"""The public needs board, the commune page and the JSON list: filters, search, sort, pages."""

from __future__ import annotations

import datetime as dt
import gzip
import re

import pytest

from app.auth.models import Role
from app.geography.models import LibraryKind
from needs.models import NeedStatus, Urgency
from tests.support import make_library, make_need, make_user, sign_in

S = NeedStatus
CHIENG_COI = 3670  # Phường Chiềng Cơi, Sơn La
HANOI_HOAN_KIEM = 4  # Phường Hoàn Kiếm, Hà Nội


@pytest.fixture
async def world(db):  # type: ignore[no-untyped-def]
    """Needs in two Sơn La communes and Hà Nội, in several states."""
    muong_la = await make_library(db)
    chieng_coi = await make_library(db, name="Tủ sách pháp luật Chiềng Cơi", commune_code=CHIENG_COI)
    chieng_coi.kind = LibraryKind.LAW_BOOKCASE
    hanoi = await make_library(db, name="Thư viện Hoàn Kiếm", commune_code=HANOI_HOAN_KIEM)
    t0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    needs = {
        "children": await make_need(db, muong_la, urgency=Urgency.NORMAL, created_at=t0, pledged_quantity=50),
        "computer": await make_need(
            db,
            muong_la,
            item_kind_key="equipment/computer",
            quantity=2,
            unit_value=12_000_000,
            urgency=Urgency.CRITICAL,
            created_at=t0 + dt.timedelta(days=1),
        ),
        "law": await make_need(
            db,
            chieng_coi,
            item_kind_key="book/law",
            urgency=Urgency.HIGH,
            created_at=t0 + dt.timedelta(days=2),
            pledged_quantity=90,
        ),
        "hanoi": await make_need(db, hanoi, created_at=t0 + dt.timedelta(days=3)),
        "fulfilled": await make_need(db, muong_la, status=S.FULFILLED, created_at=t0),
        "draft": await make_need(db, muong_la, status=S.DRAFT, created_at=t0),
        "submitted": await make_need(db, chieng_coi, status=S.SUBMITTED, created_at=t0),
    }
    await db.commit()
    return {k: v.id for k, v in needs.items()}


async def _ids(client, **params) -> list[int]:  # type: ignore[no-untyped-def]
    response = await client.get("/api/v1/needs", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] >= len(body["items"])
    return [item["id"] for item in body["items"]]


async def test_default_is_open_needs_most_urgent_first(client, world) -> None:
    assert await _ids(client) == [world["computer"], world["law"], world["hanoi"], world["children"]]


async def test_filters(client, world) -> None:
    assert set(await _ids(client, province_code=14)) == {world["computer"], world["law"], world["children"]}
    assert set(await _ids(client, commune_code=CHIENG_COI)) == {world["law"]}
    assert set(await _ids(client, library_kind="law_bookcase")) == {world["law"]}
    assert set(await _ids(client, category="equipment")) == {world["computer"]}
    assert set(await _ids(client, item="book/law")) == {world["law"]}
    assert set(await _ids(client, urgency=4)) == {world["computer"]}
    assert set(await _ids(client, status="fulfilled")) == {world["fulfilled"]}


async def test_search_without_diacritics_matches_commune_or_library(client, world) -> None:
    assert set(await _ids(client, q="chieng coi")) == {world["law"]}
    assert set(await _ids(client, q="MUONG LA")) == {world["computer"], world["children"]}
    assert set(await _ids(client, q="tu sach phap luat")) == {world["law"]}
    assert await _ids(client, q="không có") == []


async def test_sorts(client, world) -> None:
    assert await _ids(client, sort="newest") == [world["hanoi"], world["law"], world["computer"], world["children"]]
    # Least covered: computer 0/2, hanoi 0/100, children 50/100, law 90/100
    assert await _ids(client, sort="least_covered") == [
        world["computer"],
        world["hanoi"],
        world["children"],
        world["law"],
    ]


async def test_pages(client, world) -> None:
    first = await client.get("/api/v1/needs", params={"per_page": 2, "page": 1})
    second = await client.get("/api/v1/needs", params={"per_page": 2, "page": 2})
    assert first.json()["total"] == 4
    assert [i["id"] for i in first.json()["items"] + second.json()["items"]] == await _ids(client)


async def test_anonymous_never_sees_unapproved_needs(client, world) -> None:
    for status in ("draft", "submitted", "returned", "rejected"):
        assert await _ids(client, status=status) == []
    everything = await client.get("/api/v1/needs", params={"status": ""})
    assert world["draft"] not in [i["id"] for i in everything.json()["items"]]
    assert world["fulfilled"] in [i["id"] for i in everything.json()["items"]]
    assert (await client.get(f"/needs/{world['submitted']}")).status_code == 404
    assert (await client.get(f"/api/v1/needs/{world['draft']}")).status_code == 404
    page = await client.get("/communes/14", params={})
    assert page.status_code == 404  # 14 is a province, not a commune code


async def test_officer_sees_every_status(client, db, world) -> None:
    officer = await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, officer.email)
    assert await _ids(client, status="submitted") == [world["submitted"]]


async def test_bad_filters_are_400_not_500(client, world) -> None:
    for params in (
        {"urgency": "9"},
        {"sort": "random"},
        {"page": "0"},
        {"per_page": "1000"},
        {"status": "lost"},
        {"q": "x" * 101},
        {"province_code": "Sơn La"},
    ):
        response = await client.get("/api/v1/needs", params=params)
        assert response.status_code == 422, params
        page = await client.get("/needs", params=params)
        # The page falls back to the default sort and a page it has; other bad filters are refused.
        assert page.status_code == (200 if "sort" in params or "page" in params else 422), params


async def test_board_page_falls_back_to_its_last_page_and_default_sort(client, world) -> None:
    default = await client.get("/needs")
    for params in ({"sort": "xyz"}, {"page": "99999"}, {"page": "abc"}, {"page": "0"}):
        page = await client.get("/needs", params=params)
        assert page.status_code == 200, params
        assert re.findall(r'href="/needs/(\d+)"', page.text) == re.findall(r'href="/needs/(\d+)"', default.text)
    last = await client.get("/needs", params={"province_code": 14, "per_page": 2, "page": 99999})
    assert last.status_code == 200 and "2 / 2" in last.text
    assert f"/needs/{world['children']}" in last.text  # the least urgent of Sơn La's three is on page 2


async def test_board_page_and_fragment(client, world) -> None:
    page = await client.get("/needs", params={"q": "muong la", "province_code": 14})
    assert page.status_code == 200 and "<html" in page.text
    assert f"/needs/{world['computer']}" in page.text and f"/needs/{world['law']}" not in page.text
    assert "Xã Mường La" in page.text  # the commune select for the chosen province
    fragment = await client.get("/needs", params={"q": "muong la"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and f"/needs/{world['computer']}" in fragment.text
    assert "2 nhu cầu" in fragment.text


async def test_board_page_is_light(client, world) -> None:
    page = await client.get("/needs", params={"province_code": 14})
    total = len(gzip.compress(page.content))
    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
        total += len(gzip.compress((await client.get(asset)).content))
    assert total < 60 * 1024, total


async def test_commune_page(client, world) -> None:
    page = await client.get("/communes/3808")
    assert page.status_code == 200
    assert "Xã Mường La" in page.text and "Thư viện Mường La" in page.text
    assert f"/needs/{world['children']}" in page.text and f"/needs/{world['draft']}" not in page.text


async def test_commune_page_counts_and_pages_every_need(client, db) -> None:
    library = await make_library(db)
    for i in range(55):
        await make_need(db, library, quantity=10, unit_value=10_000, delivered_quantity=i % 3,
                        status=S.FULFILLED if i % 5 == 0 else S.OPEN)
    await make_need(db, library, quantity=10, unit_value=10_000, delivered_quantity=9, status=S.DRAFT)
    await db.commit()
    expected = sum((i % 3) * 10_000 for i in range(55))  # the draft is not public
    first = await client.get("/communes/3808")
    assert re.search(r'id="received-value">([^<]+)<', first.text).group(1).replace("\xa0", " ") == (
        f"{expected:,}".replace(",", ".") + " ₫")
    assert "55 nhu cầu" in first.text and "1 / 2" in first.text
    second = await client.get("/communes/3808", params={"page": 2})
    ids = set(re.findall(r'href="/needs/(\d+)"', first.text)) | set(re.findall(r'href="/needs/(\d+)"', second.text))
    assert len(ids) == 55 and "2 / 2" in second.text
    assert "2 / 2" in (await client.get("/communes/3808", params={"page": "999"})).text
    assert "1 / 2" in (await client.get("/communes/3808", params={"page": "x"})).text


async def test_api_names_items_in_the_requests_language(client, world) -> None:
    law = (await client.get(f"/api/v1/needs/{world['law']}")).json()
    assert law["item_name"] == "Pháp luật"
    await client.get("/lang/en")
    assert (await client.get(f"/api/v1/needs/{world['law']}")).json()["item_name"] == "Law"
    items = (await client.get("/api/v1/needs", params={"item": "book/law"})).json()["items"]
    assert [i["item_name"] for i in items] == ["Law"]


async def test_home_counts_open_needs(client, world) -> None:
    page = await client.get("/")
    figure = re.search(r"Nhu cầu đang mở</dt><dd>(\d+)</dd>", page.text)
    assert figure and figure.group(1) == "3"  # Sơn La's open needs


async def test_public_board_cache_is_shared_by_anonymous_visitors_only(clean_backend, db) -> None:
    from litestar.testing import AsyncTestClient

    from app.asgi import create_app
    from tests.conftest import settings_for

    library = await make_library(db)
    first = await make_need(db, library)
    officer = await make_user(db, Role.OFFICER)
    await db.commit()
    app = create_app(settings_for(clean_backend.url, public_cache_seconds=60))
    async with AsyncTestClient(app=app) as client:
        client.follow_redirects = False
        page = await client.get("/needs")
        assert f"/needs/{first.id}" in page.text
        assert "x-csrftoken" not in page.text and "_csrf_token" not in page.text  # nothing secret inside
        first_token = client.cookies.get("csrftoken")
        second = await make_need(db, library)
        await db.commit()
        client.cookies.clear()  # another visitor
        cached = await client.get("/needs")
        assert f"/needs/{second.id}" not in cached.text  # served from the cache
        assert client.cookies.get("csrftoken") not in (None, first_token)  # each visitor their own
        client.cookies.set("lang", "en")
        english = await client.get("/needs")
        assert f"/needs/{second.id}" in english.text  # another language is another entry
        client.cookies.set("lang", "vi")
        plain = await client.get("/needs", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers  # a client without gzip never gets the gzipped copy
        assert f"/needs/{second.id}" in plain.text and "Nhu cầu" in plain.text
        zipped = await client.get("/needs", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers.get("content-encoding") == "gzip" and f"/needs/{second.id}" not in zipped.text
        await sign_in(client, officer.email)
        fresh = await client.get("/needs")
        assert f"/needs/{second.id}" in fresh.text  # signed-in users are never served the cache
