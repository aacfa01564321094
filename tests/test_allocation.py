"""The matching adapter and the officer's matching pages, on real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditLog
from app.auth.models import Role, User
from app.geography.models import Commune, Library
from app.i18n import format_vnd
from donations.allocation import build_instance, fingerprint
from donations.models import Allocation, LedgerEntry, LedgerKind, Pledge, PledgeKind, PledgeStatus, Target
from needs.models import Need
from tests.support import MUONG_LA, SON_LA, flat, make_library, make_need, make_user, post_form, sign_in

_counter = iter(range(1, 10_000))


async def _other_commune(db: AsyncSession) -> Commune:
    commune = await db.scalar(select(Commune).where(Commune.province_code == SON_LA, Commune.code != MUONG_LA)
                              .order_by(Commune.code))
    assert commune is not None
    return commune


def _pledge(sponsor: User, **fields: Any) -> Pledge:
    fields.setdefault("target", Target.POOL)
    if fields.get("status") in (PledgeStatus.PAID, PledgeStatus.RECEIVED):  # as confirming it sets
        fields.setdefault("confirmed_at", dt.datetime.now(dt.UTC))
    return Pledge(reference=f"GLGT{next(_counter):06d}", sponsor_id=sponsor.id, **fields)


async def _arrange(db: AsyncSession) -> dict[str, Any]:
    """Two communes of Sơn La with book needs; pool money (one restricted), a received lot."""
    other = await _other_commune(db)
    muong_la = await db.get(Commune, MUONG_LA)
    assert muong_la is not None
    muong_la.priority_weight = 2.0
    lib_a = await make_library(db)
    lib_b = await make_library(db, "Thư viện B", other.code)
    need_a = await make_need(db, lib_a, quantity=100, unit_value=35_000, pledged_quantity=20)
    need_b = await make_need(db, lib_b, quantity=50, unit_value=40_000)
    sponsor = await make_user(db, Role.SPONSOR)
    fund_any = _pledge(sponsor, kind=PledgeKind.MONEY, amount=700_000, status=PledgeStatus.PAID)
    fund_b = _pledge(sponsor, kind=PledgeKind.MONEY, amount=400_000, status=PledgeStatus.PAID,
                     allowed_communes=[other.code], allowed_items=["book/children"])
    lot = _pledge(sponsor, kind=PledgeKind.BOOKS, target=Target.COMMUNE, commune_code=MUONG_LA,
                  item_kind_key="book/children", quantity=30, unit_value=35_000, status=PledgeStatus.RECEIVED)
    unpaid = _pledge(sponsor, kind=PledgeKind.MONEY, amount=999_000, status=PledgeStatus.AWAITING_PAYMENT)
    db.add_all([fund_any, fund_b, lot, unpaid])
    await db.commit()
    return {"muong_la": muong_la, "other": other, "need_a": need_a, "need_b": need_b, "sponsor": sponsor,
            "fund_any": fund_any, "fund_b": fund_b, "lot": lot, "lib_a": lib_a}


async def test_instance_built_from_rows(db: AsyncSession) -> None:
    a = await _arrange(db)
    instance, snapshot = await build_instance(db, SON_LA)
    assert snapshot == fingerprint(instance) and len(snapshot) == 64
    ml, ot = f"{SON_LA}-{MUONG_LA}", f"{SON_LA}-{a['other'].code}"
    weights = {c["id"]: c["weight"] for c in instance["communes"]}
    assert weights[ml] == 2.0 and weights[ot] == 1.0
    assert instance["needs"] == [
        {"id": f"N{a['need_a'].id}", "commune": ml, "item": "book/children", "quantity": 80, "unit_value": 35_000},
        {"id": f"N{a['need_b'].id}", "commune": ot, "item": "book/children", "quantity": 50, "unit_value": 40_000},
    ]
    assert instance["funds"] == [
        {"id": f"F{a['fund_any'].id}", "amount": 700_000, "communes": None, "items": None},
        {"id": f"F{a['fund_b'].id}", "amount": 400_000, "communes": [ot], "items": ["book/children"]},
    ]
    assert instance["lots"] == [{"id": f"L{a['lot'].id}", "item": "book/children", "quantity": 30, "communes": [ml]}]


async def _preview(client: Any, policy: str = "leximin") -> str:
    response = await client.get(f"/officer/matching?policy={policy}")
    assert response.status_code == 200, response.text
    match = re.search(r'name="snapshot" value="([0-9a-f]{64})"', response.text)
    assert match is not None
    return match.group(1)


async def _count(db: AsyncSession, model: Any, *where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_commit_writes_allocations_ledger_and_progress(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, "officer@example.vn")
    page = await client.get("/officer/matching")
    assert "hbar" in page.text and a["lot"].reference in page.text
    snapshot = await _preview(client)
    response = await post_form(client, "/officer/matching", {"policy": "leximin", "snapshot": snapshot})
    assert response.status_code == 303, response.text

    rows = list(await db.scalars(select(Allocation).order_by(Allocation.id)))
    assert rows and len({r.run_id for r in rows}) == 1
    ledger = list(await db.scalars(select(LedgerEntry).where(LedgerEntry.kind == LedgerKind.ALLOCATION)))
    assert sorted((e.pledge_id, e.need_id, e.amount, e.quantity) for e in ledger) == sorted(
        (r.pledge_id, r.need_id, r.value, r.quantity) for r in rows)
    # Money buys whole items; the restricted fund only reaches commune B.
    for r in rows:
        need = await db.get(Need, r.need_id)
        assert need is not None and r.value == r.quantity * need.unit_value
        if r.pledge_id == a["fund_b"].id:
            assert r.need_id == a["need_b"].id
    for key in ("need_a", "need_b"):
        need = await db.get(Need, a[key].id, populate_existing=True)
        assert need is not None
        drawn = sum(r.quantity for r in rows if r.need_id == need.id)
        assert need.allocated_quantity == drawn
        assert need.pledged_quantity == drawn + (20 if key == "need_a" else 0)
        assert need.pledged_quantity <= need.quantity
    # Supply (2.3M ₫ with the lot) is less than the needs (4.8M ₫): everything usable is drawn.
    lot = await db.get(Pledge, a["lot"].id, populate_existing=True)
    assert lot is not None and lot.status == PledgeStatus.ALLOCATED
    assert await _count(db, AuditLog, AuditLog.action == "matching.commit") == 1
    assert await _count(db, AuditLog, AuditLog.action == "pledge.allocate") >= 1
    # What is left can be previewed again, and nothing is counted twice.
    instance, _snapshot = await build_instance(db, SON_LA)
    partly: list[tuple[str, int, int]] = []
    for fund in instance["funds"]:
        pledge = await db.get(Pledge, int(fund["id"][1:]), populate_existing=True)
        assert pledge is not None and pledge.status == PledgeStatus.PAID
        used = sum(r.amount for r in rows if r.pledge_id == pledge.id)
        assert fund["amount"] == pledge.amount - used
        partly.append((pledge.reference, used, pledge.amount - used))
    assert all(lot_["id"] != f"L{a['lot'].id}" for lot_ in instance["lots"])
    # The public ledger says how much of a money gift still waiting was allocated (its status stays paid).
    ledger_page = flat((await client.get("/ledger")).text)
    response = await client.get("/api/v1/ledger")
    assert response.status_code == 200, response.text
    api = {row["reference"]: row for row in response.json()["items"]}
    assert any(used for _ref, used, _left in partly)
    for reference, used, left in partly:
        assert api[reference]["allocated_value"] == used and api[reference]["status"] == "paid"
        if used:
            assert flat(f"{format_vnd(used)} đã phân bổ, {format_vnd(left)} chờ lần phân bổ sau") in ledger_page


async def test_stale_preview_is_refused_and_writes_nothing(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, "officer@example.vn")
    snapshot = await _preview(client, "proportional")
    db.add(_pledge(a["sponsor"], kind=PledgeKind.MONEY, amount=300_000, status=PledgeStatus.PAID))  # new payment
    await db.commit()
    response = await post_form(client, "/officer/matching", {"policy": "proportional", "snapshot": snapshot})
    assert response.status_code == 409
    assert "preview again" in response.text or "xem trước lại" in response.text
    assert await _count(db, Allocation) == 0
    assert await _count(db, LedgerEntry, LedgerEntry.kind == LedgerKind.ALLOCATION) == 0
    need = await db.get(Need, a["need_b"].id, populate_existing=True)
    assert need is not None and need.allocated_quantity == 0


async def test_preview_names_the_items_in_the_users_language(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, "officer@example.vn")
    page = (await client.get("/officer/matching")).text
    assert f"#{a['need_a'].id} · Sách thiếu nhi" in page and "book/children" not in page
    await client.get("/lang/en")
    page = (await client.get("/officer/matching")).text
    assert f"#{a['need_a'].id} · Children&#39;s books" in page and "book/children" not in page


@pytest.mark.parametrize("policy", ["leximin", "proportional", "priority", "fcfs"])
async def test_every_policy_previews(client: Any, db: AsyncSession, policy: str) -> None:
    await _arrange(db)
    await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, "officer@example.vn")
    await _preview(client, policy)
    fragment = await client.get(f"/officer/matching?policy={policy}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'id="coverage"' in fragment.text


@pytest.mark.parametrize("role", [Role.SPONSOR, Role.LIBRARIAN])
async def test_non_officers_get_403(client: Any, db: AsyncSession, role: Role) -> None:
    extra: dict[str, Any] = {}
    if role == Role.LIBRARIAN:
        library: Library = await make_library(db)
        extra["library_id"] = library.id
    await make_user(db, role, **extra)
    await db.commit()
    await sign_in(client, f"{role.value}@example.vn")
    assert (await client.get("/officer/matching")).status_code == 403
    response = await post_form(client, "/officer/matching", {"policy": "leximin", "snapshot": "0" * 64})
    assert response.status_code == 403
    assert await _count(db, Allocation) == 0


async def test_leximin_shares_money_fairly_where_fcfs_does_not(client: Any, db: AsyncSession) -> None:
    other = await _other_commune(db)
    need_a = await make_need(db, await make_library(db), quantity=10, unit_value=10_000)
    need_b = await make_need(db, await make_library(db, "Thư viện B", other.code), quantity=10, unit_value=10_000)
    sponsor = await make_user(db, Role.SPONSOR)
    db.add(_pledge(sponsor, kind=PledgeKind.MONEY, amount=105_000, status=PledgeStatus.PAID))
    await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, "officer@example.vn")
    page = (await client.get("/officer/matching?policy=leximin")).text
    assert "50%" in page.replace("\xa0", "") and "100%" in page.replace("\xa0", "")  # leximin, then fcfs
    assert page.count("r = 0,5)") == 2  # each commune's reason: the same level, in Vietnamese numbers
    snapshot = await _preview(client)
    response = await post_form(client, "/officer/matching", {"policy": "leximin", "snapshot": snapshot})
    assert response.status_code == 303
    rows = list(await db.scalars(select(Allocation).order_by(Allocation.need_id)))
    assert [(r.need_id, r.quantity, r.amount) for r in rows] == [(need_a.id, 5, 50_000), (need_b.id, 5, 50_000)]
    # Money buys whole items: 5,000 ₫ stays in the fund, which stays paid for a later run.
    pledge = await db.scalar(select(Pledge).where(Pledge.kind == PledgeKind.MONEY).execution_options(
        populate_existing=True))
    assert pledge is not None and pledge.status == PledgeStatus.PAID
    instance, _snapshot = await build_instance(db, SON_LA)
    assert [f["amount"] for f in instance["funds"]] == [5_000]
    # The same preview cannot be committed twice.
    again = await post_form(client, "/officer/matching", {"policy": "leximin", "snapshot": snapshot})
    assert again.status_code == 409
    assert await _count(db, Allocation) == 2


async def test_commit_without_a_preview_is_refused(client: Any, db: AsyncSession) -> None:
    await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, "officer@example.vn")
    response = await post_form(client, "/officer/matching", {"policy": "leximin"})
    assert response.status_code == 422
    assert await _count(db, Allocation) == 0


async def test_a_funds_change_from_several_needs_buys_whole_items(db: AsyncSession) -> None:
    """90,000 ₫ over two equal needs of 30,000 ₫ items: the engine gives 45,000 ₫ to each, which
    buys one item each; the two 15,000 ₫ of change buy a third item rather than idling."""
    from donations.allocation import gather, run

    other = await _other_commune(db)
    need_a = await make_need(db, await make_library(db), quantity=10, unit_value=30_000)
    need_b = await make_need(db, await make_library(db, "Thư viện B", other.code), quantity=10, unit_value=30_000)
    sponsor = await make_user(db, Role.SPONSOR)
    db.add(_pledge(sponsor, kind=PledgeKind.MONEY, amount=90_000, status=PledgeStatus.PAID))
    await db.commit()
    _result, lines = run(await gather(db, SON_LA), "leximin")
    assert sorted((line.need_key, line.quantity, line.amount) for line in lines) == [
        (f"N{need_a.id}", 2, 60_000), (f"N{need_b.id}", 1, 30_000)]  # ties go to the first need



def _cells(row: str) -> list[str]:
    return [flat(re.sub(r"<[^>]+>", " ", c)) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]


@pytest.mark.parametrize("policy", ["leximin", "proportional", "priority", "fcfs"])
async def test_each_lines_reason_states_the_charts_coverage_and_the_sponsors_choice(
        client: Any, db: AsyncSession, policy: str) -> None:
    """The reason beside each line of the preview says how far its commune's coverage moves, in the
    chart's own figures (not another "coverage" of what was left), and a gift its sponsor gave to a
    commune is said to be the sponsor's choice, not the policy's."""
    other = await _other_commune(db)
    need_a = await make_need(db, await make_library(db), quantity=20, unit_value=10_000, pledged_quantity=10)
    await make_need(db, await make_library(db, "Thư viện B", other.code), quantity=10, unit_value=10_000)
    sponsor = await make_user(db, Role.SPONSOR)
    db.add(_pledge(sponsor, kind=PledgeKind.MONEY, amount=60_000, status=PledgeStatus.PAID))
    db.add(_pledge(sponsor, kind=PledgeKind.MONEY, amount=20_000, status=PledgeStatus.PAID, target=Target.COMMUNE,
                   commune_code=MUONG_LA))
    await make_user(db, Role.OFFICER)
    await db.commit()
    assert need_a.commune_code == MUONG_LA
    await sign_in(client, "officer@example.vn")
    await client.get("/lang/en")
    page = (await client.get(f"/officer/matching?policy={policy}")).text
    chart = {cells[0]: (cells[2], cells[3]) for cells in map(_cells, re.findall(
        r"<tr>(.*?)</tr>", page.split('id="coverage"')[1].split("</table>")[0], re.S)) if cells}
    lines = [_cells(row) for row in re.findall(r"<tr>(.*?)</tr>", page.split('id="allocations"')[1].split(
        "</table>")[0], re.S)]
    lines = [cells for cells in lines if cells]
    assert lines
    earmarked = 0
    for commune, _need, _source, _items, _value, reason in lines:
        before, after = chart[commune]
        assert f"from {before} to {after} covered" in reason, (reason, chart[commune])
        if commune == "Xã Mường La" and "gave this to Xã Mường La" in reason:
            earmarked += 1
    assert earmarked == 1, lines  # the 20.000 ₫ given to Mường La, whatever the policy
