"""The recognition journey in a real browser: the officer sets the rules of a campaign, generates
its roll, approves it with a decision number and publishes it; a visitor finds it on the public
page, opens a certificate and verifies it by the address it carries."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import sign_in

pytestmark = pytest.mark.browser


def test_officer_publishes_a_roll_and_a_visitor_verifies_a_certificate(live_server: str, page: Page) -> None:
    year = dt.date.today().year
    period = f"Chiến dịch {year} {uuid.uuid4().hex[:4]}"
    decision = f"{uuid.uuid4().hex[:3]}/QĐ-UBND"

    sign_in(page, live_server, "canbo@demo.sonla.vn")
    page.goto(f"{live_server}/officer")
    page.get_by_role("link", name="Khen thưởng: tiêu chí, đề nghị, danh sách vinh danh").click()
    expect(page.locator("h1")).to_have_text("Khen thưởng: tiêu chí, đề nghị, danh sách vinh danh")

    # The rules of a campaign over this year; a period that ends before it starts is refused first.
    page.get_by_text("Tiêu chí mới (hoặc phiên bản mới của tiêu chí một kỳ)").click()
    page.get_by_label("Kỳ (một năm hoặc tên đợt vận động)").fill(period)
    page.get_by_label("Loại kỳ").select_option("campaign")
    page.get_by_label("Ngày bắt đầu").fill(f"{year}-12-31")
    page.get_by_label("Ngày kết thúc").fill(f"{year}-01-01")
    page.get_by_role("button", name="Lưu tiêu chí").click()
    expect(page.locator("#e-period_end")).to_have_text("Kỳ không thể kết thúc trước khi bắt đầu.")
    page.get_by_label("Ngày bắt đầu").fill(f"{year}-01-01")
    page.get_by_label("Ngày kết thúc").fill(f"{year}-12-31")
    page.get_by_role("button", name="Lưu tiêu chí").click()
    expect(page.locator(".flash")).to_contain_text(f"Đã lưu tiêu chí: {period}, phiên bản 1.")

    # Generate, submit, approve (not without a decision number), publish.
    page.get_by_label("Kỳ", exact=True).select_option(period)
    page.get_by_role("button", name="Lập danh sách").click()
    expect(page.locator(".flash")).to_contain_text("Đã lập danh sách vinh danh.")
    expect(page.locator("#roll-status")).to_have_text("Bản nháp")
    expect(page.locator("main")).to_contain_text("Công ty CP Giấy Sơn La")
    page.get_by_role("button", name="Trình phê duyệt").click()
    expect(page.locator("#roll-status")).to_have_text("Đã trình phê duyệt")
    today = dt.date.today().isoformat()
    page.locator("#f-decision_date").fill(today)
    page.locator("#f-signer").fill("Nguyễn Văn Minh")
    page.get_by_role("button", name="Duyệt", exact=True).click()
    expect(page.locator("#e-decision_number")).to_have_text("Ô này là bắt buộc.")
    expect(page.locator("#roll-status")).to_have_text("Đã trình phê duyệt")
    page.locator("#f-decision_number").fill(decision)
    page.locator("#f-decision_date").fill(today)
    page.locator("#f-signer").fill("Nguyễn Văn Minh")
    page.get_by_role("button", name="Duyệt", exact=True).click()
    # The roll has the Department's forms too: its own decision is asked for.
    expect(page.locator("#e-department_decision_number")).to_contain_text("Cần quyết định của Sở")
    expect(page.locator("#roll-status")).to_have_text("Đã trình phê duyệt")
    page.locator("#f-department_decision_number").fill(f"{decision[:3]}/QĐ-SVHTTDL")
    page.locator("#f-department_decision_date").fill(today)
    page.locator("#f-department_signer").fill("Lò Thị Thu")
    page.get_by_role("button", name="Duyệt", exact=True).click()
    expect(page.locator("#roll-status")).to_have_text("Đã duyệt")
    page.get_by_role("button", name="Công bố").click()
    expect(page.locator("#roll-status")).to_have_text("Đã công bố")
    page.get_by_role("button", name="Đăng xuất").click()

    # A visitor: the public page, a certificate, its verification address.
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="Vinh danh").first.click()
    page.get_by_role("link", name=re.compile(re.escape(period))).click()
    expect(page.locator("main")).to_contain_text(decision)
    page.set_viewport_size({"width": 360, "height": 740})  # on a phone the content hash wraps: no sideways scroll
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 720})
    link = page.get_by_role("link", name="Công ty CP Giấy Sơn La")
    href = link.get_attribute("href")
    assert href and href.startswith("/certificates/")
    pdf = page.request.get(f"{live_server}{href}")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF-")
    code = href.removeprefix("/certificates/").removesuffix(".pdf")

    page.goto(f"{live_server}/verify/{code}")
    expect(page.locator(".verdict")).to_contain_text("Hợp lệ")
    expect(page.locator("main")).to_contain_text("Công ty CP Giấy Sơn La")
    expect(page.locator("main")).to_contain_text(decision)
    assert page.request.get(f"{live_server}/verify/{'0' * 20}").status == 404
