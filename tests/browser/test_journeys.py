"""Journeys people take, in a real browser."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

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
