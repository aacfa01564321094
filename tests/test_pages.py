"""Every HTML page of the app, as each role sees it on the demo data set: it answers, it is light
(DESIGN.md convention 15: 60 KB gzipped with its assets, none from another site), and a reader on a
phone or a screen reader finds its language, its title, one h1, a name for every form control and
alt text on images; in English it shows no Vietnamese that is not data (names of people and places).

The pages are the app's own GET routes, so a new page is walked without being listed here; only
the values of path parameters are (path_values), and routes that are not pages (NOT_PAGES)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import JSON, String, Text, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.asgi import create_app
from app.auth import reset
from app.auth.models import Role, User
from app.cli import seed_all
from app.db import Base
from app.demo import DEMO_PASSWORD, LIBRARIAN_EMAIL, OFFICER_EMAIL, SPONSOR_EMAIL
from donations import services as donations
from donations.models import Pledge, PledgeKind, PledgeStatus, Shipment, ShipmentStatus, Target
from donations.schemas import PledgeIn
from needs.models import ItemKind, Need, NeedStatus
from needs.schemas import NeedIn
from needs.services import create_need
from recognition import services as recognition
from recognition.models import HonorRoll, Nomination, RollEntry
from recognition.schemas import CorrectionIn
from tests.conftest import Backend, _reset, settings_for
from tests.page_checks import (
    PAGE_BUDGET,
    VIETNAMESE,
    asset_urls,
    describe,
    gzipped_size,
    is_same_origin,
    parse,
    shown_text,
    structure_problems,
)
from tests.support import sign_in

ORIGIN = "http://testserver.local"
ROLES: dict[str | None, str | None] = {  # role: the demo account that has it
    None: None,
    Role.SPONSOR.value: SPONSOR_EMAIL,
    Role.LIBRARIAN.value: LIBRARIAN_EMAIL,
    Role.OFFICER.value: OFFICER_EMAIL,
}
# GET routes that are not pages: the API, files, documents, redirects.
NOT_PAGES = {
    "/healthz": "JSON",
    "/lang/{code:str}": "a redirect back to the page",
    "/deliveries/receipts/{receipt_id:int}/photo": "a photo",
    "/pledges/{reference:str}/confirmation.pdf": "PDF",
    "/pledges/{reference:str}/receipt.pdf": "PDF",
    "/pledges/{reference:str}/vietqr.png": "an image of the pending bank transfer's code",
    "/certificates/{code:str}": "PDF",
    "/honor-rolls/{roll_id:int}/export.csv": "CSV",
    "/honor-rolls/{roll_id:int}/export.xlsx": "XLSX",
    "/honor-rolls/{roll_id:int}/snapshot.json": "JSON",
}
NOT_PAGE_PREFIXES = ("/api/", "/static/", "/schema")
# A page whose guard lets in more roles than the page does (it checks whose the record is).
ONLY_FOR = {"/pledges/{reference:str}": {Role.SPONSOR.value, Role.OFFICER.value},
            "/pledges/{reference:str}/cancel": {Role.SPONSOR.value}}


@dataclass
class Seeded:
    """Records of the demo data set the pages with path parameters show."""

    commune: int  # the demo librarian's
    need: int  # an open need of the demo librarian's library
    draft: int  # a draft need of the demo librarian's library
    pledge: str  # one of the demo sponsor's pledges (its reference)
    shipment: int  # a delivered one
    planned_shipment: int
    unpaid_pledge: str  # a pledge awaiting payment (the page offers the ways to pay)
    open_pledge: str  # the demo sponsor's, awaiting a bank transfer (its code, the question before canceling)
    nomination: int
    roll: int  # the published honor roll
    draft_roll: int  # its correction, being written
    certificate: str  # a certificate's verification code on it
    reset_token: str  # a password reset link's token, for the demo sponsor
    data: list[str]  # every Vietnamese text the data set holds (names of people and places ...), longest first
    catalogue_vi: list[str]  # the item catalogue's Vietnamese names


def path_values(s: Seeded) -> dict[str, str]:
    """Each route with path parameters, as the URL of a page of the demo data."""
    return {
        "/communes/{code:int}": f"/communes/{s.commune}",
        "/officer/communes/{code:int}": f"/officer/communes/{s.commune}",
        "/needs/{need_id:int}": f"/needs/{s.need}",
        "/library/needs/{need_id:int}/edit": f"/library/needs/{s.draft}/edit",
        "/pledges/{reference:str}": f"/pledges/{s.pledge}",
        "/pledges/{reference:str}/cancel": f"/pledges/{s.open_pledge}/cancel",
        "/officer/deliveries/{shipment_id:int}": f"/officer/deliveries/{s.shipment}",
        "/officer/recognition/nominations/{nomination_id:int}": f"/officer/recognition/nominations/{s.nomination}",
        "/officer/recognition/rolls/{roll_id:int}": f"/officer/recognition/rolls/{s.roll}",
        "/honor-rolls/{roll_id:int}": f"/honor-rolls/{s.roll}",
        "/verify/{code:str}": f"/verify/{s.certificate}",
        "/password/reset/{token:str}": f"/password/reset/{s.reset_token}",
        # Without a query the preview page only says what it needs; with one it shows where a gift goes.
        "/give/preview": "/give/preview?kind=money&target=pool&amount=2000000",
    }


def extra_pages(s: Seeded) -> list[tuple[str, set[str | None]]]:
    """Pages again, with the forms another state of their record shows."""
    officer, librarian, sponsor = Role.OFFICER.value, Role.LIBRARIAN.value, Role.SPONSOR.value
    return [
        (f"/give?need={s.need}", {sponsor}),
        (f"/needs/{s.draft}", {librarian, officer}),
        (f"/pledges/{s.unpaid_pledge}", {officer}),
        (f"/pledges/{s.open_pledge}", {sponsor}),
        (f"/officer/deliveries/{s.planned_shipment}", {officer}),
        (f"/officer/recognition/rolls/{s.draft_roll}", {officer}),
        (f"/officer/audit?entity=pledge:{s.pledge}", {officer}),
        (f"/officer/audit?entity=need:{s.need}", {officer}),
    ]


def _roles_of(handler: Any) -> set[str | None]:
    """Who the route's guards let in (app.auth.guards.requires names each guard after its roles)."""
    roles: set[str | None] = {None, *(r.value for r in Role)}
    for guard in handler.resolve_guards():
        name = getattr(guard, "func", guard).__name__
        assert name.startswith("requires_"), f"{handler}: unknown guard {name}; say here who it lets in"
        wanted = name.removeprefix("requires_").split("_")
        roles &= {r.value for r in Role} if wanted == ["user"] else set(wanted)
    return roles


