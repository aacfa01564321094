"""Resolving shortfalls: the officer re-sends the missing items, releases them back to the need, or
marks them replaced outside the platform; each flows to the need, the pledge, the ledger, the
outbox and the pages. Real SQLite and PostgreSQL; pledges made and paid by the services,
everything else through HTTP."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditLog
from app.auth.models import Role
from app.geography.models import Commune
from app.outbox import OutboxMessage
from donations import services
from donations.models import (
    Allocation,
    AllocationStatus,
    Delivery,
    LedgerEntry,
    LedgerKind,
    Pledge,
    PledgeKind,
    PledgeStatus,
    Shipment,
    ShipmentReceipt,
    ShipmentSource,
    ShipmentStatus,
    Target,
)
from donations.schemas import PledgeIn
from needs.models import Need, NeedStatus
from tests.conftest import settings_for
from tests.support import SON_LA, csrf_token, make_library, make_need, make_user, post_form
from tests.test_deliveries import _arrange, _as, _count, _fresh, _line, _receipt, _ship

QUEUE = "/officer/deliveries/shortfalls"


async def _short(client: Any, db: AsyncSession, a: dict[str, Any], received: int,
                 note: str = "Thiếu sách, thùng bị ướt.") -> ShipmentReceipt:
    """The pledge's line is shipped and the librarian confirms fewer items than were sent."""
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["librarian"])
    assert (await _receipt(client, shipment.id, allocation.id, received, note)).status_code == 303
    receipt = await db.scalar(select(ShipmentReceipt).where(ShipmentReceipt.allocation_id == allocation.id))
    assert receipt is not None and receipt.shortfall == allocation.quantity - received
    await _as(client, a["officer"])
    return receipt


async def _entries(db: AsyncSession, pledge_id: int, kind: LedgerKind) -> tuple[int, int]:
    row = (await db.execute(select(func.coalesce(func.sum(LedgerEntry.amount), 0),
                                   func.coalesce(func.sum(LedgerEntry.quantity), 0))
                            .where(LedgerEntry.pledge_id == pledge_id, LedgerEntry.kind == kind))).one()
    return int(row[0]), int(row[1])


def _text(response: Any) -> str:
    return response.text.replace("\xa0", " ")


