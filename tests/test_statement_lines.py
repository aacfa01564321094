"""Every imported statement line stays findable after it leaves the review queue (matched, held,
dismissed), by the bank's transaction reference (kept on import), the pledge code or the
description, with the totals per status adding up to the credits imported; on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from app.audit import AuditLog
from app.auth.models import Role
from donations import held_money
from donations.models import StatementLine, StatementLineStatus
from tests.support import flat, make_user, post_form, sign_in
from tests.test_bank_transfers import csv_bytes, officer, pledge, sponsor, upload  # noqa: F401 - fixtures


def listed(page: str) -> dict[str, str]:
    """The listed lines' rows as flat text, by line id."""
    return {i: flat(re.sub(r"<[^>]+>", " ", html.unescape(row)))
            for i, row in re.findall(r'<tr id="line-(\d+)">(.*?)</tr>', page, re.S)}


def total(page: str, status: str) -> str:
    return flat(re.sub(r"<[^>]+>", " ", re.search(rf'<tr id="total-{status}">(.*?)</tr>', page, re.S)[1]))


async def test_every_line_stays_listed_with_its_bank_reference_and_the_totals_add_up(
        client, db, officer, sponsor, clean_backend) -> None:  # noqa: F811
    exact = await pledge(db, sponsor, clean_backend.url, amount=100_000)
    over = await pledge(db, sponsor, clean_backend.url, amount=200_000)
    day = held_money.today().isoformat()
    await sign_in(client, "canbo@sonla.gov.vn")
    await upload(client, csv_bytes(f"{day},100000,{exact.reference},FT26001", f"{day},250000,{over.reference},FT26002",
                                   f"{day},70000,Phi quan ly tai khoan,FT26003", f"{day},40000,Ung ho chung,FT26004",
                                   f"{day},30000,Chua ro,FT26005"))
    lines = {line.bank_reference: line for line in await db.scalars(select(StatementLine))}
    assert set(lines) == {"FT26001", "FT26002", "FT26003", "FT26004", "FT26005"}
    queue = (await client.get("/officer/statements")).text
    assert "FT26002" in queue and "FT26001" not in queue  # the exact match left the queue at once
    for bank_ref, action, data in (("FT26002", "match", {"reference": over.reference}),
                                   ("FT26003", "dismiss", {"note": "Phí ngân hàng, không phải tài trợ"}),
                                   ("FT26004", "hold", {"note": "Người gửi chưa rõ"})):
        response = await post_form(client, f"/officer/statements/lines/{lines[bank_ref].id}/{action}", data)
        assert response.status_code == 303, response.text

    page = await client.get("/officer/statements/lines")
    assert page.status_code == 200
    rows = listed(page.text)
    assert set(rows) == {str(line.id) for line in lines.values()}
    assert exact.reference in rows[str(lines["FT26001"].id)] and "FT26001" in rows[str(lines["FT26001"].id)]
    assert "Phí ngân hàng" in rows[str(lines["FT26003"].id)]
    assert "200.000 ₫" in rows[str(lines["FT26002"].id)] and "50.000 ₫" in rows[str(lines["FT26002"].id)]
    assert total(page.text, "matched").endswith("2 350.000 ₫")
    assert total(page.text, "dismissed").endswith("1 70.000 ₫")
    assert total(page.text, "held").endswith("1 40.000 ₫")
    assert total(page.text, "review").endswith("1 30.000 ₫")
    assert "490.000 ₫" in flat(page.text)  # all the credits imported

    # Found again by the bank's reference (any case), the pledge code, the description, its number.
    assert set(listed((await client.get("/officer/statements/lines?q=ft26003")).text)) == {str(lines["FT26003"].id)}
    found = listed((await client.get(f"/officer/statements/lines?q={over.reference.lower()}")).text)
    assert set(found) == {str(lines["FT26002"].id)}
    assert set(listed((await client.get("/officer/statements/lines?q=chung")).text)) == {str(lines["FT26004"].id)}
    one = await client.get(f"/officer/statements/lines?line={lines['FT26005'].id}")
    assert set(listed(one.text)) == {str(lines["FT26005"].id)}
    dismissed = await client.get("/officer/statements/lines?status=dismissed")
    assert set(listed(dismissed.text)) == {str(lines["FT26003"].id)}
    # The totals stay those of every status, so the buckets still add up to what came in.
    assert "490.000 ₫" in flat(dismissed.text)
    # Held money settled since is told on its line.
    response = await post_form(client, f"/officer/statements/lines/{lines['FT26004'].id}/refund",
                               {"number": "1", "amount": "15000", "day": day, "note": "Hoàn một phần, FT-HOAN"})
    assert response.status_code == 303, response.text
    row = listed((await client.get("/officer/statements/lines?q=FT26004")).text)[str(lines["FT26004"].id)]
    assert "15.000 ₫" in row and "25.000 ₫" in row


