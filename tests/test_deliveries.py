"""Deliveries: shipments per commune (planned → dispatched → delivered), the librarian's receipt
(quantity, note, photo), shortfalls, and what flows back to the needs, the pledges, the sponsor's
dashboard, the public ledger and the outbox. Real SQLite and PostgreSQL; pledges made and paid
by the services, everything else through HTTP."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.audit import AuditLog
from app.auth.models import Role, User
from app.outbox import OutboxMessage
from donations import services
from donations.models import (
    Allocation,
    AllocationStatus,
    Delivery,
    Pledge,
    PledgeKind,
    PledgeStatus,
    Shipment,
    ShipmentReceipt,
    ShipmentStatus,
    Target,
)
from donations.schemas import PledgeIn
from needs.models import Need, NeedStatus
from tests.conftest import Backend, settings_for
from tests.support import (
    MUONG_LA,
    PASSWORD,
    csrf_token,
    flat,
    make_library,
    make_need,
    make_user,
    post_form,
    sign_in,
)

OTHER_COMMUNE = 3670
PHOTO_LIMIT = 64 * 1024


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def app(clean_backend: Backend, uploads: Path) -> Litestar:
    """The app with photos kept in a temporary directory and a small size limit (64 KB)."""
    return create_app(settings_for(clean_backend.url, upload_dir=uploads, receipt_photo_max_bytes=PHOTO_LIMIT))


def png(size: tuple[int, int] = (12, 8), *, noise: bool = False) -> bytes:
    image = (Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise
             else Image.new("RGB", size, (200, 120, 40)))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _arrange(db: AsyncSession, *, need_quantity: int = 10, pledged: int = 10) -> dict[str, Any]:
    """Mường La's library needs books; a sponsor pays for some of them (a direct allocation)."""
    library = await make_library(db)
    other_library = await make_library(db, "Thư viện xã khác", OTHER_COMMUNE)
    need = await make_need(db, library, quantity=need_quantity, unit_value=50_000)
    officer = await make_user(db, Role.OFFICER, email="canbo@sonla.vn")
    librarian = await make_user(db, Role.LIBRARIAN, email="thuthu@muongla.vn", library_id=library.id)
    stranger = await make_user(db, Role.LIBRARIAN, email="thuthu@xakhac.vn", library_id=other_library.id)
    sponsor = await make_user(db, Role.SPONSOR, email="nhataitro@example.vn", full_name="Công ty Sách Tây Bắc")
    pledge = await services.create_pledge(db, sponsor, PledgeIn(
        kind=PledgeKind.MONEY, target=Target.NEED, need_id=need.id, quantity=pledged), settings_for(""))
    payment = await services.new_payment(db, pledge, "bank_transfer")
    await services.confirm_payment(db, payment, actor_id=officer.id)
    await db.commit()
    return {"need": need, "officer": officer, "librarian": librarian, "stranger": stranger, "sponsor": sponsor,
            "pledge": pledge, "library": library}


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