async def test_resend_travels_like_any_shipment_and_the_pledge_is_acknowledged(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=10, pledged=10)
    receipt = await _short(client, db, a, 7)
    assert (await _fresh(db, Pledge, a["pledge"].id)).status == PledgeStatus.DELIVERED
    ledger_before = await _count(db, LedgerEntry)

    response = await post_form(client, f"{QUEUE}/{receipt.id}/resend", {"quantity": "", "note": "Gửi bù 3 cuốn"})
    assert response.status_code == 303, response.text
    receipt = await _fresh(db, ShipmentReceipt, receipt.id)
    assert receipt.shortfall_resent == 3 and receipt.unresolved == 0 and receipt.shortfall_handled_at is not None
    resend = await db.scalar(select(Allocation).where(Allocation.resends_receipt_id == receipt.id))
    assert resend is not None
    assert (resend.quantity, resend.value, resend.amount, resend.policy) == (3, 150_000, 0, "resend")
    shipment = await _fresh(db, Shipment, resend.shipment_id)
    assert shipment.status == ShipmentStatus.PLANNED and shipment.source == ShipmentSource.HUB
    assert shipment.id != receipt.shipment_id and shipment.commune_code == receipt.commune_code
    assert (await _fresh(db, Pledge, a["pledge"].id)).status == PledgeStatus.ALLOCATED
    need = await _fresh(db, Need, a["need"].id)
    assert (need.pledged_quantity, need.allocated_quantity, need.delivered_quantity) == (10, 10, 7)
    assert await _count(db, LedgerEntry) == ledger_before  # the allocation already counts these items
    queue = await client.get(QUEUE)
    assert queue.status_code == 200 and f'id="shortfall-{receipt.id}"' not in queue.text
    assert f'id="resolved-{receipt.id}"' in queue.text and shipment.code in queue.text

    # It goes through dispatch → delivered → receipt like any other shipment.
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/dispatch", {"carrier": "VTP-BU"})).status_code \
        == 303
    await _as(client, a["librarian"])
    page = await client.get("/library/deliveries")
    assert shipment.code in page.text and "Gửi lại" in page.text
    assert (await _receipt(client, shipment.id, resend.id, 3)).status_code == 303
    pledge = await _fresh(db, Pledge, a["pledge"].id)
    assert pledge.status == PledgeStatus.ACKNOWLEDGED and pledge.accepted_value == 500_000
    need = await _fresh(db, Need, a["need"].id)
    assert need.delivered_quantity == 10 and need.status == NeedStatus.FULFILLED
    actions = list(await db.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert {"allocation.resend", "delivery.shortfall_resend", "pledge.resend", "pledge.acknowledge"} <= set(actions)
    told = await db.scalar(select(OutboxMessage).where(OutboxMessage.topic == "delivery.resend"))
    assert told is not None and told.recipient_id == a["sponsor"].id and shipment.code in told.body

    await _as(client, a["sponsor"])
    dashboard = _text(await client.get("/account/pledges"))
    assert "7/10" in dashboard and "3/3" in dashboard and "gửi lại" in dashboard and shipment.code in dashboard


async def test_release_gives_the_items_back_to_the_need_and_keeps_the_ledger_true(client: Any,
                                                                                 db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=10, pledged=6)
    receipt = await _short(client, db, a, 4)
    need = await _fresh(db, Need, a["need"].id)
    assert (need.pledged_quantity, need.allocated_quantity, need.coverage_permille) == (6, 6, 600)

    response = await post_form(client, f"{QUEUE}/{receipt.id}/release", {"quantity": "2", "note": "Mất khi vận chuyển"})
    assert response.status_code == 303, response.text
    need = await _fresh(db, Need, a["need"].id)
    assert (need.pledged_quantity, need.allocated_quantity, need.delivered_quantity) == (4, 4, 4)
    assert need.coverage_permille == 400 and need.status == NeedStatus.OPEN
    pledge = await _fresh(db, Pledge, a["pledge"].id)
    assert pledge.status == PledgeStatus.ACKNOWLEDGED and pledge.accepted_value == 4 * 50_000
    assert await _entries(db, pledge.id, LedgerKind.PAYMENT) == (300_000, 0)
    assert await _entries(db, pledge.id, LedgerKind.ALLOCATION) == (200_000, 4)  # 300 000 allocated, 100 000 back
    receipt = await _fresh(db, ShipmentReceipt, receipt.id)
    assert receipt.shortfall_released == 2 and receipt.shortfall_handled_at is not None
    told = list(await db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "delivery.released")))
    assert len(told) == 1 and told[0].recipient_id == a["sponsor"].id and pledge.reference in told[0].subject
    assert "4/6" in told[0].body and "Mất khi vận chuyển" in told[0].body
    assert await _count(db, AuditLog, AuditLog.action.in_(["delivery.shortfall_release", "need.release"])) == 2

    # The need takes new pledges for the released items again.
    other = await make_user(db, Role.SPONSOR, email="khac@example.vn")
    again = await services.create_pledge(db, other, PledgeIn(
        kind=PledgeKind.MONEY, target=Target.NEED, need_id=need.id, quantity=6), settings_for(""))
    await db.commit()
    assert again.quantity == 6 and (await _fresh(db, Need, need.id)).pledged_quantity == 10

    ledger = _text(await client.get("/ledger"))
    assert "100.000 ₫ không đến nơi" in ledger
    await _as(client, a["sponsor"])
    dashboard = _text(await client.get("/account/pledges"))
    assert "4/6" in dashboard and "trả lại cho nhu cầu" in dashboard


