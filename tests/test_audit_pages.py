"""The officers' audit pages: who changed a need, a pledge, a shipment or a statement line, when and
why, from the entity's own page; the whole trail paged and filtered; for officers only."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from sqlalchemy import select

from app.audit import AuditLog, record
from app.auth.models import Role
from donations import held_money
from donations.models import StatementLine
from needs.models import NeedStatus
from tests.support import flat, make_library, make_need, make_user, post_form, sign_in
from tests.test_bank_transfers import csv_bytes, officer, pledge, sponsor, upload  # noqa: F401 - fixtures

REASON = "Trùng với nhu cầu đã đăng tháng trước"


def rows(page: str) -> list[str]:
    """The trail's rows as flat text, in order."""
    found = re.findall(r"<tr id=\"audit-\d+\">(.*?)</tr>", page, re.S)
    return [flat(re.sub(r"<[^>]+>", " ", html.unescape(r))) for r in found]


async def test_who_rejected_a_need_and_why_from_its_page(client, db, officer) -> None:  # noqa: F811
    need = await make_need(db, await make_library(db), status=NeedStatus.SUBMITTED)
    await db.commit()
    await sign_in(client, "canbo@sonla.gov.vn")
    response = await post_form(client, f"/officer/needs/{need.id}/reject", {"reason": REASON})
    assert response.status_code == 303

    detail = (await client.get(f"/needs/{need.id}")).text
    link = html.unescape(re.search(r'href="(/officer/audit\?entity=need[^"]+)"', detail)[1])
    history = await client.get(link)
    assert history.status_code == 200
    found = rows(history.text)
    assert len(found) == 1
    assert "need.reject" in found[0] and REASON in found[0] and officer.full_name in found[0]
    assert "Từ chối nhu cầu" in found[0]  # the action in words, its code beside it
    assert "submitted → rejected" in found[0]


async def test_a_pledges_history_holds_its_payment_and_the_statement_line_that_paid_it(
        client, db, officer, sponsor, clean_backend) -> None:  # noqa: F811
    made = await pledge(db, sponsor, clean_backend.url, amount=100_000)
    other = await pledge(db, sponsor, clean_backend.url, amount=200_000)
    await sign_in(client, "canbo@sonla.gov.vn")
    booked = held_money.today().isoformat()
    await upload(client, csv_bytes(f"{booked},150000,{made.reference},FT1", f"{booked},200000,{other.reference},FT2"))
    line = await db.scalar(select(StatementLine).where(StatementLine.reference == made.reference))
    response = await post_form(client, f"/officer/statements/lines/{line.id}/match", {"reference": made.reference})
    assert response.status_code == 303

    page = (await client.get(f"/pledges/{made.reference}")).text
    assert f"/officer/audit?entity=pledge%3A{made.reference}" in page
    history = await client.get(f"/officer/audit?entity=pledge:{made.reference.lower()}")
    text = "\n".join(rows(history.text))
    for action in ("pledge.create", "payment.create", "statement_line.review", "statement_line.match",
                   "payment.confirmed", "pledge.paid"):
        assert action in text, action
    assert other.reference not in text  # another pledge's rows are not in this one's history
    assert "₫" in text or "đ" in text  # the statement line is named with its amount

    # The sponsor sees no history link on their own page, and may not open the trail.
    client.cookies.clear()
    await sign_in(client, sponsor.email)
    assert "/officer/audit" not in (await client.get(f"/pledges/{made.reference}")).text
    assert (await client.get("/officer/audit")).status_code == 403


async def test_the_trail_is_paged_and_filtered_by_kind_action_actor_and_day(client, db, officer) -> None:  # noqa: F811
    clerk = await make_user(db, Role.OFFICER, email="vanthu@sonla.gov.vn", full_name="Quàng Văn Thư")
    for i in range(60):
        record(db, actor_id=officer.id, action="need.update", entity_type="need", entity_id=i + 1, summary=f"sửa {i}")
    record(db, actor_id=clerk.id, action="commune.update", entity_type="commune", entity_id=3808, summary="ưu tiên")
    record(db, actor_id=None, action="pledge.expire", entity_type="pledge", entity_id=7)
    old = record(db, actor_id=officer.id, action="need.update", entity_type="need", entity_id=99, summary="cũ")
    await db.flush()
    old.at = dt.datetime(2026, 1, 5, 3, tzinfo=dt.UTC)
    await db.commit()
    await sign_in(client, "canbo@sonla.gov.vn")

    first = await client.get("/officer/audit")
    assert len(rows(first.text)) == 50 and "1 / 2" in first.text
    second = await client.get("/officer/audit?page=2")
    assert len(rows(second.text)) == 13
    assert "cũ" in rows(second.text)[-1]  # the latest first

    by_type = rows((await client.get("/officer/audit?type=commune")).text)
    assert len(by_type) == 1 and "Quàng Văn Thư" in by_type[0] and "ưu tiên" in by_type[0]
    assert len(rows((await client.get("/officer/audit?actor=vanthu")).text)) == 1
    assert len(rows((await client.get("/officer/audit?actor=Quàng")).text)) == 1
    system = rows((await client.get("/officer/audit?actor=system")).text)
    assert len(system) == 1 and "pledge.expire" in system[0]
    filtered = await client.get("/officer/audit?action=need.update&type=need&page=2")
    assert len(rows(filtered.text)) == 11
    january = rows((await client.get("/officer/audit?from=2026-01-05&to=2026-01-05")).text)
    assert len(january) == 1 and "cũ" in january[0]
    # The filter's page links keep the filters.
    assert "action=need.update" in re.search(r'<a href="([^"]+)" rel="prev"', filtered.text)[1]


