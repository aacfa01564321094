"""Bad input on needs: a message in the user's language, and nothing written."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from app.auth.models import Role
from needs.models import ItemKind, Need
from tests.support import flat, make_library, make_need, make_user, post_form, send_json, sign_in

GOOD = {"item_kind": "book/children", "quantity": "120", "urgency": "2"}
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@pytest.fixture
async def librarian(client, db):  # type: ignore[no-untyped-def]
    library = await make_library(db)
    user = await make_user(db, Role.LIBRARIAN, email="thuthu@muongla.vn", library_id=library.id)
    await db.commit()
    await sign_in(client, user.email)
    return user


async def _count(db) -> int:  # type: ignore[no-untyped-def]
    return await db.scalar(select(func.count()).select_from(Need))


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"quantity": "0"}, "quantity", "Phải lớn hơn 0"),
    ({"quantity": "-5"}, "quantity", "Phải lớn hơn 0"),
    ({"quantity": "100001"}, "quantity", "Không được lớn hơn 100.000"),
    ({"quantity": "nhiều"}, "quantity", "Nhập một số nguyên."),
    ({"quantity": ""}, "quantity", "Ô này là bắt buộc."),
    ({"unit_value": "500"}, "unit_value", "Không được nhỏ hơn 1.000"),
    ({"unit_value": "300000000"}, "unit_value", "Không được lớn hơn 200.000.000"),
    ({"reason": "x" * 2001}, "reason", "Không quá 2000 ký tự."),
    ({"item_kind": "book/unicorns"}, "item_kind", "Hãy chọn một loại trong danh mục."),
    ({"urgency": "9"}, "urgency", "Hãy chọn một trong các lựa chọn."),
    ({"deadline": "2020-01-01"}, "deadline", "Hạn cần phải là một ngày trong tương lai."),
    ({"deadline": "31/02/2027"}, "deadline", "Nhập một ngày hợp lệ."),
    ({"titles_text": "Sách hay | Ai đó | 9786042084218"}, "titles_text",
     "Dòng 1: Đây không phải ISBN-13 hợp lệ"),
    ({"titles_text": "Tốt | | 9786042084215\n" + "T" * 301}, "titles_text", "Dòng 2: Không quá 300 ký tự."),
    ({"item_kind": "equipment/computer", "quantity": "1", "titles_text": "Sách"}, "titles_text",
     "Đầu sách và ngôn ngữ chỉ áp dụng cho sách."),
])
async def test_bad_need_form(client, db, librarian, change, field, message) -> None:
    response = await post_form(client, "/library/needs/new", {**GOOD, **change})
    assert response.status_code == 422
    assert re.search(rf'id="e-{field}">[^<]*{re.escape(message)}', response.text)
    assert await _count(db) == 0


async def test_bad_need_json_gets_422_with_messages(client, db, librarian) -> None:
    response = await send_json(client, "POST", "/api/v1/needs", {
        "item_kind": "book/children", "quantity": 0, "titles": [{"title": "A", "isbn": "123"}]})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors["quantity"] == "Phải lớn hơn 0."
    assert errors["titles.0.isbn"].startswith("Đây không phải ISBN-13 hợp lệ")
    unknown = await send_json(client, "POST", "/api/v1/needs", {"item_kind": "x/y", "quantity": 1, "colour": "red"})
    assert unknown.status_code == 422 and "colour" in unknown.json()["errors"]
    assert await _count(db) == 0


async def test_api_submit_must_be_a_boolean(client, db, librarian) -> None:
    body = {"item_kind": "book/children", "quantity": 5}
    for flag in ("no", "false", "yes", 1, None):
        response = await send_json(client, "POST", "/api/v1/needs", {**body, "submit": flag})
        assert response.status_code == 422, flag
        assert response.json()["errors"]["submit"] == "Phải là true hoặc false."
    assert await _count(db) == 0
    kept = await send_json(client, "POST", "/api/v1/needs", {**body, "submit": False})
    assert kept.status_code == 201 and kept.json()["status"] == "draft"
    sent = await send_json(client, "POST", "/api/v1/needs", {**body, "submit": True})
    assert sent.status_code == 201 and sent.json()["status"] == "submitted"
    put = await send_json(client, "PUT", f"/api/v1/needs/{kept.json()['id']}", {**body, "submit": "no"})
    assert put.status_code == 422
    assert (await db.get(Need, kept.json()["id"])).status.value == "draft"


async def test_too_many_title_lines_names_the_limit(client, db, librarian) -> None:
    titles = "\n".join(f"Sách {i}" for i in range(51))
    response = await post_form(client, "/library/needs/new", {**GOOD, "titles_text": titles})
    assert response.status_code == 422
    assert re.search(r'id="e-titles_text">[^<]*Tối đa 50 mục.', response.text)
    assert await _count(db) == 0


async def test_every_wrong_title_line_is_named_by_its_line(client, db, librarian) -> None:
    """All the wrong lines at once (not one per try, on a phone), numbered as the librarian sees
    them in the text area, blank lines included."""
    titles = "Dế Mèn phiêu lưu ký | Tô Hoài | 9786042084215\n\nSách Thái | | 123\nSách H'Mông | | 9786042084218"
    response = await post_form(client, "/library/needs/new", {**GOOD, "titles_text": titles})
    assert response.status_code == 422
    message = re.search(r'id="e-titles_text">([^<]*)<', response.text)[1]
    assert "Dòng 3: Đây không phải ISBN-13 hợp lệ" in message and "Dòng 4: Đây không phải ISBN-13 hợp lệ" in message
    assert "Dòng 1" not in message and "Dòng 2" not in message
    assert await _count(db) == 0


async def test_inline_validation_saves_nothing(client, db, librarian) -> None:
    response = await post_form(client, "/library/needs/validate", {**GOOD, "quantity": "0"},
                               headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<form" not in response.text
    assert 'id="e-quantity" hx-swap-oob="true">Phải lớn hơn 0' in response.text
    assert 'id="e-item_kind" hx-swap-oob="true"></small>' in response.text
    assert await _count(db) == 0


async def test_inline_messages_have_their_place_and_wait_for_the_field(client, db, librarian) -> None:
    """Each field's inline message has its place in the fresh form (a message with nowhere to go
    was dropped: quantity, unit value, deadline), and a field not filled in yet is not reproached
    while the librarian works through the form; sending the form still says it is required."""
    from needs.forms import FIELDS

    page = (await client.get("/library/needs/new")).text
    for field in FIELDS:
        assert f'id="e-{field}"' in page, field
    first_field = await post_form(client, "/library/needs/validate", {"item_kind": "book/children", "quantity": ""},
                                  headers={"HX-Request": "true"})
    assert 'id="e-quantity" hx-swap-oob="true"></small>' in first_field.text
    wrong = await post_form(client, "/library/needs/validate", {"item_kind": "", "unit_value": "5"},
                            headers={"HX-Request": "true"})
    assert 'id="e-unit_value" hx-swap-oob="true">Không được nhỏ hơn 1.000' in wrong.text
    assert 'id="e-item_kind" hx-swap-oob="true"></small>' in wrong.text
    sent = await post_form(client, "/library/needs/new", {"item_kind": "book/children", "quantity": ""})
    assert re.search(r'id="e-quantity">[^<]*Ô này là bắt buộc.', sent.text)


async def test_inline_check_shows_the_needs_value_so_a_slip_shows(client, db, librarian) -> None:
    """1000 computers typed for 10: the value beside the quantity says 12 billion đồng at once."""
    assert 'id="need-value"' in (await client.get("/library/needs/new")).text
    slip = await post_form(client, "/library/needs/validate", {"item_kind": "equipment/computer", "quantity": "1000"},
                           headers={"HX-Request": "true"})
    assert "1.000 × 12.000.000 ₫ = 12.000.000.000 ₫" in flat(slip.text)
    own = await post_form(client, "/library/needs/validate",
                          {"item_kind": "book/children", "quantity": "40", "unit_value": "20000"},
                          headers={"HX-Request": "true"})
    assert "40 × 20.000 ₫ = 800.000 ₫" in flat(own.text)
    unknown = await post_form(client, "/library/needs/validate", {"item_kind": "book/children", "quantity": "x"},
                              headers={"HX-Request": "true"})
    assert re.search(r'id="need-value"[^>]*></small>', unknown.text)
    assert await _count(db) == 0


async def test_officer_posting_for_unknown_library(client, db) -> None:
    officer = await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, officer.email)
    response = await send_json(client, "POST", "/api/v1/needs", {**GOOD, "quantity": 3, "library_id": 999999})
    assert response.status_code == 422
    assert response.json()["errors"]["library_id"] == "Hãy chọn một thư viện có trong danh sách."
    assert await _count(db) == 0


async def test_catalogue_values_edited_by_officer(client, db) -> None:
    officer = await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, officer.email)
    form = {"key": "book/children", "category": "book", "name_vi": "Sách thiếu nhi",
            "name_en": "Children's books", "default_unit_value": "42000"}
    assert (await post_form(client, "/officer/item-kinds", form)).status_code == 303
    kind = await db.get(ItemKind, "book/children", populate_existing=True)
    assert kind.default_unit_value == 42_000
    for bad, message in [({"default_unit_value": "-1"}, "Không được nhỏ hơn 1.000"),
                         ({"key": "toys/lego"}, "Giá trị này không hợp lệ."),
                         ({"key": "equipment/ebook-reader"}, "Mã phải bắt đầu bằng book/.")]:
        response = await post_form(client, "/officer/item-kinds", {**form, **bad})
        assert response.status_code == 422 and message in response.text
    assert (await db.get(ItemKind, "book/children", populate_existing=True)).default_unit_value == 42_000
    assert await db.get(ItemKind, "toys/lego") is None
    new = {**form, "key": "book/comics", "name_vi": "Truyện tranh", "name_en": "Comics",
           "default_unit_value": "25000"}
    assert (await post_form(client, "/officer/item-kinds", new)).status_code == 303
    assert (await db.get(ItemKind, "book/comics")).name_vi == "Truyện tranh"


async def test_librarian_cannot_touch_another_librarys_need(client, db, librarian) -> None:
    other = await make_library(db, name="Thư viện Chiềng Cơi", commune_code=3670)
    need = await make_need(db, other, status="draft")
    await db.commit()
    assert (await client.get(f"/library/needs/{need.id}/edit")).status_code == 403
    assert (await post_form(client, f"/library/needs/{need.id}/edit", GOOD)).status_code == 403
    assert (await post_form(client, f"/library/needs/{need.id}/submit", {})).status_code == 403
    assert (await post_form(client, f"/library/needs/{need.id}/close", {})).status_code == 403
    api = await send_json(client, "PUT", f"/api/v1/needs/{need.id}", {"item_kind": "book/law", "quantity": 1})
    assert api.status_code == 403
    spoof = await send_json(client, "POST", "/api/v1/needs", {**GOOD, "quantity": 1, "library_id": other.id})
    assert spoof.status_code == 403
    assert (await db.get(Need, need.id, populate_existing=True)).quantity == 100
    assert await _count(db) == 1


async def test_sponsor_cannot_moderate_or_post(client, db) -> None:
    library = await make_library(db)
    need = await make_need(db, library, status="submitted")
    sponsor = await make_user(db, Role.SPONSOR)
    await db.commit()
    await sign_in(client, sponsor.email)
    for path in (f"/officer/needs/{need.id}/approve", "/officer/needs/approve", "/library/needs/new"):
        assert (await post_form(client, path, {"ids": [str(need.id)], **GOOD})).status_code == 403, path
    assert (await send_json(client, "POST", f"/api/v1/needs/{need.id}/approve", {})).status_code == 403
    assert (await send_json(client, "POST", "/api/v1/needs", {**GOOD, "quantity": 1})).status_code == 403
    assert (await db.get(Need, need.id, populate_existing=True)).status.value == "submitted"


async def test_anonymous_api_writes_are_401(client, db) -> None:
    response = await send_json(client, "POST", "/api/v1/needs", {**GOOD, "quantity": 1})
    assert response.status_code == 401
    assert response.json()["detail"] == "Vui lòng đăng nhập trước."


def _form_key(page: str) -> str:
    match = re.search(r'name="form_key" value="([^"]+)"', page)
    assert match, "the new-need form carries its one-time key"
    return match[1]


async def test_the_same_need_form_sent_twice_makes_one_need(client, db, librarian) -> None:
    """A double tap, or a retry after an answer lost on a slow connection, sends the same form again:
    one need, and the second answer leads to it. The key survives a form sent back with a message."""
    key = _form_key((await client.get("/library/needs/new")).text)
    refused = await post_form(client, "/library/needs/new", {**GOOD, "quantity": "0", "form_key": key})
    assert refused.status_code == 422 and _form_key(refused.text) == key and await _count(db) == 0
    first = await post_form(client, "/library/needs/new", {**GOOD, "form_key": key, "action": "submit"})
    assert first.status_code == 303 and re.fullmatch(r"/needs/\d+", first.headers["location"])
    again = await post_form(client, "/library/needs/new", {**GOOD, "form_key": key, "action": "submit"})
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    assert await _count(db) == 1
    assert "Nhu cầu này đã được lưu trước đó." in (await client.get(again.headers["location"])).text
    # A new form is a new need.
    other = _form_key((await client.get("/library/needs/new")).text)
    assert other != key
    assert (await post_form(client, "/library/needs/new", {**GOOD, "form_key": other})).status_code == 303
    assert await _count(db) == 2


async def test_a_form_key_is_unique_even_when_both_sends_pass_the_check(client, db, librarian) -> None:
    """Two sends at the same instant both find no need with their key: the database's unique key
    lets one through, the other is 409 with a message, and nothing else is written."""
    from app.errors import IllegalTransition
    from needs import services
    from needs.schemas import NeedIn

    data = NeedIn(item_kind="book/children", quantity=5)
    await services.create_need(db, librarian, data, form_key="k" * 22)
    await db.commit()
    with pytest.raises(IllegalTransition):
        await services.create_need(db, librarian, data, form_key="k" * 22)
    await db.commit()  # the request's transaction is still usable
    assert await _count(db) == 1
    # Another person's key never leads to their need.
    other_library = await make_library(db, "Thư viện khác", 3670)
    other = await make_user(db, Role.LIBRARIAN, email="khac@example.vn", library_id=other_library.id)
    await db.commit()
    await post_form(client, "/logout", {})
    await sign_in(client, other.email)
    response = await post_form(client, "/library/needs/new", {**GOOD, "form_key": "k" * 22})
    assert response.status_code == 409 and "/needs/" not in response.headers.get("location", "")
    assert await _count(db) == 1