def pages(app: Litestar, seeded: Seeded) -> list[tuple[str, set[str | None]]]:
    """(URL, roles who may see it) for every page of the app."""
    values, found = path_values(seeded), []
    for route in app.routes:
        if route.path.startswith(NOT_PAGE_PREFIXES) or route.path in NOT_PAGES:
            continue
        for handler in getattr(route, "route_handlers", []):
            if "GET" not in handler.http_methods:
                continue
            url = values.get(route.path, route.path)
            assert "{" not in url, f"new page {route.path}: give its path parameters in path_values"
            found.append((url, ONLY_FOR.get(route.path, _roles_of(handler))))
    return found + extra_pages(seeded)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# Texts the database holds that an English page should not show: the item catalogue's Vietnamese
# names (items are named in English), except on the page where officers keep both names.
CATALOGUE_VI = ("item_kinds", "name_vi")
BILINGUAL_PAGES = {"/officer/item-kinds"}


async def _seed(url: str) -> Seeded:
    await _reset(url)
    await seed_all(settings_for(url), with_demo=True)
    engine = create_async_engine(url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        librarian = await db.scalar(select(User).where(User.email == LIBRARIAN_EMAIL))
        sponsor_id = await db.scalar(select(User.id).where(User.email == SPONSOR_EMAIL))
        assert librarian is not None and librarian.library_id is not None
        # The demo librarian's needs are all open: one more, being written (the edit form).
        draft = await create_need(db, librarian, NeedIn(item_kind="book/children", quantity=40,
                                                        reason="Sách cho lớp học hè của thiếu nhi trong xã."))
        # The demo sponsor pledges to the pool and chooses to pay by bank transfer.
        sponsor = await db.get(User, sponsor_id)
        assert sponsor is not None
        open_pledge = await donations.create_pledge(db, sponsor, PledgeIn(
            kind=PledgeKind.MONEY, target=Target.POOL, amount=500_000), settings_for(url))
        await donations.new_payment(db, open_pledge, "bank_transfer")
        # The office corrects the published roll: a new version, a draft with its forms.
        officer = await db.scalar(select(User).where(User.email == OFFICER_EMAIL))
        published = await db.scalar(select(HonorRoll).order_by(HonorRoll.id))
        draft_roll = await recognition.correct(db, officer, published, CorrectionIn(
            change_note="Sửa địa chỉ của một nhà tài trợ theo đề nghị của xã."))
        await db.commit()
        need = await db.scalar(select(Need).where(Need.library_id == librarian.library_id,
                                                  Need.status == NeedStatus.OPEN).order_by(Need.id))
        roll = published.id
        data: set[str] = set()
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)
                       and (table.name, c.name) != CATALOGUE_VI]
            if columns:
                for row in await db.execute(select(*columns)):
                    data.update(s.strip() for value in row for s in _strings(value) if VIETNAMESE.search(s))
        catalogue_vi = list(await db.scalars(select(ItemKind.name_vi)))
        seeded = Seeded(
            commune=need.commune_code,
            need=need.id,
            draft=draft.id,
            pledge=await db.scalar(select(Pledge.reference).where(Pledge.sponsor_id == sponsor_id)
                                   .order_by(Pledge.id)),
            shipment=await db.scalar(select(func.min(Shipment.id)).where(Shipment.status == ShipmentStatus.DELIVERED)),
            planned_shipment=await db.scalar(select(func.min(Shipment.id))
                                             .where(Shipment.status == ShipmentStatus.PLANNED)),
            open_pledge=open_pledge.reference,
            unpaid_pledge=await db.scalar(select(Pledge.reference).where(Pledge.status == PledgeStatus.AWAITING_PAYMENT)
                                          .order_by(Pledge.id)),
            nomination=await db.scalar(select(func.min(Nomination.id))),
            roll=roll,
            draft_roll=draft_roll.id,
            certificate=await db.scalar(select(RollEntry.code).where(RollEntry.roll_id == roll,
                                                                     RollEntry.code.is_not(None))
                                        .order_by(RollEntry.id)),
            reset_token=reset.make_token(settings_for(url).resolved_secret(), sponsor),
            data=sorted(data, key=len, reverse=True),
            catalogue_vi=sorted(catalogue_vi, key=len, reverse=True),
        )
    await engine.dispose()
    return seeded