async def _count(db: AsyncSession, model: Any, *where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _fresh(db: AsyncSession, model: Any, ident: Any) -> Any:
    return await db.get(model, ident, populate_existing=True)


async def _as(client: Any, user: User) -> None:
    client.cookies.clear()
    await sign_in(client, user.email)


async def _ship(client: Any, db: AsyncSession, a: dict[str, Any], *, dispatch: bool = True) -> Shipment:
    """The officer plans a shipment from the waiting allocations of Mường La (and dispatches it)."""
    await _as(client, a["officer"])
    page = await client.get("/officer/deliveries")
    assert page.status_code == 200
    ids = re.findall(r'name="allocation" value="(\d+)"', page.text)
    assert ids
    response = await post_form(client, "/officer/deliveries", {
        "commune_code": str(MUONG_LA), "allocation": ids, "source": "hub", "carrier": "Viettel Post VTP123"})
    assert response.status_code == 303, response.text
    shipment_id = int(response.headers["location"].rsplit("/", 1)[1])
    if dispatch:
        response = await post_form(client, f"/officer/deliveries/{shipment_id}/dispatch", {"carrier": ""})
        assert response.status_code == 303, response.text
    shipment = await _fresh(db, Shipment, shipment_id)
    assert shipment is not None
    return shipment


async def _line(db: AsyncSession, pledge: Pledge) -> Allocation:
    allocation = await db.scalar(select(Allocation).where(Allocation.pledge_id == pledge.id)
                                 .execution_options(populate_existing=True))
    assert allocation is not None
    return allocation


async def _receipt(client: Any, shipment_id: int, allocation_id: int, quantity: Any, note: str = "",
                   photo: tuple[str, bytes, str] | None = None) -> Any:
    token = await csrf_token(client)
    files = {"photo": photo} if photo else {"photo": ("", b"", "application/octet-stream")}
    return await client.post(f"/library/deliveries/{shipment_id}/lines/{allocation_id}",
                             data={"quantity": str(quantity), "note": note, "_csrf_token": token}, files=files)


async def test_full_lifecycle_from_payment_to_acknowledgement(client: Any, db: AsyncSession, uploads: Path) -> None:
    a = await _arrange(db)
    allocation = await _line(db, a["pledge"])
    assert (allocation.policy, allocation.quantity, allocation.value) == ("direct", 10, 500_000)
    assert allocation.status == AllocationStatus.PLANNED and allocation.shipment_id is None

    shipment = await _ship(client, db, a, dispatch=False)
    assert shipment.status == ShipmentStatus.PLANNED
    assert (await _line(db, a["pledge"])).shipment_id == shipment.id
    detail = await client.get(f"/officer/deliveries/{shipment.id}")
    assert detail.status_code == 200 and shipment.code in detail.text and "Viettel Post VTP123" in detail.text
    response = await post_form(client, f"/officer/deliveries/{shipment.id}/dispatch", {"carrier": "VTP999"})
    assert response.status_code == 303
    shipment = await _fresh(db, Shipment, shipment.id)
    assert shipment.status == ShipmentStatus.DISPATCHED and shipment.carrier == "VTP999" and shipment.dispatched_at
    assert (await _line(db, a["pledge"])).status == AllocationStatus.DISPATCHED

    # The librarian sees it coming and confirms everything arrived, with a photo.
    await _as(client, a["librarian"])
    incoming = await client.get("/library/deliveries")
    assert incoming.status_code == 200 and shipment.code in incoming.text and "VTP999" in incoming.text
    response = await _receipt(client, shipment.id, allocation.id, 10, "Đủ sách, còn mới.",
                              ("anh.png", png(), "image/png"))
    assert response.status_code == 303, response.text

    shipment = await _fresh(db, Shipment, shipment.id)
    assert shipment.status == ShipmentStatus.DELIVERED and shipment.delivered_at is not None
    pledge = await _fresh(db, Pledge, a["pledge"].id)
    assert pledge.status == PledgeStatus.ACKNOWLEDGED and pledge.acknowledged_at is not None
    assert pledge.accepted_value == 500_000
    need = await _fresh(db, Need, a["need"].id)
    assert need.delivered_quantity == 10 and need.status == NeedStatus.FULFILLED
    receipt = await db.scalar(select(ShipmentReceipt))
    assert receipt is not None and receipt.quantity_received == 10 and receipt.photo_path
    assert [p.name for p in _files(uploads)] == [Path(receipt.photo_path).name]
    actions = set(await db.scalars(select(AuditLog.action)))
    assert {"shipment.create", "shipment.dispatch", "shipment.deliver", "pledge.dispatch", "pledge.deliver",
            "delivery.receipt", "pledge.acknowledge", "need.fulfil"} <= actions
    delivered = list(await db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "pledge.delivered")))
    assert len(delivered) == 1 and delivered[0].recipient_id == a["sponsor"].id
    assert pledge.reference in delivered[0].subject

    # Flows back: the need's progress bar, the sponsor's dashboard, the public ledger.
    page = (await client.get(f"/needs/{need.id}")).text
    assert 'value="10">10/10' in page.replace("\n", "")
    await _as(client, a["sponsor"])
    dashboard = (await client.get("/account/pledges")).text
    assert "Đã gửi đi" in dashboard and "Thư viện đã xác nhận" in dashboard and "10/10" in dashboard
    photo = await client.get(f"/deliveries/receipts/{receipt.id}/photo", headers={"Accept-Encoding": "gzip"})
    assert photo.status_code == 200 and photo.headers["content-type"].startswith("image/png")
    assert "content-encoding" not in photo.headers  # an image is compressed already
    ledger = (await client.get("/ledger")).text
    assert "status-acknowledged" in ledger
    api = (await client.get("/api/v1/ledger")).json()
    assert api["items"][0]["status"] == "acknowledged" and api["items"][0]["acknowledged_value"] == 500_000


