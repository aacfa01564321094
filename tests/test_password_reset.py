"""A forgotten password: a link by e-mail (to a real SMTP server on loopback) lets the account's
owner choose a new one; it works once, for a limited time, and asking for it says nothing of who
has an account."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.asgi import create_app
from app.audit import AuditLog
from app.auth.models import Role, User
from tests.conftest import settings_for
from tests.mail_server import Inbox, free_port
from tests.support import PASSWORD, make_user, post_form, sign_in

NEW_PASSWORD = "Sach-cho-Chieng-Coi-7"
LINK = re.compile(r"http://testserver\.local/password/reset/\S+")


async def _client(url: str, **settings: Any) -> AsyncTestClient[Any]:
    environment = settings.pop("environment", "test")
    configured = settings_for(url, **settings).model_copy(update={"environment": environment})
    scheme = "https" if environment == "production" else "http"  # production's cookies are Secure
    client = AsyncTestClient(app=create_app(configured), base_url=f"{scheme}://testserver.local")
    client.follow_redirects = False
    return client


@pytest.fixture
async def mailing(clean_backend, smtp_server) -> AsyncIterator[tuple[AsyncTestClient[Any], Inbox]]:
    inbox, port = smtp_server
    async with await _client(clean_backend.url, smtp_host="127.0.0.1", smtp_port=port,
                             smtp_security="none") as client:
        yield client, inbox


async def _ask(client: AsyncTestClient[Any], email: str) -> Any:
    return await post_form(client, "/password/forgot", {"email": email})


def _link(inbox: Inbox, address: str) -> str:
    [message] = inbox.to(address)
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(0).removeprefix("http://testserver.local")


async def _reset(client: AsyncTestClient[Any], path: str, new: str = NEW_PASSWORD, again: str | None = None) -> Any:
    return await post_form(client, path, {"new_password": new, "new_password_again": new if again is None else again})


async def test_a_forgotten_password_is_replaced_through_the_mailed_link(mailing, db) -> None:
    client, inbox = mailing
    user = await make_user(db, Role.SPONSOR, email="an@example.vn", full_name="Nguyễn Văn An")
    await db.commit()
    assert 'href="/password/forgot"' in (await client.get("/login")).text
    assert 'action="/password/forgot"' in (await client.get("/password/forgot")).text

    asked = await _ask(client, "  AN@example.vn ")
    assert asked.status_code == 303 and asked.headers["location"] == "/login"
    assert "một liên kết để chọn mật khẩu mới đang được gửi tới" in (await client.get("/login")).text
    [message] = inbox.to("an@example.vn")
    assert message["Subject"] == "Chọn mật khẩu mới"
    assert "Nguyễn Văn An" in message.get_content()  # Vietnamese, as it is
    path = _link(inbox, "an@example.vn")

    page = await client.get(path)
    assert page.status_code == 200 and "an@example.vn" in page.text
    done = await _reset(client, path)
    assert done.status_code == 303 and done.headers["location"] == "/account"
    account = await client.get("/account")
    assert account.status_code == 200 and "Đã lưu mật khẩu mới" in account.text
    audit = await db.scalar(select(AuditLog).where(AuditLog.action == "user.reset_password"))
    assert audit.actor_id == user.id and NEW_PASSWORD not in str((audit.summary, audit.before, audit.after))

    # The link works once; the old password no longer signs in, the new one does.
    again = await client.get(path)
    assert again.status_code == 400 and "không còn dùng được" in again.text
    assert (await _reset(client, path, "Another-password-8")).status_code == 400
    await post_form(client, "/logout", {})
    assert (await post_form(client, "/login", {"email": "an@example.vn", "password": PASSWORD})).status_code == 422
    await sign_in(client, "an@example.vn", NEW_PASSWORD)


async def test_the_answer_is_the_same_whoever_has_an_account(mailing, db) -> None:
    """An address no account has, or one whose access is withdrawn, gets the answer any address gets,
    and no mail."""
    client, inbox = mailing
    await make_user(db, Role.LIBRARIAN, email="cu@example.vn", is_active=False)
    await db.commit()
    for address in ("nobody@example.vn", "cu@example.vn"):
        asked = await _ask(client, address)
        assert asked.status_code == 303 and asked.headers["location"] == "/login"
        assert f"Nếu có tài khoản với địa chỉ {address}" in (await client.get("/login")).text
    assert inbox.messages == []


@pytest.mark.parametrize(("typed", "message"), [
    ("", "Hãy nhập địa chỉ e-mail của tài khoản."),
    ("an-at-example.vn", "Hãy nhập địa chỉ e-mail của tài khoản."),
], ids=["empty", "malformed"])
async def test_a_bad_address_is_refused_beside_the_field(mailing, db, typed, message) -> None:
    client, inbox = mailing
    await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    response = await _ask(client, typed)
    assert response.status_code == 422
    assert re.search(rf'id="e-email">{re.escape(message)}', response.text)
    assert inbox.messages == []


@pytest.mark.parametrize(("new", "again", "field", "message"), [
    ("short1", "short1", "new_password", "Dùng ít nhất 10 ký tự."),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "new_password_again", "Hai lần nhập mật khẩu mới không giống nhau."),
    ("", "", "new_password", "Ô này là bắt buộc."),
], ids=["weak", "mistyped", "empty"])
async def test_a_bad_new_password_is_refused_and_nothing_changes(mailing, db, new, again, field, message) -> None:
    client, inbox = mailing
    user = await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    before = user.password_hash
    await _ask(client, "an@example.vn")
    path = _link(inbox, "an@example.vn")
    response = await _reset(client, path, new, again)
    assert response.status_code == 422
    assert re.search(rf'id="e-{field}">[^<]*{re.escape(message)}', response.text)
    for typed in {new, again} - {""}:
        assert f'value="{typed}"' not in response.text
    await db.refresh(user)
    assert user.password_hash == before
    assert await db.scalar(select(func.count()).select_from(AuditLog)) == 0
    assert (await client.get(path)).status_code == 200  # the link still works for a second try


async def test_a_link_stops_working_when_the_password_changes_or_it_is_tampered_with(mailing, db) -> None:
    client, inbox = mailing
    await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    await _ask(client, "an@example.vn")
    path = _link(inbox, "an@example.vn")
    assert (await client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB"))).status_code == 400
    assert (await client.get("/password/reset/not-a-token")).status_code == 400
    await sign_in(client, "an@example.vn")
    changed = await post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert changed.status_code == 303
    stale = await client.get(path)
    assert stale.status_code == 400 and 'href="/password/forgot"' in stale.text


async def test_a_link_works_for_a_limited_time(clean_backend, smtp_server, db) -> None:
    inbox, port = smtp_server
    await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    async with await _client(clean_backend.url, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                             password_reset_seconds=1) as client:
        await _ask(client, "an@example.vn")
        path = _link(inbox, "an@example.vn")
        await asyncio.sleep(2.2)
        expired = await client.get(path)
        assert expired.status_code == 400 and "không còn dùng được" in expired.text
        assert (await _reset(client, path)).status_code == 400


async def test_links_asked_for_too_often_are_refused(mailing, db) -> None:
    client, inbox = mailing
    await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    for _ in range(3):
        assert (await _ask(client, "an@example.vn")).status_code == 303
    refused = await _ask(client, "an@example.vn")
    assert refused.status_code == 429 and "Đã yêu cầu quá nhiều liên kết. Hãy thử lại sau 15 phút." in refused.text
    assert len(inbox.to("an@example.vn")) == 3


async def test_a_mail_server_that_does_not_answer_is_said(clean_backend, db) -> None:
    await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    async with await _client(clean_backend.url, smtp_host="127.0.0.1", smtp_port=free_port(),
                             smtp_security="none", smtp_timeout_seconds=5) as client:
        response = await _ask(client, "an@example.vn")
    assert response.status_code == 503
    assert "Chưa gửi được e-mail. Hãy thử lại sau vài phút." in response.text


async def test_in_production_without_a_mail_server_no_reset_is_offered(clean_backend, db) -> None:
    """A link built from the request's own address, or written to the log, must not stand in for
    the owner's mailbox in production."""
    await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    async with await _client(clean_backend.url, environment="production") as client:
        page = await client.get("/password/forgot")
        assert page.status_code == 200 and "Trang này chưa có chức năng chọn mật khẩu mới qua e-mail" in page.text
        assert 'action="/password/forgot"' not in page.text
        assert (await _ask(client, "an@example.vn")).status_code == 404
    assert await db.scalar(select(func.count()).select_from(User)) == 1


async def test_in_production_the_link_goes_to_the_sites_public_address(clean_backend, smtp_server, db) -> None:
    """Whatever Host header the request came with, the mailed link points at PUBLIC_URL."""
    inbox, port = smtp_server
    await make_user(db, Role.SPONSOR, email="an@example.vn")
    await db.commit()
    async with await _client(clean_backend.url, environment="production", smtp_host="127.0.0.1", smtp_port=port,
                             smtp_security="none", public_url="https://thuvien.sonla.gov.vn") as client:
        assert (await _ask(client, "an@example.vn")).status_code == 303
    [message] = inbox.to("an@example.vn")
    assert re.search(r"^https://thuvien\.sonla\.gov\.vn/password/reset/\S+$", message.get_content(), re.M)
    assert "testserver.local" not in message.get_content()
