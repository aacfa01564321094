"""A commune librarian's forms on a cheap phone and a slow, unreliable connection: what is typed is
not lost, a form that cannot be sent says so, a form is sent once, and a photo from the camera is
made smaller before it is sent (static/js/forms.js)."""

from __future__ import annotations

import io
import os
import re
import uuid

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.support import sign_in

pytestmark = pytest.mark.browser

LIBRARIAN = "thuthu@demo.sonla.vn"



def _my_needs(page: Page, base: str) -> list[str]:
    page.goto(f"{base}/library/needs")
    return page.locator("table.list tbody a").evaluate_all("links => links.map(a => a.getAttribute('href'))")


def _fill_need(page: Page, reason: str) -> None:
    page.get_by_label("Hạng mục").select_option("book/literature")
    page.get_by_label("Số lượng").fill("25")
    page.get_by_label("Vì sao thư viện cần").fill(reason)
    page.get_by_label("Đầu sách cụ thể (không bắt buộc)").fill("Truyện Kiều | Nguyễn Du")


def test_a_need_typed_when_the_session_expired_is_back_after_signing_in(live_server: str, phone: Page) -> None:
    reason = f"Các em lớp 5 cần truyện đọc {uuid.uuid4().hex[:6]}"
    sign_in(phone, live_server, LIBRARIAN)
    phone.goto(f"{live_server}/library/needs/new")
    _fill_need(phone, reason)
    phone.get_by_label("Số lượng").focus()  # the last field's inline check is sent and answered
    phone.wait_for_load_state("networkidle")
    # The session ends while the form is open (signed out elsewhere, cookies cleared, weeks later).
    context = phone.context
    kept = [c for c in context.cookies() if c["name"] != "glg_session"]
    context.clear_cookies()
    context.add_cookies(kept)  # type: ignore[arg-type]
    phone.get_by_role("button", name="Gửi duyệt").click()

    expect(phone).to_have_url(re.compile(r"/login\?next="))
    phone.get_by_label("E-mail").fill(LIBRARIAN)
    phone.get_by_label("Mật khẩu").fill("thuvien-2026")
    phone.get_by_role("button", name="Đăng nhập").click()
    expect(phone).to_have_url(f"{live_server}/library/needs/new")
    expect(phone.locator("[data-draft-note]")).to_be_visible()
    expect(phone.get_by_label("Vì sao thư viện cần")).to_have_value(reason)
    expect(phone.get_by_label("Số lượng")).to_have_value("25")
    expect(phone.get_by_label("Hạng mục")).to_have_value("book/literature")
    # Switching language keeps it too.
    phone.get_by_role("link", name="EN", exact=True).click()
    expect(phone.get_by_label("Why the library needs it")).to_have_value(reason)
    phone.get_by_role("link", name="VI", exact=True).click()

    phone.get_by_role("button", name="Gửi duyệt").click()
    expect(phone.locator(".badge.status-submitted")).to_be_visible()
    expect(phone.locator("main")).to_contain_text(reason)
    # Saved: a new form starts empty.
    phone.goto(f"{live_server}/library/needs/new")
    expect(phone.get_by_label("Vì sao thư viện cần")).to_have_value("")
    expect(phone.locator("[data-draft-note]")).to_have_count(0)


def test_a_need_that_cannot_be_sent_says_so_and_a_double_tap_sends_it_once(live_server: str, phone: Page) -> None:
    reason = f"Tủ sách xã cần thêm truyện {uuid.uuid4().hex[:6]}"
    sign_in(phone, live_server, LIBRARIAN)
    before = _my_needs(phone, live_server)
    phone.goto(f"{live_server}/library/needs/new")
    _fill_need(phone, reason)

    def no_connection(route: Route) -> None:
        if route.request.method == "POST" and route.request.url.endswith("/library/needs/new"):
            route.abort("internetdisconnected")
        else:
            route.continue_()

    phone.route("**/library/needs/**", no_connection)
    phone.get_by_role("button", name="Gửi duyệt").click()
    problem = phone.locator("#need-form [data-form-problem]")
    expect(problem).to_be_visible()
    expect(problem).to_have_attribute("role", "alert")
    expect(phone.get_by_label("Vì sao thư viện cần")).to_have_value(reason)
    expect(phone.get_by_role("button", name="Gửi duyệt")).to_be_enabled()
    assert _my_needs_count_unchanged(phone, live_server, before, reason)

    phone.unroute("**/library/needs/**")
    phone.goto(f"{live_server}/library/needs/new")  # the draft comes back

    def slow(route: Route) -> None:
        if route.request.method == "POST" and route.request.url.endswith("/library/needs/new"):
            phone.wait_for_timeout(1200)
        route.continue_()

    phone.route("**/library/needs/**", slow)
    expect(phone.get_by_label("Vì sao thư viện cần")).to_have_value(reason)
    phone.get_by_role("button", name="Gửi duyệt").dblclick()
    expect(phone.locator(".badge.status-submitted")).to_be_visible()
    phone.unroute("**/library/needs/**")
    after = _my_needs(phone, live_server)
    assert len(after) == len(before) + 1