async def test_bad_filters_are_explained_beside_their_field(client, db, officer) -> None:  # noqa: F811
    record(db, actor_id=officer.id, action="need.update", entity_type="need", entity_id=1)
    await db.commit()
    await sign_in(client, "canbo@sonla.gov.vn")
    for query, field in (("entity=pledge:GLGNOPE1234", "entity"), ("entity=spaceship:1", "entity"),
                         ("entity=need:abc", "entity"), ("from=2026-02-31", "from"), ("to=tomorrow", "to")):
        response = await client.get(f"/officer/audit?{query}")
        assert response.status_code == 422, query
        assert f'id="e-{field}"' in response.text, query
    unknown = await client.get("/officer/audit?entity=pledge:GLGNOPE1234")
    assert rows(unknown.text) == []  # an unknown entity shows nothing rather than everything
    assert await db.scalar(select(AuditLog.id).where(AuditLog.action != "need.update")) is None


async def test_only_officers_read_the_trail(client, db, officer) -> None:  # noqa: F811
    assert (await client.get("/officer/audit")).status_code == 303  # to the sign-in page
    await make_user(db, Role.LIBRARIAN, email="thuthu@sonla.gov.vn")
    await db.commit()
    await sign_in(client, "thuthu@sonla.gov.vn")
    assert (await client.get("/officer/audit")).status_code == 403
    assert (await client.get("/officer/audit?entity=need:1")).status_code == 403


async def test_every_officer_entity_page_links_to_its_history(client, db, officer, sponsor, clean_backend) -> None:  # noqa: F811
    made = await pledge(db, sponsor, clean_backend.url, amount=100_000)
    await sign_in(client, "canbo@sonla.gov.vn")
    booked = held_money.today().isoformat()
    await upload(client, csv_bytes(f"{booked},150000,GLGZZZZZZZZ,FT1"))
    line = await db.scalar(select(StatementLine))
    pages: dict[str, Any] = {
        "/officer/pledges": f"entity=pledge%3A{made.reference}",
        "/officer/statements": f"entity=statement_line%3A{line.id}",
    }
    for url, link in pages.items():
        assert link in (await client.get(url)).text, url
    history = await client.get(f"/officer/audit?entity=statement_line:{line.id}")
    assert "statement_line.review" in "\n".join(rows(history.text))


def test_every_action_the_code_records_is_named_in_words() -> None:
    """Every `domain.action` string in the source (audit actions, and the sponsor messages' kinds
    beside them) has a label; one built from an enum has a label for each member."""
    from pathlib import Path

    from app.audit import ACTION_LABELS
    from app.payments.registry import PaymentState
    from donations.models import SettlementKind, StatementLineStatus

    domains = ("allocation|commune|delivery|held_money|item_kind|library|matching|need|payment|pledge|recognition"
               "|shipment|statement|statement_line|user")
    root = Path(__file__).resolve().parent.parent
    sources = "\n".join(p.read_text() for package in ("app", "needs", "donations", "recognition")
                        for p in (root / package).rglob("*.py"))
    literal = set(re.findall(rf'"((?:{domains})\.[a-z_]+)"', sources))
    built = {prefix for prefix in re.findall(rf'f"((?:{domains})\.)\{{', sources)}
    assert built == {"payment.", "statement_line.", "held_money."}, built
    from_enums = ({f"payment.{s.value}" for s in PaymentState}
                  | {f"statement_line.{s.value}" for s in (StatementLineStatus.MATCHED, StatementLineStatus.REVIEW)}
                  | {f"held_money.{k.value}" for k in SettlementKind})
    assert len(literal) > 60
    assert sorted((literal | from_enums) - set(ACTION_LABELS)) == []