async def test_goods_the_sponsor_brings_count_in_the_ledger_as_they_arrived(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=20, pledged=10)
    gift = await services.create_pledge(db, a["sponsor"], PledgeIn(
        kind=PledgeKind.BOOKS, target=Target.NEED, need_id=a["need"].id, quantity=4, delivery=Delivery.TO_COMMUNE),
        settings_for(""))
    await db.commit()
    unit = gift.unit_value
    await _as(client, a["librarian"])
    token = await csrf_token(client)
    response = await client.post(f"/library/pledges/{gift.reference}/receive",
                                 data={"quantity": "1", "note": "Chỉ mang đến 1 cuốn", "_csrf_token": token},
                                 files={"photo": ("", b"", "application/octet-stream")})
    assert response.status_code == 303, response.text
    assert await _entries(db, gift.id, LedgerKind.IN_KIND) == (unit, 1)
    assert (await client.get("/ledger")).status_code == 200
    api = (await client.get("/api/v1/ledger")).json()
    row = next(item for item in api["items"] if item["reference"] == gift.reference)
    assert row["value"] == unit  # what arrived, not the 4 pledged
    receipt = await db.scalar(select(ShipmentReceipt).where(ShipmentReceipt.pledge_id == gift.id))
    assert receipt is not None

    # Two are brought again (a shipment "directly from the sponsor"), one is lost.
    await _as(client, a["officer"])
    assert (await post_form(client, f"{QUEUE}/{receipt.id}/resend", {"quantity": "2", "note": "Sẽ mang nốt"})) \
        .status_code == 303
    assert (await post_form(client, f"{QUEUE}/{receipt.id}/release", {"quantity": "", "note": "Một cuốn hỏng"})) \
        .status_code == 303
    resend = await db.scalar(select(Allocation).where(Allocation.resends_receipt_id == receipt.id))
    assert resend is not None
    shipment = await _fresh(db, Shipment, resend.shipment_id)
    assert shipment.source == ShipmentSource.SPONSOR
    assert (await _fresh(db, Pledge, gift.id)).status == PledgeStatus.ALLOCATED
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/dispatch", {})).status_code == 303
    await _as(client, a["librarian"])
    assert (await _receipt(client, shipment.id, resend.id, 2)).status_code == 303
    gift = await _fresh(db, Pledge, gift.id)
    assert gift.status == PledgeStatus.ACKNOWLEDGED and gift.accepted_value == 3 * unit
    # In kind received = allocated = the 3 items that arrived.
    assert await _entries(db, gift.id, LedgerKind.IN_KIND) == (3 * unit, 3)
    assert await _entries(db, gift.id, LedgerKind.ALLOCATION) == (3 * unit, 3)
    need = await _fresh(db, Need, a["need"].id)
    assert (need.pledged_quantity, need.allocated_quantity) == (10 + 3, 10 + 3)


async def test_illegal_resolutions_are_409_and_write_nothing(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=10, pledged=10)
    receipt = await _short(client, db, a, 8)

    async def written() -> tuple[int, ...]:
        need = await _fresh(db, Need, a["need"].id)
        return (await _count(db, LedgerEntry), await _count(db, Allocation), await _count(db, Shipment),
                await _count(db, AuditLog), await _count(db, OutboxMessage),
                need.pledged_quantity, need.allocated_quantity, need.delivered_quantity)

    before = await written()
    more = await post_form(client, f"{QUEUE}/{receipt.id}/release", {"quantity": "3", "note": "Mất"})
    assert more.status_code == 409 and "Chỉ còn 2" in more.text
    assert (await post_form(client, f"{QUEUE}/{receipt.id}/resend", {"quantity": "5", "note": "x"})).status_code == 409
    # Bad input: the queue again with the message beside the field (422), nothing written.
    no_note = await post_form(client, f"{QUEUE}/{receipt.id}/release", {"quantity": "1", "note": " "})
    assert no_note.status_code == 422 and "field-error" in no_note.text and "đã xử lý" in no_note.text
    zero = await post_form(client, f"{QUEUE}/{receipt.id}/resend", {"quantity": "0", "note": "x"})
    assert zero.status_code == 422 and "từ 1 đến 2" in zero.text
    assert (await post_form(client, f"{QUEUE}/999999/release", {"note": "x"})).status_code == 404
    assert await written() == before

    # Resolved: resolving it again, in any way, is refused.
    assert (await post_form(client, f"{QUEUE}/{receipt.id}/release", {"note": "Mất hẳn"})).status_code == 303
    after = await written()
    for action in ("/release", "/resend", ""):
        again = await post_form(client, f"{QUEUE}/{receipt.id}{action}", {"quantity": "1", "note": "lại"})
        assert again.status_code == 409, action
    assert await written() == after


