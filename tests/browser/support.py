"""Shared steps of the browser journeys."""

from __future__ import annotations

from playwright.sync_api import Page

DEMO_PASSWORD = "thuvien-2026"


def sign_in(page: Page, base: str, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
