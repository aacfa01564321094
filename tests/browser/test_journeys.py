"""Journeys people take, in a real browser."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import sign_in

pytestmark = pytest.mark.browser


def test_sponsor_registers_signs_out_and_signs_in(live_server: str, page: Page) -> None:
    email = f"sponsor-{uuid.uuid4().hex[:6]}@example.vn"
    password = "Sach-cho-em-2026"
    page.goto(f"{live_server}/")
    expect(page.locator("h1")).to_contain_text("Sách cho mọi xã vùng cao")
    page.get_by_role("link", name="Trở thành nhà tài trợ").first.click()

    # A weak password first: the form says why, beside the field, and keeps what was typed.
    page.get_by_label("Họ và tên").fill("Quàng Thị Hoa")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Mật khẩu").fill("short")
    page.get_by_role("button", name="Tạo tài khoản").click()
    expect(page.locator("#e-password")).to_have_text("Dùng ít nhất 10 ký tự.")
    expect(page.get_by_label("Họ và tên")).to_have_value("Quàng Thị Hoa")

    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Tạo tài khoản").click()
    expect(page).to_have_url(f"{live_server}/account")
    expect(page.locator("main")).to_contain_text("Quàng Thị Hoa")

    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("link", name="Đăng nhập")).to_be_visible()

    page.get_by_role("link", name="Đăng nhập").click()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(f"{live_server}/account")
    expect(page.locator("main")).to_contain_text(email)


def test_language_switch_is_remembered_in_the_browser(live_server: str, page: Page) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="EN").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(f"{live_server}/")
    expect(page.locator("h1")).to_have_text("Books for every mountain commune")


def test_need_posted_approved_and_found_without_diacritics(live_server: str, page: Page) -> None:
    from app.text import fold

    reason = f"Lớp học buổi tối cần sách {uuid.uuid4().hex[:6]}"
    sign_in(page, live_server, "thuthu@demo.sonla.vn")
    page.get_by_role("link", name="Nhu cầu của thư viện tôi").click()
    page.get_by_role("link", name="Đăng nhu cầu").click()
    page.get_by_label("Hạng mục").select_option("book/agriculture")
    page.get_by_label("Số lượng").fill("0")
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(page.locator("#e-quantity")).to_contain_text("Phải lớn hơn 0")  # inline, nothing saved
    # ... and the server's answer to the form sent: wait for it, or it lands after the next fill.
    expect(page.get_by_role("alert").filter(has_text="Vui lòng sửa các ô")).to_be_visible()
    page.get_by_label("Số lượng").fill("75")
    page.get_by_label("Vì sao thư viện cần").fill(reason)
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(page.locator(".badge.status-submitted")).to_be_visible()
    commune_name = page.locator(".where a").first.inner_text()
    need_url = page.url
    page.get_by_role("button", name="Đăng xuất").click()

    sign_in(page, live_server, "canbo@demo.sonla.vn")
    page.goto(f"{live_server}/officer/needs")
    item = page.locator("li.need", has_text=reason)
    item.get_by_role("button", name="Duyệt").click()
    expect(page.locator(".flash")).to_contain_text("Đã duyệt nhu cầu.")
    page.get_by_role("button", name="Đăng xuất").click()

    page.goto(f"{live_server}/needs")
    query = fold(commune_name.removeprefix("Xã ").removeprefix("Phường "))
    assert query.isascii()
    page.get_by_label("Xã hoặc thư viện").fill(query)
    page.get_by_role("button", name="Xem").click()
    expect(page).to_have_url(re.compile(r"q="))
    page.locator(f'#results a[href="{need_url.removeprefix(live_server)}"]').click()
    expect(page.locator("main")).to_contain_text(reason)


def test_sponsor_pledges_500000_and_pays_by_card(live_server: str, page: Page) -> None:
    import httpx

    needs = httpx.get(f"{live_server}/api/v1/needs", params={"item": "book/life-skills", "per_page": 100}).json()
    need = next(n for n in needs["items"] if n["unit_value"] == 50_000 and n["quantity"] - n["pledged_quantity"] >= 10)
    sign_in(page, live_server, "nhataitro@demo.vn")
    page.goto(f"{live_server}/needs/{need['id']}")
    page.get_by_role("link", name="Tài trợ cho nhu cầu này").click()
    page.get_by_label("Số lượng (tôi tài trợ tiền hoặc mang đến)").fill("10")
    page.get_by_role("button", name="Cam kết").click()
    expect(page.locator("main")).to_contain_text("500.000")
    page.get_by_role("button", name="Thẻ (Visa, Mastercard, JCB)").click()
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill("4242424242424242")
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("31")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("36000")
    page.get_by_role("button", name="Thanh toán 500.000").click()
    expect(page.locator(".flash")).to_contain_text("Đã nhận thanh toán")
    expect(page.locator("#payment-state")).to_contain_text("Đã thanh toán")
    expect(page.locator("#receipt-number")).to_contain_text("GLG-")


def test_sponsor_sees_where_a_pool_gift_would_go_before_pledging(live_server: str, page: Page) -> None:
    sign_in(page, live_server, "nhataitro@demo.vn")
    page.goto(f"{live_server}/give")
    page.get_by_label("Số tiền (₫), nếu tặng tiền").fill("0")
    page.get_by_role("button", name="Món quà của tôi sẽ đến đâu?").click()
    expect(page.locator("#gift-preview")).to_contain_text("Phải lớn hơn 0.")  # in place, nothing pledged
    page.get_by_label("Số tiền (₫), nếu tặng tiền").fill("3000000")
    page.get_by_role("button", name="Món quà của tôi sẽ đến đâu?").click()
    preview = page.locator("#gift-preview")
    expect(preview).to_contain_text("Món quà của bạn sẽ đến đâu nếu phân bổ hôm nay")
    expect(preview.locator("tbody tr").first).to_be_visible()
    assert page.url == f"{live_server}/give"  # answered in the page by htmx
    page.get_by_role("button", name="Cam kết", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Xin cảm ơn")
    expect(page.locator("main")).to_contain_text("3.000.000")


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 12), (30, 140, 60)).save(out, "PNG")
    return out.getvalue()


def test_officer_dispatches_and_the_librarian_confirms_a_partial_receipt(live_server: str, page: Page) -> None:
    # The demo librarian's commune has a planned shipment (demo data).
    sign_in(page, live_server, "thuthu@demo.sonla.vn")
    page.get_by_role("link", name="Hàng đang đến").click()
    commune = page.locator("#commune-name").inner_text()
    page.get_by_role("button", name="Đăng xuất").click()

    sign_in(page, live_server, "canbo@demo.sonla.vn")
    page.goto(f"{live_server}/officer/deliveries")
    page.get_by_label("Trạng thái").select_option("planned")  # htmx swaps the list
    expect(page).to_have_url(re.compile(r"status=planned"))
    page.locator("#shipments tr", has_text=commune).get_by_role("link").first.click()
    page.get_by_label("Đơn vị vận chuyển và mã vận đơn").fill("Viettel Post VTP-HANHTRINH")
    page.get_by_role("button", name="Đánh dấu đã gửi đi").click()
    expect(page.locator("#shipment-status")).to_have_text("Đã gửi đi")
    shipment_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.get_by_role("button", name="Đăng xuất").click()

    sign_in(page, live_server, "thuthu@demo.sonla.vn")
    page.goto(f"{live_server}/library/deliveries")
    card = page.locator(f"#shipment-{shipment_id}")
    expect(card).to_contain_text("Viettel Post VTP-HANHTRINH")
    form = card.locator("form").first
    sent = int(form.get_by_label("Số lượng đã nhận").get_attribute("max") or "0")
    # A file that is not an image: refused beside the field, nothing written.
    form.get_by_label("Ảnh (không bắt buộc)").set_input_files(
        {"name": "bien-ban.jpg", "mimeType": "image/jpeg", "buffer": b"%PDF-1.4 not an image"})
    form.get_by_role("button", name="Xác nhận đã nhận").click()
    expect(page.locator(".field-error")).to_contain_text("không phải là ảnh")
    form = page.locator(f"#shipment-{shipment_id} form").first
    form.get_by_label("Số lượng đã nhận").fill(str(sent - 1))
    form.get_by_label("Ghi chú").fill("Thiếu 1, bìa bị ướt")
    form.get_by_label("Ảnh (không bắt buộc)").set_input_files(
        {"name": "anh.png", "mimeType": "image/png", "buffer": _png()})
    form.get_by_role("button", name="Xác nhận đã nhận").click()
    expect(page.locator(".flash")).to_contain_text("báo thiếu 1")
    expect(page.locator(f"#shipment-{shipment_id}")).to_contain_text("Thiếu 1, bìa bị ướt")
    page.get_by_role("button", name="Đăng xuất").click()

    sign_in(page, live_server, "canbo@demo.sonla.vn")
    page.goto(f"{live_server}/officer/deliveries/shortfalls")
    item = page.locator("li", has_text="Thiếu 1, bìa bị ướt")
    expect(item).to_contain_text(commune)
    item.get_by_label("Đã xử lý thế nào?").fill("Đã gửi bù trong chuyến sau")
    item.get_by_role("button", name="Đánh dấu đã xử lý").click()
    expect(page.locator(".flash")).to_contain_text("đã xử lý")


def test_officer_rejects_needs_in_bulk_and_reads_who_did_it_and_why(live_server: str, page: Page) -> None:
    reason = f"Trùng với nhu cầu đã đăng {uuid.uuid4().hex[:6]}"
    sign_in(page, live_server, "canbo@demo.sonla.vn")
    page.goto(f"{live_server}/officer/needs")
    boxes = page.locator("input[name=ids]")
    ids = [boxes.nth(i).get_attribute("value") for i in range(2)]
    for i in range(2):
        boxes.nth(i).check()
    page.locator("#bulk details summary").click()
    page.locator("#f-bulk_note").fill(reason)
    page.locator("#bulk button[formaction='/officer/needs/reject']").click()
    expect(page.locator(".flash")).to_contain_text("2")
    for need_id in ids:
        expect(page.locator(f"input[name=ids][value='{need_id}']")).to_have_count(0)  # left the queue

    page.goto(f"{live_server}/needs/{ids[0]}")
    expect(page.locator("main")).to_contain_text(reason)
    page.locator("a[href^='/officer/audit?entity=need']").click()
    row = page.locator("#audit tbody tr").first
    expect(row).to_contain_text("need.reject")
    expect(row).to_contain_text(reason)
    expect(row).to_contain_text("canbo@demo.sonla.vn")


def test_sponsor_types_an_amount_the_vietnamese_way(live_server: str, page: Page) -> None:
    """On a phone a sponsor types "1.000.000": a browser's number field would turn it into 1 and
    the form would say the smallest gift is 10.000 ₫. The field keeps what was typed."""
    sign_in(page, live_server, "nhataitro@demo.vn")
    page.goto(f"{live_server}/give")
    amount = page.get_by_label("Số tiền (₫), nếu tặng tiền")
    amount.press_sequentially("1.000.000")
    expect(amount).to_have_value("1.000.000")
    page.get_by_role("button", name="Cam kết", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Xin cảm ơn")
    expect(page.locator("#gift")).to_have_text(re.compile(r"^1\.000\.000\s₫$"))
