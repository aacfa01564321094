"""One varied data set, built through the services as officers, librarians and sponsors would build
it, and every view of it telling the same story: the public ledger, the receipts, the sponsors'
dashboards, the money held on the statements page, the matching's supply and the honor roll.

The data set: money paid exactly by bank transfer, short (to a need: the whole items it pays for,
the rest held), over (the excess held), refunded, held for a canceled pledge then partly refunded
and partly reassigned to another pledge; goods a sponsor brought to the library that partly arrived
(the rest released), goods received at the hub with fewer items than pledged; money to a need
whose delivery fell short (the missing items released); and a committed matching run."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from app.auth.models import Role, User
from donations import allocation, bank, dashboard, deliveries, held_money, receipts, services, shortfalls
from donations.ledger import CONFIRMED, LedgerFilters, ledger
from donations.models import (
    ROLL_MONEY_STATUSES,
    Allocation,
    AllocationStatus,
    HeldMoneySettlement,
    LedgerEntry,
    LedgerKind,
    Payment,
    Pledge,
    PledgeKind,
    PledgeStatus,
    SettlementKind,
    ShipmentSource,
    StatementLine,
    StatementLineStatus,
)
from donations.schemas import PledgeIn
from recognition import rules
from recognition import services as recognition
from recognition.schemas import RuleSetIn
from tests.conftest import settings_for
from tests.recognition_support import organisation, person
from tests.support import MUONG_LA, SON_LA, flat, make_library, make_need, make_user, sign_in
from tests.test_receipts_ledger import pdf_text

P = PledgeStatus
UNIT = 35_000  # children's books, the catalogue's value and the needs' price


def statement(*rows: str) -> bytes:
    return ("date,amount,description,reference\n" + "\n".join(rows) + "\n").encode()


async def build(db: Any, url: str) -> dict[str, Any]:
    """The data set; returns the actors by role."""
    settings = settings_for(url)
    today = held_money.today().isoformat()
    library = await make_library(db)
    officer = await make_user(db, Role.OFFICER, email="canbo@sonla.gov.vn")
    librarian = await make_user(db, Role.LIBRARIAN, email="thuthu@sonla.gov.vn", library_id=library.id)
    lo = await person(db, "Lò Văn Tài", "Bản Ít, xã Mường La")
    paper = await organisation(db, "Công ty CP Giấy Sơn La")
    need = await make_need(db, library, quantity=200, unit_value=UNIT)
    await db.commit()

    async def pledge(who: User, **fields: Any) -> Pledge:
        made = await services.create_pledge(db, who, PledgeIn(**fields), settings)
        await db.commit()
        return made

    exact = await pledge(lo, kind="money", target="need", need_id=need.id, quantity=4)  # 140.000
    short = await pledge(paper, kind="money", target="need", need_id=need.id, quantity=10)  # 350.000
    over = await pledge(lo, kind="money", target="pool", amount=100_000)
    refunded = await pledge(paper, kind="money", target="pool", amount=200_000)
    gone = await pledge(lo, kind="money", target="commune", commune_code=MUONG_LA, amount=150_000)
    reassigned = await pledge(lo, kind="money", target="commune", commune_code=MUONG_LA, amount=100_000,
                              anonymous=True)
    brought = await pledge(paper, kind="books", target="need", need_id=need.id, quantity=10, delivery="to_commune")
    at_hub = await pledge(lo, kind="books", target="pool", item_kind="book/children", quantity=6,
                          delivery="to_hub")
    shipped = await pledge(lo, kind="money", target="need", need_id=need.id, quantity=6)  # 210.000
    await services.cancel(db, lo, await services.get_pledge(db, gone.reference, for_update=True))
    await db.commit()

    officer = await db.get(User, officer.id)
    await bank.import_statement(db, officer, statement(
        f"{today},140000,{exact.reference},FT1", f"{today},300000,{short.reference},FT2",
        f"{today},150000,{over.reference},FT3", f"{today},150000,{gone.reference},FT4"))
    await db.commit()
    lines = {line.reference: line for line in await db.scalars(select(StatementLine))}
    await bank.match_line(db, officer, lines[short.reference].id, short.reference)  # 8 items, 20.000 held
    await bank.match_line(db, officer, lines[over.reference].id, over.reference)  # 50.000 held
    await bank.hold_line(db, officer, lines[gone.reference].id, "Cam kết đã hủy, chờ người gửi")
    await db.commit()
    held_line = lines[gone.reference].id
    await held_money.refund(db, officer, held_line, 1, 20_000, held_money.today(), "FT-HOAN-1")
    await db.commit()
    await held_money.reassign(db, officer, held_line, 2, reassigned.reference, "Người gửi đồng ý qua điện thoại")
    await db.commit()  # 30.000 still held on that line

    await bank.record_offline_payment(db, officer, await services.get_pledge(db, refunded.reference,
                                                                             for_update=True), "PT-001")
    await db.commit()
    payment = await db.scalar(select(Payment).where(Payment.pledge_id == refunded.id, Payment.state == "confirmed"))
    await services.record_refund(db, officer.id, payment, "Nhà tài trợ xin rút lại")
    await db.commit()

    librarian = await db.get(User, librarian.id)
    await deliveries.receive_from_sponsor(db, librarian, settings, await services.get_pledge(
        db, brought.reference, for_update=True), 7, "Nhà tài trợ mang đến 7 cuốn")
    await db.commit()
    await bank.receive_at_hub(db, officer, await services.get_pledge(db, at_hub.reference, for_update=True),
                              5, UNIT, "Một cuốn rách, không nhận")
    await bank.record_offline_payment(db, officer, await services.get_pledge(db, shipped.reference,
                                                                             for_update=True), "PT-002")
    await db.commit()
    line = await db.scalar(select(Allocation).where(Allocation.pledge_id == shipped.id))
    shipment = await deliveries.create_shipment(db, officer, MUONG_LA, [line.id], ShipmentSource.HUB)
    await deliveries.dispatch(db, officer, shipment, "Bưu điện EL1")
    await deliveries.confirm_receipt(db, librarian, settings, shipment.id, line.id, 4, "Thiếu 2 cuốn")
    await db.commit()
    for pledge_id in (brought.id, shipped.id):
        receipt_id = await db.scalar(select(deliveries.ShipmentReceipt.id).where(
            deliveries.ShipmentReceipt.pledge_id == pledge_id))
        await shortfalls.release(db, officer, receipt_id, SON_LA, "Mất, không gửi lại", None)
        await db.commit()

    situation = await allocation.gather(db, SON_LA)
    await allocation.commit_allocations(db, officer, SON_LA, "leximin", situation.fingerprint)
    await db.commit()
    return {"officer": officer.id, "sponsors": [lo.id, paper.id]}


async def test_the_ledger_receipts_dashboards_held_money_and_honor_roll_agree(clean_backend, db) -> None:
    actors = await build(db, clean_backend.url)
    db.expire_all()
    pledges = {p.reference: p for p in await db.scalars(
        select(Pledge).options(services.selectinload(Pledge.payments), services.selectinload(Pledge.sponsor)))}
    entries: dict[int, list[LedgerEntry]] = defaultdict(list)
    for entry in await db.scalars(select(LedgerEntry)):
        entries[entry.pledge_id].append(entry)

    def total(pledge: Pledge, *kinds: LedgerKind) -> int:
        return sum(e.amount for e in entries[pledge.id] if e.kind in kinds)

    # The ledger lists every confirmed donation once, and its total is what came in, less refunds.
    page = await ledger(db, LedgerFilters(), paginate=False)
    rows = {row.reference: row for row in page.rows}
    assert len(rows) == len(page.rows) == page.total
    assert set(rows) == {ref for ref, p in pledges.items() if p.status in CONFIRMED}
    came_in = sum(e.amount for es in entries.values() for e in es
                  if e.kind in (LedgerKind.PAYMENT, LedgerKind.REFUND, LedgerKind.IN_KIND))
    assert page.grand_total == came_in == sum(row.value for row in rows.values() if row.status != P.REFUNDED)
    assert sum(t.value for t in page.by_commune) == page.grand_total
    assert sum(t.count for t in page.by_month) == len([r for r in rows.values() if r.status != P.REFUNDED])

    # Money confirmed = allocated + waiting for the matching, and what waits is the matching's supply.
    situation = await allocation.gather(db, SON_LA)
    waiting_supply = {int(f["id"][1:]): f["amount"] for f in situation.instance["funds"]}
    drawn: dict[int, int] = defaultdict(int)
    for line in await db.scalars(select(Allocation).where(Allocation.status != AllocationStatus.CANCELED)):
        drawn[line.pledge_id] += line.amount
    money = [p for p in pledges.values() if p.kind == PledgeKind.MONEY and p.status in CONFIRMED
             and p.status != P.REFUNDED]
    for pledge in money:
        row = rows[pledge.reference]
        payment = services.confirmed_payment(pledge)
        assert row.value == pledge.amount == payment.amount == total(pledge, LedgerKind.PAYMENT), pledge.reference
        assert row.allocated == drawn[pledge.id], pledge.reference
        waiting = row.value - row.allocated
        assert waiting == waiting_supply.get(pledge.id, 0), pledge.reference
        assert waiting == 0 or pledge.status == P.PAID, pledge.reference
    assert sum(rows[p.reference].value for p in money) == (
        sum(rows[p.reference].allocated for p in money) + sum(waiting_supply.values()))
    # ... and the ledger's own summary says so, in the same figures.
    assert page.money.confirmed == sum(rows[p.reference].value for p in money)
    assert page.money.allocated == sum(rows[p.reference].allocated for p in money)
    assert page.money.waiting == sum(waiting_supply.values()) > 0
    assert page.money.lost == sum(rows[p.reference].released for p in money) == 2 * UNIT
    assert page.money.goods == page.grand_total - page.money.confirmed

    # The receipt states what the ledger counts: the money that arrived, the goods that arrived.
    for ref, pledge in pledges.items():
        numbered = receipts.receipt_number(pledge)
        if pledge.status not in CONFIRMED or pledge.status == P.REFUNDED:
            assert numbered is None, ref
            continue
        donation = await receipts.donation(db, pledge)
        assert donation.value == rows[ref].value, ref
        if pledge.kind != PledgeKind.MONEY:
            arrived = [e for e in entries[pledge.id] if e.kind == LedgerKind.IN_KIND]
            assert donation.value == sum(e.amount for e in arrived), ref
            assert donation.quantity == sum(e.quantity for e in arrived) == rows[ref].quantity, ref
            assert donation.quantity * pledge.unit_value == donation.value, ref

    # Each sponsor's dashboard names the same receipts and states the same received value.
    for sponsor_id in actors["sponsors"]:
        sponsor = await db.get(User, sponsor_id)
        for view in await dashboard.sponsor_pledges(db, sponsor, {}, per_page=100):
            ref = view.pledge.reference
            numbered = receipts.receipt_number(view.pledge)
            assert view.receipt_number == (numbered[0] if numbered else None), ref
            if numbered:
                assert view.received_value == rows[ref].value, ref

    # Every đồng of a statement line: its payment, plus what was settled, plus what is still held;
    # a reassignment's money is its pledge's payment (once in the ledger), a refund never enters it.
    held = {h.line.id: h for h in await held_money.held_money(db)}
    settled: dict[int, int] = defaultdict(int)
    settlements = list(await db.scalars(select(HeldMoneySettlement)))
    for s in settlements:
        settled[s.line_id] += s.amount
    for line in await db.scalars(select(StatementLine)):
        assert line.status != StatementLineStatus.REVIEW
        payment = await db.get(Payment, line.payment_id) if line.payment_id else None
        left = held[line.id].left if line.id in held else 0
        assert line.amount == (payment.amount if payment else 0) + settled[line.id] + left, line.reference
    assert sum(h.left for h in held.values()) == 20_000 + 50_000 + 30_000
    for s in settlements:
        if s.kind == SettlementKind.REASSIGN:
            payment = await db.get(Payment, s.payment_id)
            assert payment.amount == s.amount
            assert [e.amount for es in entries.values() for e in es
                    if e.kind == LedgerKind.PAYMENT and e.payment_id == payment.id] == [s.amount]
    refunds = [e for es in entries.values() for e in es if e.kind == LedgerKind.REFUND]
    assert [pledges[ref].id for ref in rows if rows[ref].status == P.REFUNDED] == [e.pledge_id for e in refunds]

    # The honor roll counts, per sponsor, what the ledger shows as given: money confirmed, goods at
    # the value the library acknowledged; anonymous gifts in no named total.
    year = str(held_money.today().year)
    officer = await db.get(User, actors["officer"])
    await rules.save_rule_set(db, officer, SON_LA, RuleSetIn(
        period_key=year, period_start=f"{year}-01-01", period_end=f"{year}-12-31",
        count_money=True, count_books=True, count_equipment=True,
        chair_merit_individual=50_000_000, chair_merit_collective=200_000_000,
        director_commendation_individual=10_000_000, director_commendation_collective=50_000_000,
        thank_you_letter_individual=1, thank_you_letter_collective=1))
    roll = await recognition.generate(db, officer, SON_LA, year)
    await db.commit()
    counted: dict[int | None, int] = defaultdict(int)
    for ref, row in rows.items():
        pledge = pledges[ref]
        if pledge.kind == PledgeKind.MONEY and pledge.status in ROLL_MONEY_STATUSES:
            counted[None if row.anonymous else pledge.sponsor_id] += row.value
        elif pledge.kind != PledgeKind.MONEY and row.acknowledged_value is not None:
            counted[None if row.anonymous else pledge.sponsor_id] += row.acknowledged_value
    named = {e.sponsor_id: e.value for e in await recognition.entries(db, roll.id) if not e.anonymous}
    assert named == {k: v for k, v in counted.items() if k is not None}
    assert roll.total_value == sum(counted.values())


async def test_goods_that_partly_arrived_are_receipted_and_listed_as_they_arrived(client, db, clean_backend) -> None:
    """A sponsor pledged 10 books to bring to the library; 7 came and the 3 others were released: the
    receipt, the confirmation record, the ledger's row and the sponsor's page say 7 × 35.000 ₫ =
    245.000 ₫ (what the honor roll counts), not the 10 pledged."""
    settings = settings_for(clean_backend.url)
    library = await make_library(db)
    officer = await make_user(db, Role.OFFICER, email="canbo@sonla.gov.vn")
    librarian = await make_user(db, Role.LIBRARIAN, email="thuthu@sonla.gov.vn", library_id=library.id)
    paper = await organisation(db, "Công ty CP Giấy Sơn La")
    need = await make_need(db, library, quantity=50, unit_value=UNIT)
    brought = await services.create_pledge(db, paper, PledgeIn(
        kind="books", target="need", need_id=need.id, quantity=10, delivery="to_commune"), settings)
    receipt = await deliveries.receive_from_sponsor(db, librarian, settings, brought, 7, "Chỉ có 7 cuốn")
    await shortfalls.release(db, officer, receipt.id, SON_LA, "Nhà tài trợ không mang thêm", None)
    await db.commit()

    await sign_in(client, "canbo@sonla.gov.vn")
    for document in ("receipt", "confirmation"):
        response = await client.get(f"/pledges/{brought.reference}/{document}.pdf")
        assert response.status_code == 200, document
        text = pdf_text(response.content)
        assert "7 × 35.000 ₫ = 245.000 ₫" in text, text
        assert "350.000" not in text
    api = (await client.get("/api/v1/ledger")).json()
    row = next(r for r in api["items"] if r["reference"] == brought.reference)
    assert (row["quantity"], row["value"]) == (7, 245_000)
    assert api["totals"]["goods"] == 245_000 and api["totals"]["money"]["confirmed"] == 0
    await client.get("/lang/en")
    summary = flat((await client.get("/ledger")).text).split('id="money-summary">')[1].split("</p>")[0]
    assert "Books and equipment received: ₫245,000." in summary

    client.cookies.clear()
    await sign_in(client, paper.email)
    page = flat((await client.get("/account/pledges")).text)
    assert "245.000 ₫" in page.split(brought.reference, 1)[1]