def _my_needs_count_unchanged(page: Page, base: str, before: list[str], reason: str) -> bool:
    """Nothing was saved while the connection was down (looked at in another tab)."""
    other = page.context.new_page()
    try:
        return len(_my_needs(other, base)) == len(before) and reason not in other.content()
    finally:
        other.close()


def _camera_photo() -> bytes:
    """A photo as a phone camera takes it: 3000 × 2250 pixels, over the 5 MB limit."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (3000, 2250), os.urandom(3000 * 2250 * 3)).save(out, "JPEG", quality=92)
    return out.getvalue()


def test_a_camera_photo_is_made_smaller_before_it_is_sent(live_server: str, phone: Page) -> None:
    from PIL import Image

    # A sponsor will bring two books to one of the demo librarian's open needs.
    sign_in(phone, live_server, LIBRARIAN)
    phone.goto(f"{live_server}/library/needs")
    need = phone.locator("table.list tbody tr", has_text="Đang mở").first.locator("a").get_attribute("href") or ""
    phone.get_by_role("button", name="Đăng xuất").click()
    sign_in(phone, live_server, "nhataitro@demo.vn")
    phone.goto(f"{live_server}/give?need={need.rsplit('/', 1)[1]}")
    phone.get_by_label("Sách", exact=True).check()
    phone.get_by_label("Số lượng (tôi tài trợ tiền hoặc mang đến)").fill("2")
    phone.locator("#f-delivery").select_option("to_commune")
    phone.get_by_role("button", name="Cam kết").click()
    expect(phone.locator(".flash")).to_contain_text("Xin cảm ơn")
    reference = phone.url.rstrip("/").rsplit("/", 1)[1]
    phone.get_by_role("button", name="Đăng xuất").click()

    sign_in(phone, live_server, LIBRARIAN)
    phone.goto(f"{live_server}/library/pledges")
    photo = _camera_photo()
    assert len(photo) > 5 * 1024 * 1024
    form = phone.locator(f"#pledge-{reference} form")
    form.get_by_label("Ảnh (không bắt buộc)").set_input_files(
        {"name": "IMG_20261126.jpg", "mimeType": "image/jpeg", "buffer": photo})
    form.get_by_role("button", name="Đã nhận được").click()  # tapped at once: sent when it is ready
    expect(phone.locator(".flash")).to_contain_text("Đã xác nhận nhận hàng")

    phone.goto(f"{live_server}/library/deliveries")
    photos = phone.locator("a[href^='/deliveries/receipts/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    newest = max(photos, key=lambda href: int(href.split("/")[3]))  # this receipt's
    stored = phone.request.get(f"{live_server}{newest}")
    assert stored.ok
    image = Image.open(io.BytesIO(stored.body()))
    assert max(image.size) == 1600 and len(stored.body()) < len(photo)


def test_a_page_asks_for_nothing_the_server_lacks(live_server: str, phone: Page) -> None:
    """Every request costs on a slow link: none is wasted on a file that is not there (the
    browser's /favicon.ico)."""
    missing: list[str] = []
    phone.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    phone.on("console", lambda message: missing.append(message.text) if "404" in message.text else None)
    phone.goto(f"{live_server}/login")
    phone.wait_for_load_state("networkidle")
    sign_in(phone, live_server, LIBRARIAN)
    phone.wait_for_load_state("networkidle")
    assert missing == []