@pytest.fixture(scope="module")
def demo(backend: Backend) -> Seeded:
    """The demo data set (`python -m app seed`), loaded once for the module's tests."""
    return asyncio.run(_seed(backend.url))


@pytest.fixture
async def demo_client(backend: Backend, demo: Seeded) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings_for(backend.url)), base_url=ORIGIN) as c:
        c.follow_redirects = False
        yield c


async def _as(client: AsyncTestClient[Litestar], role: str | None, locale: str) -> None:
    if ROLES[role]:
        await sign_in(client, ROLES[role], DEMO_PASSWORD)
    await client.get(f"/lang/{locale}")


def _urls_for(client: AsyncTestClient[Litestar], demo: Seeded, role: str | None) -> list[str]:
    return [url for url, roles in pages(client.app, demo) if role in roles]


@pytest.mark.parametrize("role", list(ROLES))
async def test_every_page_is_light_and_readable(demo_client, demo, role) -> None:  # type: ignore[no-untyped-def]
    await _as(demo_client, role, "vi")
    assets: dict[str, int] = {}
    problems = []
    urls = _urls_for(demo_client, demo, role)
    assert urls
    for url in urls:
        response = await demo_client.get(url)
        if response.status_code != 200 or not response.headers["content-type"].startswith("text/html"):
            problems.append(f"{url}: {response.status_code} {response.headers['content-type']}")
            continue
        doc = parse(response.text)
        weight = gzipped_size(response.content)
        for asset in asset_urls(doc):
            if not is_same_origin(asset, ORIGIN):
                problems.append(f"{url}: asset from another site: {asset}")
                continue
            if asset not in assets:
                fetched = await demo_client.get(asset)
                assert fetched.status_code == 200, f"{url}: {asset} is {fetched.status_code}"
                assets[asset] = gzipped_size(fetched.content)
            weight += assets[asset]
        if weight > PAGE_BUDGET:
            problems.append(f"{url}: {weight / 1024:.1f} KB gzipped with its assets (at most {PAGE_BUDGET // 1024})")
        problems += [f"{url}: {p}" for p in structure_problems(doc, "vi")]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("role", "url", "status"), [(None, "/needs/999999", 404), ("sponsor", "/officer", 403),
                                                     (None, "/password/reset/a-link-gone-stale", 400)])
