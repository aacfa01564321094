"""Where would my gift go: the sponsor's preview of the fair-share matching, before pledging."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditLog
from app.auth.models import Role
from app.geography.models import Commune
from donations.models import Pledge
from tests.support import MUONG_LA, SON_LA, make_library, make_need, make_user, sign_in


async def _arrange(db: AsyncSession) -> dict[str, Any]:
    """Mường La's need is 80 % pledged; another commune's identical need is not pledged at all."""
    other = await db.scalar(select(Commune).where(Commune.province_code == SON_LA, Commune.code != MUONG_LA)
                            .order_by(Commune.code))
    assert other is not None
    lib_a = await make_library(db)
    lib_b = await make_library(db, "Thư viện B", other.code)
    need_a = await make_need(db, lib_a, quantity=10, unit_value=50_000, pledged_quantity=8)
    need_b = await make_need(db, lib_b, quantity=10, unit_value=50_000)
    await make_user(db, Role.SPONSOR)
    await db.commit()
    return {"other": other, "need_a": need_a, "need_b": need_b}


async def _preview(client: Any, htmx: bool = True, **query: Any) -> Any:
    headers = {"HX-Request": "true"} if htmx else {}
    return await client.get("/give/preview", params={"target": "pool", "kind": "money", **query}, headers=headers)


async def _nothing_written(db: AsyncSession) -> None:
    assert await db.scalar(select(func.count()).select_from(Pledge)) == 0
    assert await db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("pledge%"))) == 0


async def test_money_goes_to_the_least_covered_commune(db: AsyncSession, client: Any) -> None:
    a = await _arrange(db)
    await sign_in(client, "sponsor@example.vn")
    response = await _preview(client, amount="250000")
    assert response.status_code == 200, response.text
    assert "<html" not in response.text  # the htmx fragment only
    assert a["other"].name in response.text
    # Leximin on what is still open (2 items in Mường La, 10 here) levels both at 5/12 of it:
    # 208,333 ₫ here buys 4 whole items; the change from both (50,000 ₫) buys one more where the
    # engine meant the most money, in Mường La. Every đồng is used.
    assert f'/needs/{a["need_b"].id}">#{a["need_b"].id} · Sách thiếu nhi</a></td>\n' \
           '        <td class="num">4</td><td class="num">200.000\xa0₫</td>' in response.text
    assert f'/needs/{a["need_a"].id}">#{a["need_a"].id} · Sách thiếu nhi</a></td>\n' \
           '        <td class="num">1</td><td class="num">50.000\xa0₫</td>' in response.text
    assert "chờ trong quỹ chung" not in response.text
    assert "0% nếu không có món quà của bạn, 40% nếu có" in response.text
    await _nothing_written(db)


async def test_more_than_all_needs_waits_in_the_pool(db: AsyncSession, client: Any) -> None:
    a = await _arrange(db)
    await sign_in(client, "sponsor@example.vn")
    response = await _preview(client, htmx=False, amount="2000000")
    assert response.status_code == 200
    assert "<html" in response.text and 'action="/give"' in response.text  # the whole form, answer included
    assert f"/needs/{a['need_a'].id}" in response.text and f"/needs/{a['need_b'].id}" in response.text
    assert "1.400.000\xa0₫" in response.text  # 2 000 000 less 12 items × 50 000 waits for the next run


async def test_a_gift_to_one_commune_stays_there(db: AsyncSession, client: Any) -> None:
    a = await _arrange(db)
    await sign_in(client, "sponsor@example.vn")
    response = await _preview(client, target="commune", commune_code=str(MUONG_LA), amount="100000")
    assert response.status_code == 200
    assert f"/needs/{a['need_a'].id}" in response.text and f"/needs/{a['need_b'].id}" not in response.text
    # What Mường La's needs cannot take waits for Mường La, not in the province's pool.
    response = await _preview(client, target="commune", commune_code=str(MUONG_LA), amount="300000")
    assert "200.000\xa0₫ sẽ chờ dành cho Xã Mường La đến lần phân bổ sau." in response.text
    assert "chờ trong quỹ chung" not in response.text


async def test_books_follow_the_same_rule(db: AsyncSession, client: Any) -> None:
    a = await _arrange(db)
    await sign_in(client, "sponsor@example.vn")
    response = await _preview(client, kind="books", item_kind="book/children", quantity="3")
    assert response.status_code == 200, response.text
    assert f"/needs/{a['need_b'].id}" in response.text and f"/needs/{a['need_a'].id}" not in response.text
    response = await _preview(client, kind="books", item_kind="book/law", quantity="3")
    assert "Chưa nhu cầu nào đang mở nhận được món quà này" in response.text


async def test_bad_gifts_get_a_message_and_nothing_is_written(db: AsyncSession, client: Any) -> None:
    await _arrange(db)
    await sign_in(client, "sponsor@example.vn")
    for query, message in (
        ({"amount": "0"}, "Phải lớn hơn 0."),
        ({"amount": "-5"}, "Phải lớn hơn 0."),
        ({"amount": "9000000000"}, "tối đa"),
        ({"amount": ""}, "Nhập số tiền"),
        ({"target": "need", "need_id": "1", "quantity": "1"}, "quỹ chung hoặc cho một xã"),
        ({"kind": "books", "item_kind": "equipment/computer", "quantity": "1"}, "Hãy chọn một loại trong danh mục."),
        ({"allowed_communes": "999999999"}, "Hãy chọn các xã có trong danh sách."),
    ):
        response = await _preview(client, **{"amount": "100000", **query})
        assert response.status_code == 422, (query, response.text)
        assert message in response.text, (query, response.text)
    await _nothing_written(db)


async def test_only_sponsors_preview(db: AsyncSession, client: Any) -> None:
    await _arrange(db)
    response = await _preview(client, htmx=False, amount="100000")
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    await make_user(db, Role.LIBRARIAN)
    await db.commit()
    await sign_in(client, "librarian@example.vn")
    assert (await _preview(client, amount="100000")).status_code == 403


async def test_the_answer_follows_todays_state(db: AsyncSession, client: Any) -> None:
    a = await _arrange(db)
    await sign_in(client, "sponsor@example.vn")
    assert "0% nếu không có món quà của bạn" in (await _preview(client, amount="100000")).text
    a["need_b"].pledged_quantity = 9  # a sponsor pledged straight to it in the meantime
    await db.commit()
    response = await _preview(client, amount="100000")
    assert "80% nếu không có món quà của bạn" in response.text  # Mường La is now the lowest
    assert f"/needs/{a['need_a'].id}" in response.text
