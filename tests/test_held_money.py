"""Money held, settled on the platform: refunded (in part or in full) or reassigned to a pledge
awaiting payment, through HTTP on SQLite and PostgreSQL. Every đồng of a line is the payment it
matched, plus its settlements, plus what is still held; bad input changes nothing; a form sent
twice settles once."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditLog
from app.auth.models import User
from app.payments.registry import PaymentState
from donations import held_money, services
from donations.models import (
    HeldMoneySettlement,
    LedgerEntry,
    LedgerKind,
    Payment,
    Pledge,
    PledgeStatus,
    SettlementKind,
    StatementLine,
)
from needs.models import Need
from tests import test_bank_transfers
from tests.support import flat, post_form, sign_in
from tests.test_bank_transfers import counts, csv_bytes, fresh, pledge, upload
from tests.test_receipts_ledger import pdf_text
from tests.test_recognition_workflow import meanwhile

# The money desk's fixtures: an officer, a sponsor, a need of 100 × 35.000 ₫ children's books.
officer, sponsor, need = test_bank_transfers.officer, test_bank_transfers.sponsor, test_bank_transfers.need
BOOKED = dt.date(2026, 3, 9)
NOTE = "Hoàn lại qua Vietcombank, số giao dịch FT26070001"


async def everything(db: Any) -> dict[str, int]:
    """What a refused settlement must leave as it was."""
    settled = await db.scalar(select(func.count()).select_from(HeldMoneySettlement))
    return {**await counts(db), "settlements": settled, "pledges_paid": await db.scalar(
        select(func.count()).select_from(Pledge).where(Pledge.status != PledgeStatus.AWAITING_PAYMENT))}


async def left(db: Any) -> dict[int, int]:
    return {h.line.id: h.left for h in await held_money.held_money(db)}


async def held_lines(client: Any, db: Any, sponsor: User, url: str) -> tuple[int, int]:
    """A canceled pledge's 200.000 ₫, held; an over payment's 50.000 ₫ excess (150.000 ₫ for a
    100.000 ₫ pledge). Signs the officer in first."""
    gone = await pledge(db, sponsor, url, amount=200_000)
    over = await pledge(db, sponsor, url, amount=100_000)
    await services.cancel(db, sponsor, await services.get_pledge(db, gone.reference))
    await db.commit()
    await sign_in(client, "canbo@sonla.gov.vn")
    await upload(client, csv_bytes(f"{BOOKED},200000,{gone.reference},FT1", f"{BOOKED},150000,{over.reference},FT2"))
    first, second = (line.id for line in await fresh(db, StatementLine))
    response = await post_form(client, f"/officer/statements/lines/{first}/hold", {"note": "Cam kết đã hủy"})
    assert response.status_code == 303, response.text
    response = await post_form(client, f"/officer/statements/lines/{second}/match", {"reference": over.reference})
    assert response.status_code == 303, response.text
    assert await left(db) == {first: 200_000, second: 50_000}
    return first, second


def refund_form(number: int = 1, **fields: str) -> dict[str, Any]:
    return {"number": str(number), "amount": "80000", "day": BOOKED.isoformat(), "note": NOTE, **fields}


async def test_held_money_refunded_in_part_then_in_full(client, db, officer, sponsor, clean_backend) -> None:
    first, excess = await held_lines(client, db, sponsor, clean_backend.url)
    ledger_before = [(e.kind, e.amount) for e in await fresh(db, LedgerEntry)]
    page = await client.get("/officer/statements")
    form = page.text.split(f'action="/officer/statements/lines/{first}/refund"')[1].split("</form>")[0]
    assert 'name="number" value="1"' in form and 'value="200000"' in form  # the whole held amount by default

    response = await post_form(client, f"/officer/statements/lines/{first}/refund", refund_form())
    assert response.status_code == 303, response.text
    assert await left(db) == {first: 120_000, excess: 50_000}
    [row] = await fresh(db, HeldMoneySettlement)
    assert (row.line_id, row.number, row.kind, row.amount, row.day, row.note, row.actor_id, row.pledge_id) == (
        first, 1, SettlementKind.REFUND, 80_000, BOOKED, NOTE, officer.id, None)
    [audit] = await fresh(db, AuditLog, action="held_money.refund")
    assert (audit.entity_id, audit.summary, audit.actor_id, audit.before) == (str(first), NOTE, officer.id,
                                                                            {"held": 200_000})
    assert audit.after == {"kind": "refund", "number": 1, "amount": 80_000, "day": BOOKED.isoformat(),
                           "held": 120_000}

    await client.get("/lang/en")
    page = flat((await client.get("/officer/statements")).text)
    held = page.split('id="held"')[1].split("</table>")[0]
    assert "Total held: ₫170,000." in page  # 120.000 ₫ still held on the line, 50.000 ₫ excess
    assert f'id="held-{first}"' in held and "₫200,000</td> <td>₫120,000</td>" in held
    assert "₫50,000 <small>(part of ₫150,000 received)</small>" in held
    history = page.split('id="settlements"')[1].split("</table>")[0]
    assert "Refunded" in history and "₫80,000" in history and NOTE in history and officer.full_name in history

    # The rest, the next day; the excess, in full by default.
    response = await post_form(client, f"/officer/statements/lines/{first}/refund",
                               refund_form(2, amount="120000", day=(BOOKED + dt.timedelta(days=1)).isoformat()))
    assert response.status_code == 303, response.text
    response = await post_form(client, f"/officer/statements/lines/{excess}/refund", refund_form(amount="50000"))
    assert response.status_code == 303, response.text
    assert await left(db) == {}
    page = flat((await client.get("/officer/statements")).text)
    assert "No money is held." in page and page.count('<tr id="settlement-') == 3
    # A refund is not a gift: the ledger is as it was, and the lines stay what they were.
    assert [(e.kind, e.amount) for e in await fresh(db, LedgerEntry)] == ledger_before
    assert [line.status.value for line in await fresh(db, StatementLine)] == ["held", "matched"]
    # Nothing is held any more: another refund is refused.
    response = await post_form(client, f"/officer/statements/lines/{first}/refund", refund_form(3, amount="1"))
    assert response.status_code == 409 and "No money is held on this statement line." in response.text


async def test_reassigned_money_pays_a_pledge_like_an_exact_match(
    client, db, officer, sponsor, need, clean_backend
) -> None:
    """200.000 ₫ held: 140.000 ₫ of it pays a pledge of 4 items to a need (its open VietQR payment
    confirmed, a receipt, one ledger entry, the items allocated); 60.000 ₫ stays held. No đồng twice."""
    first, excess = await held_lines(client, db, sponsor, clean_backend.url)
    to_need = await pledge(db, sponsor, clean_backend.url, target="need", need_id=need.id, quantity=4)
    waiting = await services.new_payment(db, to_need, "bank_transfer")  # the sponsor opened the QR page
    await db.commit()
    before_ledger = sum(e.amount for e in await fresh(db, LedgerEntry, kind=LedgerKind.PAYMENT))

    note = "Nhà tài trợ đồng ý qua điện thoại ngày 10/03"
    response = await post_form(client, f"/officer/statements/lines/{first}/reassign",
                               {"number": "1", "reference": to_need.reference.lower(), "note": note})
    assert response.status_code == 303, response.text
    [paid] = await fresh(db, Pledge, id=to_need.id)
    assert (paid.status, paid.amount) == (PledgeStatus.ALLOCATED, 140_000)
    [payment] = await fresh(db, Payment, pledge_id=to_need.id)
    assert (payment.id, payment.provider, payment.state, payment.amount) == (
        waiting.id, "bank_transfer", PaymentState.CONFIRMED, 140_000)
    assert payment.receipt_number.startswith("GLG-")
    [entry] = await fresh(db, LedgerEntry, kind=LedgerKind.PAYMENT, pledge_id=to_need.id)
    assert (entry.amount, entry.payment_id) == (140_000, payment.id)
    [need_row] = await fresh(db, Need)
    assert need_row.allocated_quantity == 4
    [row] = await fresh(db, HeldMoneySettlement)
    assert (row.line_id, row.kind, row.amount, row.pledge_id, row.payment_id, row.note, row.day) == (
        first, SettlementKind.REASSIGN, 140_000, to_need.id, payment.id, note, held_money.today())
    [audit] = await fresh(db, AuditLog, action="held_money.reassign")
    assert audit.after["reference"] == to_need.reference and audit.after["held"] == 60_000
    assert audit.after["receipt_number"] == payment.receipt_number
    assert {"payment.confirmed", "pledge.paid", "pledge.allocate"} <= set(await db.scalars(select(AuditLog.action)))
    # Every đồng once: the ledger gained what is no longer held.
    assert await left(db) == {first: 60_000, excess: 50_000}
    lines = sum(line.amount for line in await fresh(db, StatementLine))
    ledger = sum(e.amount for e in await fresh(db, LedgerEntry, kind=LedgerKind.PAYMENT))
    assert ledger == before_ledger + 140_000
    assert lines == ledger + sum((await left(db)).values())
    receipt = pdf_text((await client.get(f"/pledges/{to_need.reference}/receipt.pdf")).content)
    assert "140.000" in receipt and "200.000" not in receipt

    await client.get("/lang/en")
    page = flat((await client.get("/officer/statements")).text)
    history = page.split('id="settlements"')[1].split("</table>")[0]
    assert f"Reassigned → <code>{to_need.reference}</code>" in history and "₫140,000" in history and note in history
    # The rest pays a pool pledge of exactly what is left; then nothing of that line is held.
    to_pool = await pledge(db, sponsor, clean_backend.url, target="pool", amount=60_000)
    response = await post_form(client, f"/officer/statements/lines/{first}/reassign",
                               {"number": "2", "reference": to_pool.reference, "note": note})
    assert response.status_code == 303, response.text
    [paid] = await fresh(db, Pledge, id=to_pool.id)
    assert paid.status == PledgeStatus.PAID
    assert await left(db) == {excess: 50_000}


async def test_the_remainder_of_a_short_transfer_to_a_need_is_refunded(
    client, db, officer, sponsor, need, clean_backend
) -> None:
    """120.000 ₫ for 10 items at 35.000 ₫: 3 items are paid; the 15.000 ₫ left is held, then paid back."""
    to_need = await pledge(db, sponsor, clean_backend.url, target="need", need_id=need.id, quantity=10)
    await sign_in(client, officer.email)
    await upload(client, csv_bytes(f"{BOOKED},120000,{to_need.reference},"))
    [line] = await fresh(db, StatementLine)
    assert (await post_form(client, f"/officer/statements/lines/{line.id}/match",
                            {"reference": to_need.reference})).status_code == 303
    assert await left(db) == {line.id: 15_000}
    page = await client.get("/officer/statements")
    form = page.text.split(f'action="/officer/statements/lines/{line.id}/refund"')[1].split("</form>")[0]
    amount = re.search(r'name="amount"[^>]*value="(\d+)"', form)
    assert amount and amount.group(1) == "15000"
    response = await post_form(client, f"/officer/statements/lines/{line.id}/refund",
                               refund_form(amount="15000", day=held_money.today().isoformat()))
    assert response.status_code == 303, response.text
    assert await left(db) == {}
    ledger = [(e.kind, e.amount) for e in await fresh(db, LedgerEntry)]
    assert ledger == [(LedgerKind.PAYMENT, 105_000), (LedgerKind.ALLOCATION, 105_000)]


TOMORROW = "tomorrow"
REFUND_BAD_INPUT = [
    ({"note": "  "}, "note", "Say how the money was paid back"),
    ({"note": "x" * 2001}, "note", "at most 2000 characters"),
    ({"amount": "1.5"}, "amount", "Enter the amount in whole đồng"),
    ({"amount": "80.000"}, "amount", "Enter the amount in whole đồng"),
    ({"amount": ""}, "amount", "Enter the amount in whole đồng"),
    ({"amount": "200001"}, "amount", "At most ₫200,000 of this money is still held."),
    ({"amount": "0"}, "amount", "Must be more than ₫0."),
    ({"amount": "-5000"}, "amount", "Must be more than ₫0."),
    ({"day": TOMORROW}, "day", "A refund cannot be dated in the future."),
    ({"day": (BOOKED - dt.timedelta(days=1)).isoformat()}, "day", "before the money arrived (Mar 9, 2026)"),
    ({"day": "2026-02-30"}, "day", "Enter a valid date."),
]


@pytest.mark.parametrize(("form", "field", "message"), REFUND_BAD_INPUT)
async def test_a_bad_refund_is_refused_beside_its_field(
    client, db, officer, sponsor, clean_backend, form, field, message
) -> None:
    first, _excess = await held_lines(client, db, sponsor, clean_backend.url)
    await client.get("/lang/en")
    if form.get("day") == TOMORROW:
        form = {"day": (held_money.today() + dt.timedelta(days=1)).isoformat()}
    before, held_before = await everything(db), await left(db)
    response = await post_form(client, f"/officer/statements/lines/{first}/refund", refund_form(**form))
    assert response.status_code == 422, response.text[-1500:]
    error = re.search(rf'id="e-refund-{first}-{field}">([^<]*)<', response.text)
    assert error and message in error.group(1).replace("\xa0", " "), response.text[-3000:]
    assert await everything(db) == before and await left(db) == held_before
    # What was typed is kept, the form is open.
    assert "<details open><summary>Refund</summary>" in response.text


async def test_a_bad_reassignment_is_refused_beside_its_field(client, db, officer, sponsor, clean_backend) -> None:
    first, excess = await held_lines(client, db, sponsor, clean_backend.url)
    too_big = await pledge(db, sponsor, clean_backend.url, amount=60_000)  # 50.000 ₫ excess held
    gone = await pledge(db, sponsor, clean_backend.url, amount=20_000)
    books = await pledge(db, sponsor, clean_backend.url, kind="books", target="pool", item_kind="book/children",
                         quantity=1, delivery="to_hub")
    await services.cancel(db, sponsor, await services.get_pledge(db, gone.reference))
    await db.commit()
    await client.get("/lang/en")
    cases = [
        (first, {"reference": "GLGNOPE0000"}, "reference", "No pledge has this reference code."),
        (first, {"reference": ""}, "reference", "This field is required."),
        (first, {"reference": gone.reference}, "reference", "This pledge is not awaiting payment."),
        (first, {"reference": books.reference}, "reference", "This pledge is not awaiting payment."),
        (excess, {"reference": too_big.reference}, "reference",
         "This pledge is for ₫60,000: only ₫50,000 of this money is still held."),
        (first, {"reference": too_big.reference, "note": ""}, "note", "Say how the sender agreed"),
    ]
    before, held_before = await everything(db), await left(db)
    for line_id, form, field, message in cases:
        response = await post_form(client, f"/officer/statements/lines/{line_id}/reassign",
                                   {"number": "1", "note": "Đồng ý qua thư", **form})
        assert response.status_code == 422, (form, response.text[-1500:])
        error = re.search(rf'id="e-reassign-{line_id}-{field}">([^<]*)<', response.text)
        assert error and message in error.group(1).replace("\xa0", " "), (form, response.text[-3000:])
        assert await everything(db) == before and await left(db) == held_before
    [still] = await fresh(db, Pledge, id=too_big.id)
    assert still.status == PledgeStatus.AWAITING_PAYMENT


async def test_a_form_sent_twice_settles_once(client, db, officer, sponsor, clean_backend) -> None:
    first, excess = await held_lines(client, db, sponsor, clean_backend.url)
    target = await pledge(db, sponsor, clean_backend.url, amount=30_000)
    await client.get("/lang/en")
    for url, form in ((f"/officer/statements/lines/{first}/refund", refund_form()),
                      (f"/officer/statements/lines/{excess}/reassign",
                       {"number": "1", "reference": target.reference, "note": "Đồng ý"})):
        assert (await post_form(client, url, form)).status_code == 303
        before = await everything(db)
        again = await post_form(client, url, form)
        assert again.status_code == 409 and "This money was settled meanwhile" in again.text
        assert await everything(db) == before
    assert await left(db) == {first: 120_000, excess: 20_000}
    assert len(await fresh(db, Payment, pledge_id=target.id)) == 1


async def _refund_meanwhile(session: AsyncSession, officer_id: int, line_id: int) -> None:
    actor = await session.get(User, officer_id)
    assert actor is not None
    await held_money.refund(session, actor, line_id, 1, 80_000, BOOKED, "Đã hoàn (lần gửi thứ nhất)")


async def test_a_form_sent_twice_at_once_settles_once(client, db, officer, sponsor, clean_backend) -> None:
    """The first submission commits just before the second locks the line: the second sees it."""
    first, _excess = await held_lines(client, db, sponsor, clean_backend.url)
    with meanwhile(db, "SELECT statement_lines", lambda s: _refund_meanwhile(s, officer.id, first)):
        response = await post_form(client, f"/officer/statements/lines/{first}/refund", refund_form())
    assert response.status_code == 409, response.text[-1500:]
    assert [s.amount for s in await fresh(db, HeldMoneySettlement)] == [80_000]
    assert (await left(db))[first] == 120_000


@pytest.mark.sqlite_only
async def test_a_form_sent_twice_at_once_settles_once_without_row_locks(
    client, db, officer, sponsor, clean_backend
) -> None:
    """SQLite has no row locks: both submissions read the line before either writes. The first
    commits just before the second writes (its audit row, then its settlement, whose number is then
    taken): 409, and nothing of the second is written. (On PostgreSQL the second waits at the
    line's lock instead: the test above.)"""
    first, _excess = await held_lines(client, db, sponsor, clean_backend.url)
    before = await fresh(db, AuditLog)
    with meanwhile(db, "INSERT INTO audit_log", lambda s: _refund_meanwhile(s, officer.id, first)):
        response = await post_form(client, f"/officer/statements/lines/{first}/refund", refund_form())
    assert response.status_code == 409, response.text[-1500:]
    assert [s.amount for s in await fresh(db, HeldMoneySettlement)] == [80_000]
    assert len(await fresh(db, AuditLog)) == len(before) + 1  # the first's audit row only
    assert (await left(db))[first] == 120_000


async def test_with_htmx_a_settlement_redirects_and_a_refusal_is_shown(
    client, db, officer, sponsor, clean_backend
) -> None:
    first, _excess = await held_lines(client, db, sponsor, clean_backend.url)
    htmx = {"HX-Request": "true"}
    response = await post_form(client, f"/officer/statements/lines/{first}/refund", refund_form(amount="0"),
                               headers=htmx)
    assert response.status_code == 422 and f'id="e-refund-{first}-amount"' in response.text
    response = await post_form(client, f"/officer/statements/lines/{first}/refund", refund_form(), headers=htmx)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/officer/statements"
    assert (await left(db))[first] == 120_000


async def test_only_held_money_is_settled_and_only_by_officers(client, db, officer, sponsor, clean_backend) -> None:
    exact = await pledge(db, sponsor, clean_backend.url, amount=30_000)
    await sign_in(client, officer.email)
    await upload(client, csv_bytes(f"{BOOKED},30000,{exact.reference},", f"{BOOKED},40000,khong ro,"))
    matched, review = (line.id for line in await fresh(db, StatementLine))
    for line_id in (matched, review):  # an exact match and a line in review hold nothing
        response = await post_form(client, f"/officer/statements/lines/{line_id}/refund", refund_form(amount="1"))
        assert response.status_code == 409, line_id
    assert (await post_form(client, "/officer/statements/lines/999999/refund", refund_form())).status_code == 404
    response = await post_form(client, f"/officer/statements/lines/{review}/hold", {"note": "Không rõ"})
    assert response.status_code == 303

    client.cookies.clear()
    await sign_in(client, sponsor.email)
    before = await everything(db)
    for action, form in (("refund", refund_form()), ("reassign", {"number": "1", "reference": exact.reference,
                                                                  "note": "x"})):
        response = await post_form(client, f"/officer/statements/lines/{review}/{action}", form)
        assert response.status_code == 403 and "Bạn không có quyền" in response.text
    assert await everything(db) == before