async def test_bad_filters_are_explained_and_only_officers_see_the_lines(client, db, officer) -> None:  # noqa: F811
    await sign_in(client, "canbo@sonla.gov.vn")
    for query, field in (("line=abc", "line"), ("line=99999999999", "line"), ("from=2026-13-01", "from"),
                         ("to=31/12", "to")):
        response = await client.get(f"/officer/statements/lines?{query}")
        assert response.status_code == 422, query
        assert f'id="e-{field}"' in response.text, query
    client.cookies.clear()
    await make_user(db, Role.SPONSOR, email="khac@example.vn")
    await db.commit()
    await sign_in(client, "khac@example.vn")
    assert (await client.get("/officer/statements/lines")).status_code == 403


async def test_lines_are_paged_latest_first(client, db, officer) -> None:  # noqa: F811
    await sign_in(client, "canbo@sonla.gov.vn")
    rows = [f"2026-03-{1 + i % 28:02d},{10_000 + i},Ung ho {i},FT{i:04d}" for i in range(60)]
    await upload(client, csv_bytes(*rows))
    first = listed((await client.get("/officer/statements/lines")).text)
    second = listed((await client.get("/officer/statements/lines?page=2")).text)
    assert len(first) == 50 and len(second) == 10 and not set(first) & set(second)
    assert "28/03/2026" in next(iter(first.values()))


async def test_a_line_dismissed_by_mistake_goes_back_to_review_and_can_then_pay_its_pledge(
        client, db, officer, sponsor, clean_backend) -> None:  # noqa: F811
    made = await pledge(db, sponsor, clean_backend.url, amount=100_000)
    day = held_money.today().isoformat()
    await sign_in(client, "canbo@sonla.gov.vn")
    await upload(client, csv_bytes(f"{day},100000,Ung ho thu vien (quen ma),FT7001"))
    line = await db.scalar(select(StatementLine))
    response = await post_form(client, f"/officer/statements/lines/{line.id}/dismiss", {"note": "Tưởng là phí"})
    assert response.status_code == 303
    page = (await client.get(f"/officer/statements/lines?line={line.id}")).text
    assert f'action="/officer/statements/lines/{line.id}/reopen"' in page
    refused = await post_form(client, f"/officer/statements/lines/{line.id}/reopen", {"note": ""})
    assert refused.status_code == 422 and f'id="e-reopen-{line.id}"' in refused.text
    await db.refresh(line)
    assert line.status == StatementLineStatus.DISMISSED
    reason = "Nhà tài trợ gửi ủy nhiệm chi: đây là tiền của cam kết"
    assert (await post_form(client, f"/officer/statements/lines/{line.id}/reopen", {"note": reason})).status_code == 303
    assert "FT7001" in (await client.get("/officer/statements")).text  # in the review queue again
    again = await post_form(client, f"/officer/statements/lines/{line.id}/reopen", {"note": reason})
    assert again.status_code == 409  # only a dismissed line goes back
    response = await post_form(client, f"/officer/statements/lines/{line.id}/match", {"reference": made.reference})
    assert response.status_code == 303
    actions = [r.action for r in await db.scalars(select(AuditLog).where(
        AuditLog.entity_type == "statement_line", AuditLog.entity_id == str(line.id)).order_by(AuditLog.id))]
    assert actions == ["statement_line.review", "statement_line.dismiss", "statement_line.reopen",
                       "statement_line.match"]


async def test_pledges_waiting_are_paged_and_found_by_the_sponsors_name(
        client, db, officer, sponsor, clean_backend) -> None:  # noqa: F811
    """An officer handed cash or goods finds the pledge by the sponsor's name, however many wait."""
    paper = await make_user(db, Role.SPONSOR, email="giay@example.vn", full_name="Người đại diện",
                            organisation_name="Công ty CP Giấy Sơn La")
    await db.commit()
    mine = [await pledge(db, paper, clean_backend.url, amount=50_000 + i) for i in range(3)]
    for i in range(57):
        await pledge(db, sponsor, clean_backend.url, amount=10_000 + i)
    await sign_in(client, "canbo@sonla.gov.vn")
    first = (await client.get("/officer/pledges")).text
    second = (await client.get("/officer/pledges?page=2")).text
    assert first.count('<tr id="pledge-') == 50 and second.count('<tr id="pledge-') == 10
    assert '<p class="count">60 ' in first
    found = (await client.get("/officer/pledges?q=Giấy Sơn")).text
    assert found.count('<tr id="pledge-') == 3 and all(p.reference in found for p in mine)
    assert (await client.get("/officer/pledges?q=giấy sơn la")).text.count('<tr id="pledge-') == 3
