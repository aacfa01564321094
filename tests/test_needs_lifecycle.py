"""Librarians post needs, the province moderates them; the service enforces the lifecycle."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.audit import AuditLog
from app.auth.models import Role
from app.outbox import OutboxMessage
from needs.models import Need, NeedStatus, NeedTitle
from needs.services import expire_overdue
from tests.support import make_library, make_need, make_user, post_form, send_json, sign_in

S = NeedStatus
GOOD = {
    "item_kind": "book/children",
    "quantity": "120",
    "urgency": "3",
    "reason": "Các em học sinh đã đọc hết sách cũ.",
}


@pytest.fixture
async def library(db):  # type: ignore[no-untyped-def]
    library = await make_library(db)
    await db.commit()
    return library


@pytest.fixture
async def librarian(db, library):  # type: ignore[no-untyped-def]
    user = await make_user(db, Role.LIBRARIAN, email="thuthu@muongla.vn", library_id=library.id)
    await db.commit()
    return user


@pytest.fixture
async def officer(db):  # type: ignore[no-untyped-def]
    user = await make_user(db, Role.OFFICER, email="canbo@sonla.gov.vn")
    await db.commit()
    return user


async def _needs(db) -> list[Need]:  # type: ignore[no-untyped-def]
    query = select(Need).order_by(Need.id).execution_options(populate_existing=True)
    return list(await db.scalars(query))


async def test_librarian_posts_officer_approves_public_sees(client, db, librarian, officer) -> None:
    await sign_in(client, librarian.email)
    response = await post_form(
        client,
        "/library/needs/new",
        {
            **GOOD,
            "titles_text": "Dế Mèn phiêu lưu ký | Tô Hoài | 978-604-2-08421-5\nTruyện cổ tích Việt Nam",
            "language": "bilingual",
            "action": "submit",
        },
    )
    assert response.status_code == 303, response.text
    [need] = await _needs(db)
    assert (need.status, need.quantity, need.unit_value) == (S.SUBMITTED, 120, 35_000)  # catalogue value
    titles = list(await db.scalars(select(NeedTitle).order_by(NeedTitle.position)))
    assert [(t.title, t.author, t.isbn) for t in titles] == [
        ("Dế Mèn phiêu lưu ký", "Tô Hoài", "9786042084215"),
        ("Truyện cổ tích Việt Nam", "", None),
    ]
    # Not public yet.
    await post_form(client, "/logout", {})
    assert (await client.get(f"/needs/{need.id}")).status_code == 404
    assert (await client.get("/api/v1/needs")).json()["total"] == 0

    await sign_in(client, officer.email)
    queue = await client.get("/officer/needs")
    assert "Dế Mèn phiêu lưu ký" in queue.text
    for page in ("abc", "0", "-1", "²"):  # anything but a page number is the first page
        assert "Dế Mèn phiêu lưu ký" in (await client.get("/officer/needs", params={"page": page})).text, page
    nothing = await post_form(client, "/officer/needs/approve", {})  # "approve selected" with nothing ticked
    assert nothing.status_code == 303
    assert "Hãy đánh dấu các nhu cầu cần duyệt trước." in (await client.get("/officer/needs")).text
    assert (await _needs(db))[0].status == S.SUBMITTED
    assert (await post_form(client, f"/officer/needs/{need.id}/approve", {})).status_code == 303
    [need] = await _needs(db)
    assert need.status == S.OPEN and need.approved_at is not None
    actions = list(
        await db.scalars(select(AuditLog.action).where(AuditLog.entity_type == "need").order_by(AuditLog.id))
    )
    assert actions == ["need.create", "need.submit", "need.approve", "need.open"]

    await post_form(client, "/logout", {})
    board = await client.get("/needs", params={"q": "muong la"})
    assert f"/needs/{need.id}" in board.text
    assert (await client.get(f"/needs/{need.id}")).status_code == 200


async def test_return_for_changes_then_resubmit(client, db, library, librarian, officer) -> None:
    need = await make_need(db, library, status=S.SUBMITTED)
    await db.commit()
    await sign_in(client, officer.email)
    empty = await post_form(client, f"/officer/needs/{need.id}/return", {"note": ""})
    assert empty.status_code == 422 and "Ô này là bắt buộc." in empty.text
    assert (await _needs(db))[0].status == S.SUBMITTED
    await post_form(client, f"/officer/needs/{need.id}/return", {"note": "Ghi rõ số lượng theo lớp."})
    assert (await _needs(db))[0].status == S.RETURNED

    await post_form(client, "/logout", {})
    await sign_in(client, librarian.email)
    edit = await client.get(f"/library/needs/{need.id}/edit")
    assert "Ghi rõ số lượng theo lớp." in edit.text
    response = await post_form(client, f"/library/needs/{need.id}/edit", {**GOOD, "quantity": "80", "action": "submit"})
    assert response.status_code == 303
    [need] = await _needs(db)
    assert (need.status, need.quantity) == (S.SUBMITTED, 80)


async def test_reject_needs_a_reason_and_is_final(client, db, library, officer) -> None:
    need = await make_need(db, library, status=S.SUBMITTED)
    await db.commit()
    await sign_in(client, officer.email)
    assert (await post_form(client, f"/officer/needs/{need.id}/reject", {"reason": ""})).status_code == 422
    await post_form(client, f"/officer/needs/{need.id}/reject", {"reason": "Trùng nhu cầu."})
    assert (await _needs(db))[0].status == S.REJECTED
    again = await post_form(client, f"/officer/needs/{need.id}/approve", {})
    assert again.status_code == 409
    assert "không thể chuyển" in again.text


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.DRAFT, "approve"),
        (S.OPEN, "approve"),
        (S.OPEN, "return"),
        (S.RETURNED, "reject"),
        (S.FULFILLED, "approve"),
    ],
)
async def test_illegal_moderation_is_409_and_changes_nothing(client, db, library, officer, status, action) -> None:
    need = await make_need(db, library, status=status)
    await db.commit()
    await sign_in(client, officer.email)
    response = await post_form(client, f"/officer/needs/{need.id}/{action}", {"note": "x", "reason": "x"})
    assert response.status_code == 409
    assert (await _needs(db))[0].status == status
    assert await db.scalar(select(func.count()).select_from(AuditLog)) == 0


async def test_open_need_cannot_be_edited(client, db, library, librarian) -> None:
    need = await make_need(db, library, status=S.OPEN)
    await db.commit()
    await sign_in(client, librarian.email)
    assert (await client.get(f"/library/needs/{need.id}/edit")).status_code == 409
    response = await post_form(client, f"/library/needs/{need.id}/edit", GOOD)
    assert response.status_code == 409
    assert (await _needs(db))[0].quantity == 100
    api = await send_json(client, "PUT", f"/api/v1/needs/{need.id}", {"item_kind": "book/law", "quantity": 5})
    assert api.status_code == 409 and "bản nháp" in api.json()["detail"]


async def test_bulk_approve_is_all_or_nothing(client, db, library, officer) -> None:
    a = await make_need(db, library, status=S.SUBMITTED)
    b = await make_need(db, library, status=S.SUBMITTED)
    c = await make_need(db, library, status=S.DRAFT)
    await db.commit()
    await sign_in(client, officer.email)
    refused = await post_form(client, "/officer/needs/approve", {"ids": [str(a.id), str(c.id)]})
    assert refused.status_code == 409
    assert [n.status for n in await _needs(db)] == [S.SUBMITTED, S.SUBMITTED, S.DRAFT]
    assert (await post_form(client, "/officer/needs/approve", {"ids": [str(a.id), str(b.id)]})).status_code == 303
    assert [n.status for n in await _needs(db)] == [S.OPEN, S.OPEN, S.DRAFT]
    api = await send_json(client, "POST", "/api/v1/needs/approve", {"ids": [c.id]})
    assert api.status_code == 409


async def test_librarian_closes_own_need(client, db, library, librarian) -> None:
    need = await make_need(db, library, status=S.OPEN)
    await db.commit()
    await sign_in(client, librarian.email)
    assert (await post_form(client, f"/library/needs/{need.id}/close", {})).status_code == 303
    assert (await _needs(db))[0].status == S.CLOSED


@pytest.mark.parametrize(("status", "after"), [
    (S.DRAFT, S.WITHDRAWN), (S.SUBMITTED, S.WITHDRAWN), (S.RETURNED, S.WITHDRAWN), (S.OPEN, S.CLOSED),
])
async def test_librarian_withdraws_a_need_from_its_page(client, db, library, librarian, status, after) -> None:
    """The need's page offers "withdraw" to its library; a need the province never approved is
    withdrawn and stays private (a closed need is public), an open one is closed."""
    need = await make_need(db, library, status=status)
    await db.commit()
    await sign_in(client, librarian.email)
    page = await client.get(f"/needs/{need.id}")
    assert f'action="/library/needs/{need.id}/close"' in page.text
    assert '<a href="/library/needs">‹' in page.text  # back to the library's own list
    response = await post_form(client, f"/library/needs/{need.id}/close", {})
    assert response.status_code == 303
    assert (await _needs(db))[0].status == after
    page = await client.get(f"/needs/{need.id}")
    assert f'action="/library/needs/{need.id}/close"' not in page.text  # nothing more to withdraw
    assert (await post_form(client, f"/library/needs/{need.id}/close", {})).status_code == 409
    action = await db.scalar(select(AuditLog.action).where(AuditLog.entity_type == "need"))
    assert action == ("need.withdraw" if after == S.WITHDRAWN else "need.close")
    await post_form(client, "/logout", {})
    assert (await client.get(f"/needs/{need.id}")).status_code == (404 if after == S.WITHDRAWN else 200)
    assert (await client.get("/needs", params={"status": "withdrawn"})).status_code == 200


async def test_librarian_takes_a_submitted_need_back_to_correct_it(client, db, library, librarian, officer) -> None:
    need = await make_need(db, library, status=S.SUBMITTED, quantity=400)
    await db.commit()
    await sign_in(client, librarian.email)
    page = await client.get(f"/needs/{need.id}")
    assert f'action="/library/needs/{need.id}/take-back"' in page.text
    response = await post_form(client, f"/library/needs/{need.id}/take-back", {})
    assert response.status_code == 303 and response.headers["location"] == f"/library/needs/{need.id}/edit"
    assert (await _needs(db))[0].status == S.DRAFT
    response = await post_form(client, f"/library/needs/{need.id}/edit", {**GOOD, "quantity": "40", "action": "submit"})
    assert response.status_code == 303
    [need] = await _needs(db)
    assert (need.status, need.quantity) == (S.SUBMITTED, 40)
    await post_form(client, "/logout", {})
    # Only a need awaiting review can be taken back, and only by its library.
    await sign_in(client, officer.email)
    assert (await post_form(client, f"/officer/needs/{need.id}/approve", {})).status_code == 303
    await post_form(client, "/logout", {})
    await sign_in(client, librarian.email)
    assert (await post_form(client, f"/library/needs/{need.id}/take-back", {})).status_code == 409
    assert (await _needs(db))[0].status == S.OPEN


async def test_overdue_open_needs_expire(db, library) -> None:
    today = dt.date(2026, 11, 25)
    await make_need(db, library, status=S.OPEN, deadline=today - dt.timedelta(days=1))
    await make_need(db, library, status=S.OPEN, deadline=today)
    await make_need(db, library, status=S.SUBMITTED, deadline=today - dt.timedelta(days=5))
    assert await expire_overdue(db, today) == 1
    assert [n.status for n in await _needs(db)] == [S.EXPIRED, S.OPEN, S.SUBMITTED]


async def test_api_create_update_submit(client, db, librarian) -> None:
    await sign_in(client, librarian.email)
    created = await send_json(
        client,
        "POST",
        "/api/v1/needs",
        {"item_kind": "equipment/computer", "quantity": 2, "unit_value": 11_500_000, "urgency": "high"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "draft" and body["value"] == 23_000_000 and body["urgency"] == "high"
    updated = await send_json(
        client, "PUT", f"/api/v1/needs/{body['id']}", {"item_kind": "equipment/computer", "quantity": 3, "submit": True}
    )
    assert updated.status_code == 200
    assert updated.json()["status"] == "submitted" and updated.json()["unit_value"] == 12_000_000


async def test_api_moderation(client, db, library, officer) -> None:
    a = await make_need(db, library, status=S.SUBMITTED)
    b = await make_need(db, library, status=S.SUBMITTED)
    c = await make_need(db, library, status=S.SUBMITTED)
    await db.commit()
    await sign_in(client, officer.email)
    assert (await send_json(client, "POST", f"/api/v1/needs/{a.id}/approve", {})).json()["status"] == "open"
    missing = await send_json(client, "POST", f"/api/v1/needs/{b.id}/return", {})
    assert missing.status_code == 422 and missing.json()["errors"]["note"] == "Ô này là bắt buộc."
    assert (await send_json(client, "POST", f"/api/v1/needs/{b.id}/return", {"note": "Sửa"})).json()[
        "status"
    ] == "returned"
    rejected = await send_json(client, "POST", f"/api/v1/needs/{c.id}/reject", {"reason": "Trùng"})
    assert rejected.json()["status"] == "rejected" and rejected.json()["moderation_note"] == "Trùng"
    assert (await send_json(client, "POST", f"/api/v1/needs/{c.id}/explode", {})).status_code == 404


REASON = "Trùng với nhu cầu đã đăng tháng trước"


async def test_bulk_reject_and_return_with_one_note_each_audited(client, db, library, officer) -> None:
    a, b, c = [await make_need(db, library, status=S.SUBMITTED) for _ in range(3)]
    await db.commit()
    await sign_in(client, officer.email)
    response = await post_form(client, "/officer/needs/reject", {"ids": [str(a.id), str(b.id)], "bulk_note": REASON})
    assert response.status_code == 303
    needs = await _needs(db)
    assert [(n.status, n.moderation_note) for n in needs] == [(S.REJECTED, REASON), (S.REJECTED, REASON),
                                                               (S.SUBMITTED, "")]
    rows = list(await db.scalars(select(AuditLog).where(AuditLog.action == "need.reject").order_by(AuditLog.id)))
    assert [(r.entity_id, r.summary, r.actor_id) for r in rows] == [(str(a.id), REASON, officer.id),
                                                                  (str(b.id), REASON, officer.id)]
    response = await post_form(client, "/officer/needs/return", {"ids": [str(c.id)], "bulk_note": "Ghi rõ số lượng"})
    assert response.status_code == 303
    assert (await _needs(db))[2].status == S.RETURNED
    api = await send_json(client, "POST", "/api/v1/needs/reject", {"ids": [c.id], "reason": REASON})
    assert api.status_code == 409  # returned, not submitted: nothing to reject


async def test_bulk_reject_without_a_reason_or_with_a_need_not_submitted_changes_nothing(
        client, db, library, officer) -> None:
    a = await make_need(db, library, status=S.SUBMITTED)
    b = await make_need(db, library, status=S.SUBMITTED)
    draft = await make_need(db, library, status=S.DRAFT)
    await db.commit()
    await sign_in(client, officer.email)
    response = await post_form(client, "/officer/needs/reject", {"ids": [str(a.id), str(b.id)], "bulk_note": "  "})
    assert response.status_code == 422
    assert 'id="e-bulk_note"' in response.text
    assert response.text.count(" checked>") == 2  # the ticks are kept
    refused = await post_form(client, "/officer/needs/return",
                              {"ids": [str(a.id), str(draft.id)], "bulk_note": "Ghi rõ số lượng"})
    assert refused.status_code == 409
    assert [n.status for n in await _needs(db)] == [S.SUBMITTED, S.SUBMITTED, S.DRAFT]
    missing = await send_json(client, "POST", "/api/v1/needs/return", {"ids": [a.id]})
    assert missing.status_code == 422
    assert await db.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action.in_(["need.reject", "need.return"]))) == 0


async def test_the_review_queue_pages_past_a_hundred(client, db, library, officer) -> None:
    for _ in range(101):
        await make_need(db, library, status=S.SUBMITTED)
    await db.commit()
    await sign_in(client, officer.email)
    first = await client.get("/officer/needs")
    assert first.text.count('name="ids"') == 100 and 'href="/officer/needs?page=2"' in first.text
    assert (await client.get("/officer/needs?page=2")).text.count('name="ids"') == 1


async def test_the_librarians_are_told_of_the_offices_decision(client, db, library, librarian, officer) -> None:
    """Approving, returning or rejecting a need writes a message (an e-mail where SMTP is set) to each
    active librarian of its library, in Vietnamese, with the office's note; a withdrawn one is not told."""
    gone = await make_user(db, Role.LIBRARIAN, email="cu@muongla.vn", library_id=library.id, is_active=False)
    other = await make_library(db, name="Thư viện Chiềng Cơi")
    await make_user(db, Role.LIBRARIAN, email="khac@example.vn", library_id=other.id)
    approved, returned, rejected = [await make_need(db, library, status=S.SUBMITTED) for _ in range(3)]
    await db.commit()
    await sign_in(client, officer.email)
    assert (await post_form(client, f"/officer/needs/{approved.id}/approve", {})).status_code == 303
    assert (await post_form(client, f"/officer/needs/{returned.id}/return",
                            {"note": "Ghi rõ số lượng theo lớp."})).status_code == 303
    assert (await post_form(client, f"/officer/needs/{rejected.id}/reject",
                            {"reason": "Trùng nhu cầu."})).status_code == 303
    told = list(await db.scalars(select(OutboxMessage).where(OutboxMessage.topic.like("need.%"))
                                 .order_by(OutboxMessage.id)))
    assert [(m.recipient_id, m.topic) for m in told] == [
        (librarian.id, "need.approved"), (librarian.id, "need.returned"), (librarian.id, "need.rejected")]
    assert told[0].subject == f"Nhu cầu số {approved.id} của bạn đã được duyệt"
    assert "Ghi rõ số lượng theo lớp." in told[1].body and "Trùng nhu cầu." in told[2].body
    assert gone.id not in {m.recipient_id for m in told}