async def test_error_pages_are_readable(demo_client, demo, role, url, status) -> None:  # type: ignore[no-untyped-def]
    await _as(demo_client, role, "vi")
    response = await demo_client.get(url)
    assert response.status_code == status
    assert structure_problems(parse(response.text), "vi") == []


def _vietnamese_left(text: str, data: list[str]) -> str:
    """What is still Vietnamese in a text once the data in it (names ...) is taken out."""
    for known in data:
        if known in text:
            text = text.replace(known, " ")
            if not VIETNAMESE.search(text):
                return ""
    return text if VIETNAMESE.search(text) else ""


@pytest.mark.parametrize("role", list(ROLES))
async def test_english_pages_show_no_vietnamese_but_data(demo_client, demo, role) -> None:  # type: ignore[no-untyped-def]
    await _as(demo_client, role, "en")
    problems = []
    for url in _urls_for(demo_client, demo, role):
        response = await demo_client.get(url)
        assert response.status_code == 200, url
        doc = parse(response.text)
        html = next(doc.iter("html"))
        assert html.attrs.get("lang") == "en", url
        data = demo.data + demo.catalogue_vi if url in BILINGUAL_PAGES else demo.data
        seen = set()
        for element, text in shown_text(doc):
            left = _vietnamese_left(text, data)
            if left and (element.tag, left) not in seen:
                seen.add((element.tag, left))
                problems.append(f"{url}: {describe(element)} {text!r}")
    assert not problems, "\n".join(problems)


async def test_the_walk_covers_every_page(demo_client, demo) -> None:  # type: ignore[no-untyped-def]
    """Every page is someone's, and the list of parameters names no route that is gone."""
    walked = pages(demo_client.app, demo)
    assert all(roles for _url, roles in walked), [url for url, roles in walked if not roles]
    routes = {route.path for route in demo_client.app.routes}
    assert set(path_values(demo)) <= routes and set(NOT_PAGES) <= routes
    assert len(walked) > 30 and all("None" not in url for url, _roles in walked)  # every record was found


def test_the_checks_find_what_they_look_for() -> None:
    doc = parse("""<!doctype html><html lang="en"><head><link rel="stylesheet" href="/static/css/site.css">
<script src="https://cdn.example.com/htmx.min.js"></script></head><body><h1>Một</h1><h1>Hai</h1>
<label for="a">A</label><input id="a" name="a"><input id="b" name="b" type="email"><input type="hidden" name="h">
<label>C <select name="c"><option>x</option></select></label><textarea name="d" aria-label="D"></textarea>
<span id="e-label">E</span><input name="e" aria-labelledby="e-label"><input name="f" aria-labelledby="nowhere">
<img src="/static/logo.png"><img src="data:image/png;base64,AA" alt=""><button type="submit"></button>
<p id="twice">1</p><p id="twice">2</p><input type="submit" value="Gửi"></body></html>""")
    problems = structure_problems(doc, "vi")
    assert problems == [
        "<html lang> is 'en', not 'vi'",
        "0 <title> ([]): one, not empty",
        "2 <h1> (['Một', 'Hai']): exactly one",
        "ids used twice (labels point at the first): ['twice']",
        'form control without a name (label, aria-label): <input id="b" name="b" type="email">',
        'form control without a name (label, aria-label): <input name="f">',
        'button without a name: <button type="submit">',
        'image without alt: <img src="/static/logo.png">',
    ]
    assets = asset_urls(doc)
    assert assets == ["/static/css/site.css", "https://cdn.example.com/htmx.min.js", "/static/logo.png"]
    assert [is_same_origin(a, ORIGIN) for a in assets] == [True, False, True]
    assert is_same_origin(f"{ORIGIN}/static/x.css", ORIGIN) and not is_same_origin("//cdn.example.com/x.js", ORIGIN)
    shown = [text for _element, text in shown_text(doc)]
    assert "Gửi" in shown and "Một" in shown and "x" in shown
    assert _vietnamese_left("Thư viện Mường La: 3 needs", ["Thư viện Mường La"]) == ""
    assert _vietnamese_left("Nhu cầu of Thư viện Mường La", ["Thư viện Mường La"]).strip() == "Nhu cầu of"