async def test_a_shortfall_of_another_province_is_refused(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=10, pledged=10)
    receipt = await _short(client, db, a, 9)
    elsewhere = await db.scalar(select(Commune.code).where(Commune.province_code != SON_LA).order_by(Commune.code))
    assert elsewhere is not None
    far = await make_library(db, "Thư viện tỉnh khác", elsewhere)
    need = await make_need(db, far, quantity=5, unit_value=50_000)
    sponsor = await make_user(db, Role.SPONSOR, email="xa@example.vn")
    pledge = await services.create_pledge(db, sponsor, PledgeIn(
        kind=PledgeKind.MONEY, target=Target.NEED, need_id=need.id, quantity=5), settings_for(""))
    await services.confirm_payment(db, await services.new_payment(db, pledge, "bank_transfer"))
    allocation = await _line(db, pledge)
    shipment = Shipment(commune_code=elsewhere, source=ShipmentSource.HUB, status=ShipmentStatus.DELIVERED,
                        allocations=[allocation])
    allocation.status = AllocationStatus.DELIVERED
    db.add(shipment)
    await db.flush()
    far_receipt = ShipmentReceipt(shipment_id=shipment.id, allocation_id=allocation.id, pledge_id=pledge.id,
                                  need_id=need.id, commune_code=elsewhere, quantity_sent=5, quantity_received=2,
                                  accepted_value=100_000, note="Thiếu 3")
    db.add(far_receipt)
    await db.commit()
    queue = await client.get(QUEUE)
    assert f'id="shortfall-{receipt.id}"' in queue.text and f'id="shortfall-{far_receipt.id}"' not in queue.text
    for action in ("/release", "/resend", ""):
        response = await post_form(client, f"{QUEUE}/{far_receipt.id}{action}", {"note": "x"})
        assert response.status_code == 409 and "tỉnh khác" in response.text
    assert (await _fresh(db, Need, need.id)).pledged_quantity == 5
    assert (await _fresh(db, ShipmentReceipt, far_receipt.id)).unresolved == 3


async def test_only_officers_resolve_shortfalls(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=10, pledged=10)
    receipt = await _short(client, db, a, 5)
    for who in ("librarian", "sponsor"):
        await _as(client, a[who])
        assert (await client.get(QUEUE)).status_code == 403
        for action in ("/release", "/resend", ""):
            response = await post_form(client, f"{QUEUE}/{receipt.id}{action}", {"note": "x"})
            assert response.status_code == 403, (who, action)
    assert (await _fresh(db, ShipmentReceipt, receipt.id)).unresolved == 5
    assert (await _fresh(db, Need, a["need"].id)).pledged_quantity == 10
    assert await _count(db, Allocation) == 1


async def test_partial_decisions_then_the_pledge_is_recomputed(client: Any, db: AsyncSession) -> None:
    """Some re-sent, some released, the rest replaced: the shortfall leaves the queue only then."""
    a = await _arrange(db, need_quantity=10, pledged=10)
    receipt = await _short(client, db, a, 4)
    assert (await post_form(client, f"{QUEUE}/{receipt.id}/resend", {"quantity": "3", "note": "Gửi 3"})).status_code \
        == 303
    assert (await post_form(client, f"{QUEUE}/{receipt.id}/release", {"quantity": "2", "note": "Mất 2"})).status_code \
        == 303
    queue = await client.get(QUEUE)
    assert f'id="shortfall-{receipt.id}"' in queue.text
    assert re.search(r'name="quantity"[^>]*max="1"', queue.text)
    assert (await post_form(client, f"{QUEUE}/{receipt.id}", {"note": "Xã tự mua 1 cuốn"})).status_code == 303
    receipt = await _fresh(db, ShipmentReceipt, receipt.id)
    assert (receipt.shortfall_resent, receipt.shortfall_released, receipt.shortfall_replaced) == (3, 2, 1)
    assert receipt.shortfall_handled_at is not None
    need = await _fresh(db, Need, a["need"].id)
    assert (need.pledged_quantity, need.allocated_quantity, need.delivered_quantity) == (8, 8, 5)
    assert (await _fresh(db, Pledge, a["pledge"].id)).status == PledgeStatus.ALLOCATED  # 3 still on their way