async def test_illegal_transitions_are_409_and_change_nothing(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    shipment = await _ship(client, db, a, dispatch=False)
    allocation = await _line(db, a["pledge"])
    # Delivered before dispatch; confirmed by the librarian before dispatch.
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/deliver", {})).status_code == 409
    await _as(client, a["librarian"])
    assert (await _receipt(client, shipment.id, allocation.id, 10)).status_code == 409
    await _as(client, a["officer"])
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/dispatch", {})).status_code == 303
    again = await post_form(client, f"/officer/deliveries/{shipment.id}/dispatch", {})
    assert again.status_code == 409 and "không thể" in again.text
    # An allocation already in a shipment cannot join another.
    response = await post_form(client, "/officer/deliveries", {
        "commune_code": str(MUONG_LA), "allocation": [str(allocation.id)], "source": "hub"})
    assert response.status_code == 409
    assert await _count(db, Shipment) == 1
    await _as(client, a["librarian"])
    assert (await _receipt(client, shipment.id, allocation.id, 10)).status_code == 303
    assert (await _receipt(client, shipment.id, allocation.id, 10)).status_code == 409  # twice
    await _as(client, a["officer"])
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/deliver", {})).status_code == 409
    assert await _count(db, ShipmentReceipt) == 1
    need = await _fresh(db, Need, a["need"].id)
    assert need.delivered_quantity == 10
    # Goods delivered: too late to refund the money.
    refund = await post_form(client, f"/pledges/{a['pledge'].reference}/refund", {"reason": "Nhầm"})
    assert refund.status_code == 409


async def test_librarian_of_another_commune_is_refused(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["stranger"])
    assert shipment.code not in (await client.get("/library/deliveries")).text
    response = await _receipt(client, shipment.id, allocation.id, 10, photo=("a.png", png(), "image/png"))
    assert response.status_code == 403 and "xã khác" in response.text
    assert await _count(db, ShipmentReceipt) == 0
    assert (await _fresh(db, Shipment, shipment.id)).status == ShipmentStatus.DISPATCHED
    assert (await _fresh(db, Need, a["need"].id)).delivered_quantity == 0
    assert (await _fresh(db, Pledge, a["pledge"].id)).status == PledgeStatus.ALLOCATED
    # Sponsors and librarians cannot run the officer's pages.
    assert (await client.get("/officer/deliveries")).status_code == 403
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/deliver", {})).status_code == 403


async def test_a_receipt_photo_is_only_ever_an_image_for_those_concerned(client: Any, db: AsyncSession,
                                                                        uploads: Path) -> None:
    """An image with a page glued after it, sent as "receipt.html": kept and served as the image
    it is (its type from Pillow, never from the name or the declared type), never to be read as a
    page (nosniff), and only to the officers, the commune's librarians and the pledge's sponsor."""
    a = await _arrange(db)
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["librarian"])
    polyglot = png() + b"<html><script>alert(document.cookie)</script></html>"
    response = await _receipt(client, shipment.id, allocation.id, 10, "", ("receipt.html", polyglot, "text/html"))
    assert response.status_code == 303, response.text
    receipt = await db.scalar(select(ShipmentReceipt))
    assert receipt is not None and receipt.photo_path and receipt.photo_path.endswith(".png")
    assert [p.suffix for p in _files(uploads)] == [".png"]
    url = f"/deliveries/receipts/{receipt.id}/photo"
    for user in (a["librarian"], a["officer"], a["sponsor"]):
        await _as(client, user)
        photo = await client.get(url)
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
        assert photo.headers["x-content-type-options"] == "nosniff"
        assert photo.headers["content-disposition"].startswith("inline;") and ".html" not in photo.headers[
            "content-disposition"]
    other_sponsor = await make_user(db, Role.SPONSOR, email="khac@example.vn")
    await db.commit()
    for user in (a["stranger"], other_sponsor):
        await _as(client, user)
        assert (await client.get(url)).status_code == 404
    client.cookies.clear()
    assert (await client.get(url)).headers["location"].startswith("/login?next=")


