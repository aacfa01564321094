"""Pages fit a 360 px phone screen: wide tables scroll inside themselves, the page never scrolls
sideways (review item 7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.support import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
# Who looks at which page; None: an anonymous visitor.
PAGES = [
    (None, "/ledger"),
    (None, "/needs"),
    (None, "/honor-rolls"),
    ("canbo@demo.sonla.vn", "/officer/matching"),
    ("nhataitro@demo.vn", "/account/pledges"),
]


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="vi-VN", viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.mark.parametrize(("who", "path"), PAGES)
def test_page_is_no_wider_than_a_phone(live_server: str, phone: Page, who: str | None, path: str) -> None:
    if who:
        sign_in(phone, live_server, who)
        phone.wait_for_load_state()
    response = phone.goto(f"{live_server}{path}")
    assert response is not None and response.status == 200
    assert phone.locator("table").count() or path in ("/needs", "/honor-rolls")  # the wide parts are there
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
