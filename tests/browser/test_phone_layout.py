"""Pages fit a 360 px phone screen: wide tables scroll inside themselves, the page never scrolls
sideways (review item 7); forms fit and are easy to tap; the keyboard alone gets through, and its
focus always shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import PHONE
from tests.browser.support import sign_in

pytestmark = pytest.mark.browser

# Who looks at which page; None: an anonymous visitor.
PAGES = [
    (None, "/ledger"),
    (None, "/needs"),
    (None, "/honor-rolls"),
    ("canbo@demo.sonla.vn", "/officer/matching"),
    ("nhataitro@demo.vn", "/account/pledges"),
]



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


# The forms people fill in on a phone; None: an anonymous visitor.
FORMS = [
    (None, "/login"),
    (None, "/register"),
    (None, "/needs"),
    ("nhataitro@demo.vn", "/give"),
    ("thuthu@demo.sonla.vn", "/library/needs/new"),
    ("thuthu@demo.sonla.vn", "/library/deliveries"),
    ("canbo@demo.sonla.vn", "/officer/statements"),
]
# Every control of the page's main part a person can see: where it is, how big, its type size.
CONTROLS = """() => [...document.querySelectorAll(
    "main :is(input:not([type=hidden]), select, textarea, button)")]
  .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== "hidden")
  .map(e => {
    const small = e.type === "checkbox" || e.type === "radio";
    const target = small && e.labels.length ? e.labels[0] : e;  // a box is tapped through its label
    const r = target.getBoundingClientRect();
    return {what: e.outerHTML.slice(0, 90), left: r.left, right: r.right, height: r.height,
            font: parseFloat(getComputedStyle(e).fontSize), text: e.matches("input, select, textarea")};
  })"""


@pytest.mark.parametrize(("who", "path"), FORMS)
def test_forms_fit_and_are_easy_to_tap_on_a_phone(live_server: str, phone: Page, who: str | None, path: str) -> None:
    """On a 360 px screen every control of the page's forms is inside the screen (none needs a
    sideways scroll to reach), at least 24 px tall to tap (WCAG 2.2 target size; a check box
    through its label), and text fields use 16 px type (smaller, phones zoom in on focus)."""
    if who:
        sign_in(phone, live_server, who)
        phone.wait_for_load_state()
    response = phone.goto(f"{live_server}{path}")
    assert response is not None and response.status == 200
    controls = phone.evaluate(CONTROLS)
    assert controls, f"{path} shows no form control"
    problems = [c for c in controls if c["left"] < 0 or c["right"] > PHONE["width"] or c["height"] < 24
                or (c["text"] and c["font"] < 16)]
    assert not problems, "\n".join(f"{path}: {c}" for c in problems)


FOCUS_RING = """() => {
  const e = document.activeElement, style = getComputedStyle(e);
  return {what: e.outerHTML.slice(0, 90), tag: e.tagName, style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), id: e.id};
}"""


@pytest.mark.parametrize(("who", "path"), [(None, "/"), ("nhataitro@demo.vn", "/give")])
def test_keyboard_focus_is_always_visible(live_server: str, phone: Page, who: str | None, path: str) -> None:
    """Tabbing through a page, whatever has the focus (links, the header on its green, fields,
    buttons) wears a ring at least 2 px wide, not the browser's thin default."""
    if who:
        sign_in(phone, live_server, who)
        phone.wait_for_load_state()
    phone.goto(f"{live_server}{path}")
    seen = []
    for _ in range(30):
        phone.keyboard.press("Tab")
        focused = phone.evaluate(FOCUS_RING)
        if focused["tag"] == "BODY":
            break
        seen.append(focused)
    assert len(seen) >= 5, seen
    faint = [f for f in seen if f["style"] in ("none", "auto") or f["width"] < 2]
    assert not faint, "\n".join(f"{path}: {f}" for f in faint)


def test_signing_in_takes_only_the_keyboard_on_a_phone(live_server: str, phone: Page) -> None:
    phone.goto(f"{live_server}/login")
    for _ in range(20):
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement.id") == "f-email":
            break
    else:
        pytest.fail("the e-mail field cannot be reached with the Tab key")
    phone.keyboard.type("thuthu@demo.sonla.vn")
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.id") == "f-password"
    phone.keyboard.type("thuvien-2026")
    phone.keyboard.press("Enter")
    phone.wait_for_url(f"{live_server}/library/needs")  # a librarian lands on their needs
    assert phone.get_by_role("link", name="Nhu cầu của thư viện tôi").is_visible()