def phone_photo() -> bytes:
    """A phone camera's JPEG: 2000 × 1500 as the sensor took it, tagged to be shown turned a quarter
    (portrait), with the camera's make and the GPS position in its EXIF."""
    image = Image.new("RGB", (2000, 1500), (230, 230, 220))
    image.paste((40, 60, 160), (0, 0, 2000, 250))  # a band along the sensor's top
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (21.0, 19.0, 36.0), 3: "E", 4: (103.0, 54.0, 0.0)}  # GPS: Sơn La
    out = io.BytesIO()
    image.save(out, "JPEG", quality=60, exif=exif)
    return out.getvalue()


async def test_a_receipt_photo_is_kept_upright_light_and_without_its_metadata(client: Any, db: AsyncSession,
                                                                             uploads: Path) -> None:
    a = await _arrange(db)
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["librarian"])
    sent = phone_photo()
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(0x8825)  # the upload has its GPS position
    response = await _receipt(client, shipment.id, allocation.id, 10, "", ("IMG_0001.jpg", sent, "image/jpeg"))
    assert response.status_code == 303, response.text
    [stored] = _files(uploads)
    kept = stored.read_bytes()
    with Image.open(io.BytesIO(kept)) as image:
        assert image.format == "JPEG" and image.size == (1200, 1600)  # upright (portrait), longer side 1600
        assert not image.getexif() and "icc_profile" not in image.info
        assert image.getpixel((1199, 10))[2] > 120 and image.getpixel((10, 10))[2] < 230  # the band is on the right
    assert len(kept) < len(sent)


@pytest.mark.parametrize("upload", [
    ("anh.jpg", b"%PDF-1.4 this is not an image at all", "image/jpeg"),
    ("anh.png", png((200, 200), noise=True), "image/png"),
], ids=["not-an-image", "too-large"])
async def test_bad_photo_is_refused_and_nothing_written(client: Any, db: AsyncSession, uploads: Path,
                                                        upload: tuple[str, bytes, str]) -> None:
    a = await _arrange(db)
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["librarian"])
    response = await _receipt(client, shipment.id, allocation.id, 10, "", upload)
    assert response.status_code == 422
    text = response.text
    if upload[0] == "anh.jpg":
        assert "không phải là ảnh" in text
    else:
        assert len(upload[1]) > PHOTO_LIMIT and "quá lớn" in text
    assert await _count(db, ShipmentReceipt) == 0
    assert (await _fresh(db, Shipment, shipment.id)).status == ShipmentStatus.DISPATCHED
    assert (await _fresh(db, Pledge, a["pledge"].id)).accepted_value == 0
    assert _files(uploads) == []


