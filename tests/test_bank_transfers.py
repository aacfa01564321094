"""Bank transfers reconciled from statement CSVs, offline payments and hub receipts, through HTTP
on SQLite and PostgreSQL: exact matches confirm, the rest waits for an officer, bad uploads
change nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit import AuditLog
from app.auth.models import Role, User
from app.outbox import OutboxMessage
from app.payments.registry import PaymentState
from donations import held_money, services
from donations.models import (
    LedgerEntry,
    LedgerKind,
    Payment,
    Pledge,
    PledgeStatus,
    StatementLine,
    StatementLineStatus,
)
from donations.review_notes import coded, describe
from donations.schemas import PledgeIn
from needs.models import Need
from tests.conftest import settings_for
from tests.support import (
    MUONG_LA,
    csrf_token,
    flat,
    make_library,
    make_need,
    make_user,
    post_form,
    sign_in,
)
from tests.test_receipts_ledger import pdf_text

HEADER = "date,amount,description,reference"
L = StatementLineStatus


@pytest.fixture
async def officer(db: Any) -> User:
    user = await make_user(db, Role.OFFICER, email="canbo@sonla.gov.vn")
    await db.commit()
    return user


@pytest.fixture
async def sponsor(db: Any) -> User:
    user = await make_user(db, Role.SPONSOR, email="nhataitro@example.vn")
    await db.commit()
    return user


@pytest.fixture
async def need(db: Any) -> Need:
    need = await make_need(db, await make_library(db))  # 100 × 35.000 ₫ children's books
    await db.commit()
    return need


async def pledge(db: Any, sponsor: User, url: str, **fields: Any) -> Pledge:
    data = PledgeIn(**{"kind": "money", "target": "commune", "commune_code": MUONG_LA, **fields})
    made = await services.create_pledge(db, sponsor, data, settings_for(url))
    await db.commit()
    return made


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


async def upload(client: Any, data: bytes, filename: str = "sao-ke.csv") -> Any:
    token = await csrf_token(client)
    return await client.post(
        "/officer/statements",
        data={"_csrf_token": token},
        files={"file": (filename, data, "text/csv")},
    )


async def counts(db: Any) -> dict[str, int]:
    tables = {
        "lines": StatementLine,
        "payments": Payment,
        "ledger": LedgerEntry,
        "audit": AuditLog,
        "outbox": OutboxMessage,
    }
    return {
        name: await db.scalar(select(func.count()).select_from(model))
        for name, model in tables.items()
    }


async def fresh(db: Any, model: Any, **where: Any) -> list[Any]:
    query = select(model).filter_by(**where).order_by(model.id)
    return list(await db.scalars(query.execution_options(populate_existing=True)))


async def test_exact_match_confirms_payment_and_allocates(
    client, db, officer, sponsor, need, clean_backend
) -> None:
    url = clean_backend.url
    to_need = await pledge(db, sponsor, url, target="need", need_id=need.id, quantity=10)
    to_commune = await pledge(db, sponsor, clean_backend.url, amount=500_000)
    # The sponsor opened the VietQR page for the second pledge: its pending payment is reused.
    waiting = await services.new_payment(db, to_commune, "bank_transfer")
    await db.commit()
    assert to_need.amount == 350_000

    await sign_in(client, officer.email)
    response = await upload(client, csv_bytes(
        f"2026-03-08,350.000,CK {to_need.reference} ung ho thu vien,FT26067001",
        f"08/03/2026,500000,NGUYEN VAN A chuyen tien,{to_commune.reference}",
        "2026-03-08,-20000,Phi dich vu,FT26067003",
    ))
    assert response.status_code == 303, response.text
    page = await client.get("/officer/statements")
    assert "Đã nhập sao kê." in page.text
    summary = page.text.split('id="import-result"')[1].split("</table>")[0]
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", summary)] == [2, 0, 2, 0, 1]

    [first, second] = await fresh(db, Payment)
    assert (first.id, first.pledge_id) == (waiting.id, to_commune.id)  # reused, not a new one
    for payment, owner in ((first, to_commune), (second, to_need)):
        assert payment.pledge_id == owner.id
        assert (payment.provider, payment.state) == ("bank_transfer", PaymentState.CONFIRMED)
        assert payment.amount == owner.amount and payment.receipt_number.startswith("GLG-")
    ledger = await fresh(db, LedgerEntry, kind=LedgerKind.PAYMENT)
    assert sorted((e.pledge_id, e.amount) for e in ledger) == [(to_need.id, 350_000),
                                                              (to_commune.id, 500_000)]
    [need_row] = await fresh(db, Need)
    assert need_row.allocated_quantity == 10
    statuses = {p.id: p.status for p in await fresh(db, Pledge)}
    assert statuses == {to_need.id: PledgeStatus.ALLOCATED, to_commune.id: PledgeStatus.PAID}
    lines = await fresh(db, StatementLine)
    assert [(ln.status, ln.amount) for ln in lines] == [(L.MATCHED, 350_000), (L.MATCHED, 500_000)]
    assert {ln.payment_id for ln in lines} == {first.id, second.id}
    actions = set(await db.scalars(select(AuditLog.action)))
    assert {"statement.import", "statement_line.matched", "payment.confirmed"} <= actions


async def test_importing_the_same_file_twice_changes_nothing(
    client, db, officer, sponsor, clean_backend
) -> None:
    paid = await pledge(db, sponsor, clean_backend.url, amount=200_000)
    data = csv_bytes(
        f"2026-03-08,200000,{paid.reference},",
        "2026-03-08,50000,khong ro,",
        "2026-03-08,50000,khong ro,",  # two identical transfers stay two lines
    )
    await sign_in(client, officer.email)
    assert (await upload(client, data)).status_code == 303
    once = await counts(db)
    assert once["lines"] == 3 and once["payments"] == 1

    assert (await upload(client, data)).status_code == 303
    assert await counts(db) == once
    page = await client.get("/officer/statements")
    summary = page.text.split('id="import-result"')[1].split("</table>")[0]
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", summary)] == [0, 3, 0, 0, 0]


async def test_short_over_and_unknown_lines_wait_for_review(
    client, db, officer, sponsor, clean_backend
) -> None:
    short = await pledge(db, sponsor, clean_backend.url, amount=300_000)
    over = await pledge(db, sponsor, clean_backend.url, amount=100_000)
    twice = await pledge(db, sponsor, clean_backend.url, amount=70_000)
    await sign_in(client, officer.email)
    response = await upload(client, csv_bytes(
        f"2026-03-09,250000,{short.reference},",
        f"2026-03-09,150000,{over.reference},",
        "2026-03-09,90000,GLGZZZZZZZZ,",
        "2026-03-09,40000,ung ho,",
        f"2026-03-09,70000,{twice.reference},",
        f"2026-03-10,70000,{twice.reference} lan 2,",
    ))
    assert response.status_code == 303
    lines = await fresh(db, StatementLine)
    assert [ln.status for ln in lines] == [L.REVIEW] * 4 + [L.MATCHED, L.REVIEW]
    notes = [describe(ln.note) for ln in lines]  # stored as codes, in words where shown
    assert notes[0] == "Chuyển thiếu: nhận 250.000\xa0₫, cam kết 300.000\xa0₫."
    assert notes[1].startswith("Chuyển thừa")
    assert "GLGZZZZZZZZ" in notes[2] and notes[3] == "Không tìm thấy mã tham chiếu."
    assert twice.reference in notes[5] and "không còn chờ thanh toán" in notes[5]
    statuses = {p.id: p.status for p in await fresh(db, Pledge)}
    assert statuses[short.id] == statuses[over.id] == PledgeStatus.AWAITING_PAYMENT
    page = await client.get("/officer/statements")
    assert page.text.count('action="/officer/statements/lines/') == 3 * 5  # match, dismiss, hold
    assert "Chuyển thiếu" in page.text
    # Imported with the Vietnamese UI, read with the English one: every reason in English.
    await client.get("/lang/en")
    page = flat((await client.get("/officer/statements")).text)
    assert "Short payment: ₫250,000 received, ₫300,000 pledged." in page
    assert "No reference code found." in page and f"Pledge {twice.reference} is not awaiting payment." in page
    assert "Chuyển" not in page and "Không tìm thấy" not in page


async def test_review_notes_stored_as_words_are_shown_as_they_are(db) -> None:
    assert describe("Không tìm thấy mã tham chiếu.") == "Không tìm thấy mã tham chiếu."  # imported before codes
    assert describe("{not json") == "{not json"
    assert describe('{"reason": "nonsense"}') == '{"reason": "nonsense"}'
    assert describe(coded("unknown_code", ref="GLGAAAAAAAA")) == "Mã tham chiếu GLGAAAAAAAA không tồn tại."


async def test_officer_matches_or_dismisses_review_lines(
    client, db, officer, sponsor, clean_backend
) -> None:
    short = await pledge(db, sponsor, clean_backend.url, amount=300_000)
    await sign_in(client, officer.email)
    await upload(client, csv_bytes(
        "2026-03-09,250000,chuyen tien sach,",
        "2026-03-09,40000,hoan tien,",
    ))
    first, second = (line.id for line in await fresh(db, StatementLine))

    # An unknown code is shown beside the field; nothing changes.
    before = await counts(db)
    response = await post_form(client, f"/officer/statements/lines/{first}/match",
                               {"reference": "GLGNOPE0000"})
    assert response.status_code == 422
    assert "Không có cam kết nào có mã tham chiếu này." in response.text
    assert await counts(db) == before

    response = await post_form(client, f"/officer/statements/lines/{first}/match",
                               {"reference": short.reference.lower()})
    assert response.status_code == 303, response.text
    # A short payment is confirmed for what arrived: the payment, the pledge, the ledger and the
    # receipt say 250.000 ₫; the audit keeps the 300.000 ₫ pledged and the shortfall.
    [payment] = await fresh(db, Payment)
    assert (payment.state, payment.amount, payment.provider) == (
        PaymentState.CONFIRMED, 250_000, "bank_transfer")
    [line] = await fresh(db, StatementLine, id=first)
    assert (line.status, line.payment_id) == (L.MATCHED, payment.id)
    assert line.reference == short.reference
    assert "ít hơn số đã cam kết 50.000" in line.note.replace("\xa0", " ")
    [entry] = await fresh(db, LedgerEntry, kind=LedgerKind.PAYMENT)
    assert entry.amount == 250_000
    [paid] = await fresh(db, Pledge, id=short.id)
    assert (paid.status, paid.amount) == (PledgeStatus.PAID, 250_000)
    [row] = await fresh(db, AuditLog, action="pledge.short_payment")
    assert (row.before, row.after) == ({"amount": 300_000, "quantity": 0},
                                       {"amount": 250_000, "quantity": 0, "shortfall": 50_000})
    receipt = pdf_text((await client.get(f"/pledges/{short.reference}/receipt.pdf")).content)
    assert "250.000" in receipt and "300.000" not in receipt
    # A resolved line cannot be matched again.
    response = await post_form(client, f"/officer/statements/lines/{first}/match",
                               {"reference": short.reference})
    assert response.status_code == 409
    assert "đã được xử lý" in response.text

    response = await post_form(client, f"/officer/statements/lines/{second}/dismiss", {"note": ""})
    assert response.status_code == 422 and "Ô này là bắt buộc." in response.text
    response = await post_form(client, f"/officer/statements/lines/{second}/dismiss",
                               {"note": "Tiền hoàn của ngân hàng"})
    assert response.status_code == 303
    [line] = await fresh(db, StatementLine, id=second)
    assert (line.status, line.note) == (L.DISMISSED, "Tiền hoàn của ngân hàng")
    page = await client.get("/officer/statements")
    assert "Không có gì chờ duyệt." in page.text
    response = await post_form(client, f"/officer/statements/lines/{second}/dismiss",
                               {"note": "lại"})
    assert response.status_code == 409


async def test_short_payment_to_a_need_funds_fewer_items(
    client, db, officer, sponsor, need, clean_backend
) -> None:
    """10 × 35.000 ₫ pledged, 120.000 ₫ arrived: the pledge funds 3 items for 105.000 ₫, the
    other 7 go back to the need, and the 15.000 ₫ that pays for no item is listed as held. 20.000 ₫
    funds no item: refused, nothing written."""
    to_need = await pledge(db, sponsor, clean_backend.url, target="need", need_id=need.id, quantity=10)
    await sign_in(client, officer.email)
    await upload(client, csv_bytes(
        f"2026-03-09,20000,{to_need.reference},",
        f"2026-03-10,120000,{to_need.reference},",
    ))
    too_little, short = (line.id for line in await fresh(db, StatementLine))
    before = await counts(db)
    response = await post_form(client, f"/officer/statements/lines/{too_little}/match",
                               {"reference": to_need.reference})
    assert response.status_code == 422
    assert "20.000 ₫ không đủ cho một hiện vật của nhu cầu này (35.000 ₫)" in response.text.replace("\xa0", " ")
    assert await counts(db) == before

    response = await post_form(client, f"/officer/statements/lines/{short}/match",
                               {"reference": to_need.reference})
    assert response.status_code == 303, response.text
    [paid] = await fresh(db, Pledge)
    assert (paid.status, paid.amount, paid.quantity) == (PledgeStatus.ALLOCATED, 105_000, 3)
    [payment] = await fresh(db, Payment)
    assert (payment.state, payment.amount) == (PaymentState.CONFIRMED, 105_000)
    [need_row] = await fresh(db, Need)
    assert (need_row.pledged_quantity, need_row.allocated_quantity) == (3, 3)
    ledger = [(e.kind, e.amount, e.quantity) for e in await fresh(db, LedgerEntry)]
    assert ledger == [(LedgerKind.PAYMENT, 105_000, 0), (LedgerKind.ALLOCATION, 105_000, 3)]
    held = await held_money.held_money(db)
    assert [(h.line.id, h.amount) for h in held] == [(short, 15_000)]  # every đồng of the 120.000 ₫ shows


async def test_money_for_a_canceled_pledge_is_held_for_a_refund(
    client, db, officer, sponsor, clean_backend
) -> None:
    gone = await pledge(db, sponsor, clean_backend.url, amount=200_000)
    over = await pledge(db, sponsor, clean_backend.url, amount=100_000)
    await services.cancel(db, sponsor, await services.get_pledge(db, gone.reference))
    await db.commit()
    await sign_in(client, officer.email)
    await upload(client, csv_bytes(
        f"2026-03-09,200000,{gone.reference},FT1",
        "2026-03-09,40000,khong ro,FT2",
        f"2026-03-10,150000,{over.reference},FT3",
    ))
    first, second, third = (line.id for line in await fresh(db, StatementLine))
    # An over payment is confirmed for the pledge's amount; its excess is listed with the money held.
    response = await post_form(client, f"/officer/statements/lines/{third}/match", {"reference": over.reference})
    assert response.status_code == 303
    [entry] = await fresh(db, LedgerEntry, kind=LedgerKind.PAYMENT)
    assert entry.amount == 100_000
    response = await post_form(client, f"/officer/statements/lines/{first}/match",
                               {"reference": gone.reference})
    assert response.status_code == 422 and "Cam kết này không còn chờ thanh toán." in response.text

    before = await counts(db)
    response = await post_form(client, f"/officer/statements/lines/{first}/hold", {"note": "  "})
    assert response.status_code == 422 and "Ô này là bắt buộc." in response.text
    assert await counts(db) == before

    note = "Cam kết đã hủy: hoàn lại cho nhà tài trợ"
    for line_id in (first, second):
        response = await post_form(client, f"/officer/statements/lines/{line_id}/hold", {"note": note})
        assert response.status_code == 303, response.text
    [line, _other, _over] = await fresh(db, StatementLine)
    assert (line.status, line.note, line.payment_id) == (L.HELD, note, None)
    [row, _row2] = await fresh(db, AuditLog, action="statement_line.hold")
    assert (row.entity_id, row.summary, row.after) == (str(first), note, {"status": "held", "amount": 200_000})
    assert {e.pledge_id for e in await fresh(db, LedgerEntry)} == {over.id}  # held money: not a donation
    page = await client.get("/officer/statements")
    held = page.text.split('id="held"')[1].split("</table>")[0].replace("\xa0", " ")
    assert note in held and f'id="held-{third}"' in held and "50.000 ₫ <small>(" in held and "150.000 ₫" in held
    assert "Tổng đang giữ: 290.000" in page.text.replace("\xa0", " ")
    response = await post_form(client, f"/officer/statements/lines/{first}/hold", {"note": "lại"})
    assert response.status_code == 409
    [still, _paid] = await fresh(db, Pledge)
    assert still.status == PledgeStatus.CANCELED


FIFTY_MB = 50 * 1024 * 1024
TOO_LARGE = "Tệp quá lớn: giới hạn là 5 MB."
NOT_UTF8 = "Tệp không phải văn bản UTF-8"
# Each upload holds a line that would confirm the pledge (its code, its amount) if it were read.
BAD_UPLOADS: dict[str, tuple[Callable[[str], bytes], int, str]] = {
    "wrong header": (lambda ref: csv_bytes(f"2026-03-08,10000,{ref},", header="ngay,tien,noi dung"),
                     422, "Dòng đầu tiên phải là tên các cột"),
    "latin-1": (lambda ref: f"{HEADER}\n2026-03-08,10000,Café {ref},\n".encode("latin-1"),
                422, NOT_UTF8),
    "utf-16": (lambda ref: f"{HEADER}\n2026-03-08,10000,{ref},\n".encode("utf-16"), 422, NOT_UTF8),
    "bad line after a good one": (
        lambda ref: csv_bytes(f"2026-03-08,10000,{ref},", "2026-03-08,10.5,x,"),
        422, "Dòng 3:"),
    "just over 5 MB": (
        lambda ref: csv_bytes(f"2026-03-08,10000,{ref},") + b" " * (5 * 1024 * 1024),
        422, TOO_LARGE),
    "50 MB": (
        lambda ref: csv_bytes(f"2026-03-08,10000,{ref},") + b"2026-03-08,1,x,\n" * (FIFTY_MB // 16),
        413, TOO_LARGE),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
async def test_bad_upload_gets_a_clear_message_and_writes_nothing(
    client, db, officer, sponsor, clean_backend, case
) -> None:
    waiting = await pledge(db, sponsor, clean_backend.url, amount=10_000)
    make, status, message = BAD_UPLOADS[case]
    data = make(waiting.reference)
    assert len(data) > FIFTY_MB or case != "50 MB"
    await sign_in(client, officer.email)
    before = await counts(db)
    response = await upload(client, data)
    assert response.status_code == status, response.text[:500]
    assert message in response.text
    assert await counts(db) == before
    [still] = await fresh(db, Pledge)
    assert still.status == PledgeStatus.AWAITING_PAYMENT


async def test_upload_without_a_file_is_refused(client, db, officer) -> None:
    await sign_in(client, officer.email)
    token = await csrf_token(client)
    response = await client.post("/officer/statements", data={"_csrf_token": token},
                                 files={"other": ("x.txt", b"", "text/plain")})
    assert response.status_code == 422
    assert "Hãy chọn tệp sao kê để tải lên." in response.text


async def test_offline_payment_with_receipt_number(
    client, db, officer, sponsor, need, clean_backend
) -> None:
    cash = await pledge(db, sponsor, clean_backend.url, target="need", need_id=need.id, quantity=4)
    other = await pledge(db, sponsor, clean_backend.url, amount=90_000)
    await sign_in(client, officer.email)
    page = await client.get(f"/officer/pledges?q={cash.reference[-5:].lower()}")
    assert cash.reference in page.text and other.reference not in page.text

    response = await post_form(client, f"/officer/pledges/{cash.reference}/offline-payment",
                               {"receipt_number": "PT-2026-0042"})
    assert response.status_code == 303, response.text
    [payment] = await fresh(db, Payment)
    assert (payment.provider, payment.state, payment.receipt_number, payment.amount) == (
        "offline", PaymentState.CONFIRMED, "PT-2026-0042", 140_000)
    [entry] = await fresh(db, LedgerEntry, kind=LedgerKind.PAYMENT)
    assert (entry.pledge_id, entry.amount, entry.payment_id) == (cash.id, 140_000, payment.id)
    [paid] = await fresh(db, Pledge, id=cash.id)
    assert paid.status == PledgeStatus.ALLOCATED

    before = await counts(db)
    for number, message in (("PT-2026-0042", "Số biên lai PT-2026-0042 đã được ghi nhận."),
                            ("GLG-2026-000001", "Số GLG- do hệ thống cấp")):
        response = await post_form(client, f"/officer/pledges/{other.reference}/offline-payment",
                                   {"receipt_number": number})
        assert response.status_code == 422
        assert message in response.text
    assert await counts(db) == before
    [still] = await fresh(db, Pledge, id=other.id)
    assert still.status == PledgeStatus.AWAITING_PAYMENT
    # A paid pledge is no longer waiting: recording again is refused.
    response = await post_form(client, f"/officer/pledges/{cash.reference}/offline-payment",
                               {"receipt_number": "PT-2026-0043"})
    assert response.status_code == 409


async def test_officer_confirms_in_kind_receipt_at_the_hub(
    client, db, officer, sponsor, need, clean_backend
) -> None:
    books = await pledge(db, sponsor, clean_backend.url, kind="books", target="need",
                         need_id=need.id, quantity=12, delivery="to_hub")
    await sign_in(client, officer.email)
    page = await client.get("/officer/pledges")
    assert f'/officer/pledges/{books.reference}/receive' in page.text
    everything = {"quantity": "12", "unit_value": "35000", "note": ""}
    response = await post_form(client, f"/officer/pledges/{books.reference}/receive", everything)
    assert response.status_code == 303, response.text
    [received] = await fresh(db, Pledge)
    assert received.status == PledgeStatus.ALLOCATED and received.confirmed_at is not None
    [entry] = await fresh(db, LedgerEntry, kind=LedgerKind.IN_KIND)
    assert (entry.amount, entry.quantity) == (12 * 35_000, 12)
    [need_row] = await fresh(db, Need)
    assert need_row.allocated_quantity == 12
    assert not await fresh(db, AuditLog, action="pledge.accept_goods")  # as pledged: nothing to note
    response = await post_form(client, f"/officer/pledges/{books.reference}/receive", everything)
    assert response.status_code == 409


async def test_hub_receipt_counts_what_arrived_at_the_value_accepted(
    client, db, officer, sponsor, need, clean_backend
) -> None:
    """Fewer items, at a lower value than declared: the pledge, the ledger and the receipt count
    the accepted figures; the audit keeps the pledged ones; a need gets its missing items back."""
    pool = await pledge(db, sponsor, clean_backend.url, kind="books", target="pool",
                        item_kind="book/children", quantity=5, unit_value=60_000, delivery="to_hub")
    to_need = await pledge(db, sponsor, clean_backend.url, kind="books", target="need",
                           need_id=need.id, quantity=12, delivery="to_hub")
    await sign_in(client, officer.email)
    response = await post_form(client, f"/officer/pledges/{pool.reference}/receive",
                               {"quantity": "4", "unit_value": "40000", "note": "Một cuốn rách, sách cũ"})
    assert response.status_code == 303, response.text
    [received] = await fresh(db, Pledge, id=pool.id)
    assert (received.status, received.quantity, received.unit_value, received.value) == (
        PledgeStatus.RECEIVED, 4, 40_000, 160_000)
    [entry] = await fresh(db, LedgerEntry, kind=LedgerKind.IN_KIND)
    assert (entry.amount, entry.quantity) == (160_000, 4)
    [row] = await fresh(db, AuditLog, action="pledge.accept_goods")
    assert row.summary == "Một cuốn rách, sách cũ"
    assert row.before == {"quantity": 5, "unit_value": 60_000, "value": 300_000}
    assert row.after == {"quantity": 4, "unit_value": 40_000, "value": 160_000, "missing": 1}
    receipt = pdf_text((await client.get(f"/pledges/{pool.reference}/receipt.pdf")).content)
    assert "160.000" in receipt and "300.000" not in receipt

    response = await post_form(client, f"/officer/pledges/{to_need.reference}/receive",
                               {"quantity": "9", "unit_value": "35000", "note": "Thiếu 3 cuốn"})
    assert response.status_code == 303, response.text
    [need_row] = await fresh(db, Need)
    assert (need_row.pledged_quantity, need_row.allocated_quantity) == (9, 9)  # 3 open again
    ledger = await client.get("/ledger")
    assert "315.000" in ledger.text.replace("\xa0", " ") and "420.000" not in ledger.text


HUB_BAD_INPUT = [
    ({"quantity": "0", "unit_value": "35000"}, "quantity", "từ 1 đến 12"),
    ({"quantity": "13", "unit_value": "35000"}, "quantity", "từ 1 đến 12"),
    ({"quantity": "x", "unit_value": "35000"}, "quantity", "từ 1 đến 12"),
    ({"quantity": "", "unit_value": "35000"}, "quantity", "từ 1 đến 12"),
    ({"unit_value": "35000"}, "quantity", "từ 1 đến 12"),
    ({"quantity": "12", "unit_value": "200000000", "note": "x"}, "unit_value", "từ 10.000 ₫ đến 105.000 ₫"),
    ({"quantity": "12", "unit_value": "5000", "note": "x"}, "unit_value", "từ 10.000 ₫ đến 105.000 ₫"),
    ({"quantity": "12", "unit_value": "35.000"}, "unit_value", "từ 10.000 ₫ đến 105.000 ₫"),
    ({"quantity": "12", "unit_value": ""}, "unit_value", "từ 10.000 ₫ đến 105.000 ₫"),
    ({"quantity": "10", "unit_value": "35000", "note": " "}, "note", "hãy ghi rõ lý do"),
    ({"quantity": "12", "unit_value": "30000"}, "note", "hãy ghi rõ lý do"),
    ({"quantity": "12", "unit_value": "35000", "note": "x" * 2001}, "note", "2000"),
]


@pytest.mark.parametrize(("form", "field", "message"), HUB_BAD_INPUT)
async def test_bad_hub_receipt_is_refused_beside_its_field(
    client, db, officer, sponsor, need, clean_backend, form, field, message
) -> None:
    books = await pledge(db, sponsor, clean_backend.url, kind="books", target="need",
                         need_id=need.id, quantity=12, delivery="to_hub")
    await sign_in(client, officer.email)
    before = await counts(db)
    response = await post_form(client, f"/officer/pledges/{books.reference}/receive", form)
    assert response.status_code == 422, response.text[-1500:]
    error = re.search(rf'id="e-hub-{books.reference}-{field}">([^<]*)<', response.text)
    assert error and message in error.group(1).replace("\xa0", " "), response.text[-3000:]
    assert await counts(db) == before
    [still] = await fresh(db, Pledge)
    assert (still.status, still.quantity, still.unit_value) == (PledgeStatus.AWAITING_DELIVERY, 12, 35_000)
    [need_row] = await fresh(db, Need)
    assert need_row.pledged_quantity == 12


@pytest.mark.parametrize("role", [Role.SPONSOR, Role.LIBRARIAN])
async def test_only_officers_reach_the_money_desk(client, db, sponsor, clean_backend, role) -> None:
    waiting = await pledge(db, sponsor, clean_backend.url, amount=10_000)
    if role == Role.SPONSOR:
        user = sponsor
    else:
        user = await make_user(db, role, library_id=(await make_library(db)).id)
        await db.commit()
    await sign_in(client, user.email)
    before = await counts(db)
    for url in ("/officer/statements", "/officer/pledges"):
        assert (await client.get(url)).status_code == 403
    posts = {
        "/officer/statements/lines/1/match": {"reference": waiting.reference},
        "/officer/statements/lines/1/dismiss": {"note": "x"},
        "/officer/statements/lines/1/hold": {"note": "x"},
        f"/officer/pledges/{waiting.reference}/offline-payment": {"receipt_number": "PT-1"},
        f"/officer/pledges/{waiting.reference}/receive": {},
    }
    for url, data in posts.items():
        response = await post_form(client, url, data)
        assert response.status_code == 403, url
        assert "Bạn không có quyền" in response.text
    response = await upload(client, csv_bytes(f"2026-03-08,10000,{waiting.reference},"))
    assert response.status_code == 403
    assert await counts(db) == before


async def test_anonymous_visitors_are_sent_to_sign_in(client) -> None:
    response = await client.get("/officer/statements")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