async def test_partial_receipt_flags_a_shortfall(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=10, pledged=10)
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["librarian"])
    out_of_range = await _receipt(client, shipment.id, allocation.id, 11)
    assert out_of_range.status_code == 422 and "từ 0 đến 10" in out_of_range.text
    assert f'id="q-{allocation.id}" name="quantity" type="number" min="0" max="10" required inputmode="numeric" ' \
        'value="11"' in out_of_range.text
    # Emptied and sent: the form comes back as typed (empty), never with the quantity sent in it.
    emptied = await _receipt(client, shipment.id, allocation.id, "")
    assert emptied.status_code == 422 and re.search(rf'id="q-{allocation.id}"[^>]*value=""', emptied.text)
    no_note = await _receipt(client, shipment.id, allocation.id, 7)
    assert no_note.status_code == 422 and await _count(db, ShipmentReceipt) == 0
    response = await _receipt(client, shipment.id, allocation.id, 7, "Thiếu 3 cuốn, thùng bị ướt.")
    assert response.status_code == 303

    pledge = await _fresh(db, Pledge, a["pledge"].id)  # acknowledged once the shortfall is resolved
    assert pledge.status == PledgeStatus.DELIVERED and pledge.accepted_value == 7 * 50_000
    need = await _fresh(db, Need, a["need"].id)
    assert need.delivered_quantity == 7 and need.status == NeedStatus.OPEN  # not everything arrived
    assert await _count(db, AuditLog, AuditLog.action == "delivery.shortfall") == 1
    told = list(await db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "delivery.shortfall")))
    assert [m.recipient_id for m in told] == [a["officer"].id] and "Thiếu 3 cuốn" in told[0].body

    await _as(client, a["officer"])
    queue = await client.get("/officer/deliveries/shortfalls")
    assert "Thiếu 3 cuốn, thùng bị ướt." in queue.text and pledge.reference in queue.text
    assert "1 thiếu hụt" in (await client.get("/officer/deliveries")).text
    receipt = await db.scalar(select(ShipmentReceipt))
    assert receipt is not None and receipt.shortfall == 3
    assert (await post_form(client, f"/officer/deliveries/shortfalls/{receipt.id}", {"note": ""})).status_code == 422
    done = await post_form(client, f"/officer/deliveries/shortfalls/{receipt.id}", {"note": "Đã gửi bù 3 cuốn"})
    assert done.status_code == 303
    assert "Thiếu 3 cuốn" not in (await client.get("/officer/deliveries/shortfalls")).text
    # Replaced outside the platform: the library has the items, the pledge counts what it sent.
    pledge = await _fresh(db, Pledge, a["pledge"].id)
    assert pledge.status == PledgeStatus.ACKNOWLEDGED and pledge.accepted_value == 7 * 50_000
    need = await _fresh(db, Need, a["need"].id)
    assert need.delivered_quantity == 10 and need.status == NeedStatus.FULFILLED
    assert (await _fresh(db, ShipmentReceipt, receipt.id)).shortfall_replaced == 3
    assert (await post_form(client, f"/officer/deliveries/shortfalls/{receipt.id}",
                            {"note": "lại"})).status_code == 409
    ledger = (await client.get("/ledger")).text
    assert "đã nhận 350.000" in ledger.replace("\xa0", " ")


async def test_goods_brought_by_the_sponsor_are_confirmed_in_one_step(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=20, pledged=10)
    gift = await services.create_pledge(db, a["sponsor"], PledgeIn(
        kind=PledgeKind.BOOKS, target=Target.NEED, need_id=a["need"].id, quantity=4, delivery=Delivery.TO_COMMUNE),
        settings_for(""))
    await db.commit()
    await _as(client, a["librarian"])
    assert gift.reference in (await client.get("/library/pledges")).text
    token = await csrf_token(client)
    response = await client.post(f"/library/pledges/{gift.reference}/receive",
                                 data={"quantity": "3", "note": "Một cuốn bị rách", "_csrf_token": token},
                                 files={"photo": ("a.png", png(), "image/png")})
    assert response.status_code == 303, response.text
    gift = await _fresh(db, Pledge, gift.id)  # delivered: its shortfall waits for an officer
    assert gift.status == PledgeStatus.DELIVERED and gift.accepted_value == 3 * gift.unit_value
    shipment = await db.scalar(select(Shipment).where(Shipment.source == "sponsor"))
    assert shipment is not None and shipment.status == ShipmentStatus.DELIVERED
    need = await _fresh(db, Need, a["need"].id)
    assert need.delivered_quantity == 3
    assert await _count(db, ShipmentReceipt, ShipmentReceipt.quantity_received < ShipmentReceipt.quantity_sent) == 1


@pytest.mark.parametrize("quantity", ["x", "", "2.5", " ", None])
async def test_goods_brought_by_the_sponsor_need_a_whole_quantity(client: Any, db: AsyncSession,
                                                                  quantity: str | None) -> None:
    """Not a whole number, empty or missing: refused beside the field as on the shipment receipt
    form, never read as "everything arrived"; nothing is written."""
    a = await _arrange(db, need_quantity=20, pledged=10)
    gift = await services.create_pledge(db, a["sponsor"], PledgeIn(
        kind=PledgeKind.BOOKS, target=Target.NEED, need_id=a["need"].id, quantity=3, delivery=Delivery.TO_COMMUNE),
        settings_for(""))
    await db.commit()
    await _as(client, a["librarian"])
    form = {"note": ""} if quantity is None else {"quantity": quantity, "note": ""}
    response = await post_form(client, f"/library/pledges/{gift.reference}/receive", form)
    assert response.status_code == 422, response.text
    assert 'id="eq-' in response.text and "từ 0 đến 3" in response.text
    assert (await _fresh(db, Pledge, gift.id)).status == PledgeStatus.AWAITING_DELIVERY
    assert await _count(db, Shipment) == 0 and await _count(db, ShipmentReceipt) == 0
    assert (await _fresh(db, Need, a["need"].id)).delivered_quantity == 0


async def test_refund_before_dispatch_cancels_the_allocation(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    await _ship(client, db, a, dispatch=False)
    response = await post_form(client, f"/pledges/{a['pledge'].reference}/refund", {"reason": "Nhà tài trợ rút lại"})
    assert response.status_code == 303, response.text
    allocation = await _line(db, a["pledge"])
    assert allocation.status == AllocationStatus.CANCELED and allocation.shipment_id is None
    assert "Nhà tài trợ rút lại" not in (await client.get("/officer/deliveries")).text


async def test_pooled_gifts_ship_from_the_hub_after_a_matching_run(client: Any, db: AsyncSession) -> None:
    """A received lot and paid pool money, allocated by a committed matching run, travel in one
    shipment; the lot's pledge is acknowledged at its own unit value, the money's at the item price."""
    a = await _arrange(db, need_quantity=40, pledged=10)
    lot = Pledge(reference="GLGTLOT00001", sponsor_id=a["sponsor"].id, kind=PledgeKind.BOOKS,
                 target=Target.COMMUNE, commune_code=MUONG_LA, item_kind_key="book/children", quantity=12,
                 unit_value=30_000, status=PledgeStatus.RECEIVED)
    fund = Pledge(reference="GLGTFUND0001", sponsor_id=a["sponsor"].id, kind=PledgeKind.MONEY,
                  target=Target.POOL, amount=400_000, status=PledgeStatus.PAID)
    db.add_all([lot, fund])
    await db.commit()
    await _as(client, a["officer"])
    page = await client.get("/officer/matching?policy=leximin")
    snapshot = re.search(r'name="snapshot" value="([0-9a-f]{64})"', page.text).group(1)  # type: ignore[union-attr]
    response = await post_form(client, "/officer/matching", {"policy": "leximin", "snapshot": snapshot})
    assert response.status_code == 303
    assert await _count(db, Allocation, Allocation.policy == "leximin") == 2

    shipment = await _ship(client, db, a)  # the direct allocation and the two pooled ones
    lines = list(await db.scalars(select(Allocation).where(Allocation.shipment_id == shipment.id)
                                  .order_by(Allocation.id)))
    assert len(lines) == 3 and {line.status for line in lines} == {AllocationStatus.DISPATCHED}
    # The officer records the arrival; the librarian then confirms each line.
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/deliver", {})).status_code == 303
    for pledge in (lot, fund):
        assert (await _fresh(db, Pledge, pledge.id)).status == PledgeStatus.DELIVERED
    await _as(client, a["librarian"])
    for line in lines:
        response = await _receipt(client, shipment.id, line.id, line.quantity)
        assert response.status_code == 303, response.text
    lot, fund = await _fresh(db, Pledge, lot.id), await _fresh(db, Pledge, fund.id)
    assert lot.status == fund.status == PledgeStatus.ACKNOWLEDGED
    assert lot.accepted_value == 12 * 30_000
    assert fund.accepted_value == 8 * 50_000  # money bought whole books at the need's price
    need = await _fresh(db, Need, a["need"].id)
    assert need.delivered_quantity == 10 + 12 + 8 and need.status == NeedStatus.OPEN
    assert await _count(db, OutboxMessage, OutboxMessage.topic == "pledge.delivered") == 3


async def test_shipment_list_fragment_for_htmx(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    shipment = await _ship(client, db, a)
    fragment = await client.get("/officer/deliveries?status=dispatched", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and shipment.code in fragment.text
    empty = await client.get("/officer/deliveries?status=delivered", headers={"HX-Request": "true"})
    assert shipment.code not in empty.text


async def test_refunding_pooled_money_gives_its_planned_items_back(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db, need_quantity=40, pledged=10)
    fund = Pledge(reference="GLGTFUND0002", sponsor_id=a["sponsor"].id, kind=PledgeKind.MONEY,
                  target=Target.POOL, amount=300_000, status=PledgeStatus.AWAITING_PAYMENT)
    db.add(fund)
    await db.flush()
    await services.confirm_payment(db, await services.new_payment(db, fund, "bank_transfer"), actor_id=a["officer"].id)
    await db.commit()
    await _as(client, a["officer"])
    page = await client.get("/officer/matching?policy=leximin")
    snapshot = re.search(r'name="snapshot" value="([0-9a-f]{64})"', page.text).group(1)  # type: ignore[union-attr]
    committed = await post_form(client, "/officer/matching", {"policy": "leximin", "snapshot": snapshot})
    assert committed.status_code == 303
    need = await _fresh(db, Need, a["need"].id)
    assert (need.pledged_quantity, need.allocated_quantity) == (16, 16)
    response = await post_form(client, f"/pledges/{fund.reference}/refund", {"reason": "Nhà tài trợ rút lại"})
    assert response.status_code == 303, response.text
    line = await _line(db, fund)
    assert line.status == AllocationStatus.CANCELED
    need = await _fresh(db, Need, a["need"].id)
    assert (need.pledged_quantity, need.allocated_quantity) == (10, 10)


async def test_a_planned_shipment_can_be_canceled_and_its_lines_shipped_again(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    shipment = await _ship(client, db, a, dispatch=False)
    response = await post_form(client, f"/officer/deliveries/{shipment.id}/cancel", {})
    assert response.status_code == 303
    assert (await _fresh(db, Shipment, shipment.id)).status == ShipmentStatus.CANCELED
    line = await _line(db, a["pledge"])
    assert line.shipment_id is None and line.status == AllocationStatus.PLANNED
    assert (await post_form(client, f"/officer/deliveries/{shipment.id}/dispatch", {})).status_code == 409
    again = await _ship(client, db, a)  # the line waits for a shipment again
    assert again.id != shipment.id and again.status == ShipmentStatus.DISPATCHED
    assert (await post_form(client, f"/officer/deliveries/{again.id}/cancel", {})).status_code == 409


async def test_gifts_on_their_way_say_what_comes_and_from_whom(client: Any, db: AsyncSession) -> None:
    """The librarian knows the box at the door: the item, how many, new or used, the titles, who
    brings it (unless they give anonymously) and until when it is expected."""
    a = await _arrange(db, need_quantity=30, pledged=10)
    named = await services.create_pledge(db, a["sponsor"], PledgeIn(
        kind=PledgeKind.BOOKS, target=Target.NEED, need_id=a["need"].id, quantity=4, delivery=Delivery.TO_COMMUNE,
        condition="new", titles="Dế Mèn phiêu lưu ký"), settings_for(""))
    hidden = await services.create_pledge(db, a["sponsor"], PledgeIn(
        kind=PledgeKind.BOOKS, target=Target.NEED, need_id=a["need"].id, quantity=2, delivery=Delivery.TO_COMMUNE,
        anonymous=True), settings_for(""))
    await db.commit()
    await _as(client, a["librarian"])
    await client.get("/lang/en")
    page = (await client.get("/library/pledges")).text
    first = page[page.index(f'id="pledge-{named.reference}"'):page.index(f'id="pledge-{hidden.reference}"')]
    assert "4 × Children" in first and "New" in first and "Dế Mèn phiêu lưu ký" in first
    assert "Công ty Sách Tây Bắc" in first and "Pledged: 4." in first and "Expected by" in first
    second = page[page.index(f'id="pledge-{hidden.reference}"'):]
    assert "2 × Children" in second and "Anonymous sponsor" in second and "Công ty Sách Tây Bắc" not in second


async def test_the_librarian_sees_the_photo_of_a_confirmed_line(client: Any, db: AsyncSession) -> None:
    a = await _arrange(db)
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["librarian"])
    response = await _receipt(client, shipment.id, allocation.id, 10, "", ("anh.png", png(), "image/png"))
    assert response.status_code == 303
    receipt = await db.scalar(select(ShipmentReceipt))
    page = (await client.get("/library/deliveries")).text
    assert f'href="/deliveries/receipts/{receipt.id}/photo"' in page
    assert (await client.get(f"/deliveries/receipts/{receipt.id}/photo")).status_code == 200


async def test_a_photo_over_the_servers_limit_gets_a_message_in_the_users_language(
        client: Any, db: AsyncSession, uploads: Path) -> None:
    """A photo straight from a camera can be over what the server reads at all: the person gets a
    message in their language (not the framework's English), and nothing is written."""
    a = await _arrange(db)
    shipment = await _ship(client, db, a)
    allocation = await _line(db, a["pledge"])
    await _as(client, a["librarian"])
    await client.get("/lang/en")
    huge = png() + b"\0" * (11 * 1024 * 1024)
    response = await _receipt(client, shipment.id, allocation.id, 10, "", ("anh.png", huge, "image/png"))
    assert response.status_code == 413
    assert "What you sent is too large. Go back and choose a smaller file." in response.text
    assert "Request Entity Too Large" not in response.text
    assert await _count(db, ShipmentReceipt) == 0 and _files(uploads) == []


async def test_a_librarian_lands_on_what_waits_for_them(client: Any, db: AsyncSession) -> None:
    """Signing in, the librarian lands on their library's needs, with what waits for them at the
    top: a line to count, a gift a sponsor is bringing, a need returned for changes; and each need
    says how many of its items arrived."""
    a = await _arrange(db, need_quantity=30, pledged=10)
    await services.create_pledge(db, a["sponsor"], PledgeIn(
        kind=PledgeKind.BOOKS, target=Target.NEED, need_id=a["need"].id, quantity=4, delivery=Delivery.TO_COMMUNE),
        settings_for(""))
    await make_need(db, a["library"], status=NeedStatus.RETURNED, moderation_note="Ghi rõ số lượng.")
    await db.commit()
    shipment = await _ship(client, db, a)
    client.cookies.clear()
    response = await post_form(client, "/login", {"email": a["librarian"].email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/library/needs"
    await client.get("/lang/en")
    page = flat((await client.get("/library/needs")).text)
    assert "Waiting for you" in page
    assert 'href="/library/deliveries">Deliveries to count and confirm: 1 lines.' in page
    assert 'href="/library/pledges">Gifts sponsors are bringing to your library: 1.' in page
    assert "Needs the province returned for changes: 1." in page
    assert "0/30" in page

    allocation = await _line(db, a["pledge"])
    assert (await _receipt(client, shipment.id, allocation.id, 10)).status_code == 303
    page = flat((await client.get("/library/needs")).text)
    assert "Deliveries to count" not in page and "10/30" in page
