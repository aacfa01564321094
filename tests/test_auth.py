"""Sponsors register and sign in; bad input is refused with a message and writes nothing."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from app.audit import AuditLog
from app.auth.models import OrganisationKind, Role, SponsorType, User
from tests.support import PASSWORD, make_user, post_form, sign_in

GOOD = {
    "sponsor_type": "individual",
    "full_name": "Lò Văn Pả",
    "email": "lo.van.pa@example.vn",
    "password": PASSWORD,
}


async def _count_users(db) -> int:  # type: ignore[no-untyped-def]
    return await db.scalar(select(func.count()).select_from(User))


async def test_individual_registers_and_lands_on_account(client, db) -> None:
    response = await post_form(client, "/register", GOOD)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    user = await db.scalar(select(User).where(User.email == GOOD["email"]))
    assert user.role == Role.SPONSOR and user.sponsor_type == SponsorType.INDIVIDUAL
    assert user.password_hash.startswith("$argon2")
    audit = await db.scalar(select(AuditLog).where(AuditLog.action == "user.register"))
    assert audit.entity_id == str(user.id)
    page = await client.get("/account")
    assert page.status_code == 200 and "Lò Văn Pả" in page.text


async def test_enterprise_registers_with_tax_code(client, db) -> None:
    data = {
        **GOOD,
        "email": "ketoan@taybac.vn",
        "sponsor_type": "organisation",
        "organisation_name": "Công ty CP Sách Tây Bắc",
        "organisation_kind": "enterprise",
        "tax_code": "5500123456-001",
    }
    assert (await post_form(client, "/register", data)).status_code == 303
    user = await db.scalar(select(User).where(User.email == "ketoan@taybac.vn"))
    assert user.organisation_kind == OrganisationKind.ENTERPRISE
    assert user.tax_code == "5500123456-001"
    assert user.display_name == "Công ty CP Sách Tây Bắc"


@pytest.mark.parametrize(("typed", "kept"), [
    ("0101 234 567", "0101234567"), ("0101.234.567-001", "0101234567-001"),
    ("001 085 012 345", "001085012345"),  # a household business: its owner's 12-digit personal number
])
async def test_tax_codes_as_people_type_them(client, db, typed, kept) -> None:
    data = {**GOOD, "sponsor_type": "organisation", "organisation_name": "Hộ kinh doanh Lò Văn Pả",
            "organisation_kind": "other", "tax_code": typed}
    assert (await post_form(client, "/register", data)).status_code == 303
    assert (await db.scalar(select(User).where(User.email == GOOD["email"]))).tax_code == kept


@pytest.mark.parametrize("typed", ["12345", "01012345678", "0101234567-01", "0101234567890", "MST0101234567"])
async def test_a_tax_code_of_no_known_shape_is_refused(client, db, typed) -> None:
    await client.get("/lang/en")
    data = {**GOOD, "sponsor_type": "organisation", "organisation_name": "Cty A", "organisation_kind": "enterprise",
            "tax_code": typed}
    response = await post_form(client, "/register", data)
    assert response.status_code == 422
    assert re.search(r'id="e-tax_code">A tax code has 10 digits \(an enterprise\)', response.text), response.text
    assert await _count_users(db) == 0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"password": "abc12345"}, "password", "Dùng ít nhất 10 ký tự."),
        ({"password": "1234567890"}, "password", "Mật khẩu này quá dễ đoán."),
        ({"password": "chiconchuthoi"}, "password", "Hãy kết hợp chữ cái với chữ số hoặc ký hiệu."),
        ({"full_name": "A" * 121}, "full_name", "Không quá 120 ký tự."),
        ({"full_name": ""}, "full_name", "Ô này là bắt buộc."),
        ({"email": "not-an-email"}, "email", "Nhập địa chỉ e-mail hợp lệ."),
        (
            {"sponsor_type": "organisation", "organisation_name": "Cty A",
             "organisation_kind": "enterprise"},
            "tax_code",
            "Doanh nghiệp phải nhập mã số thuế.",
        ),
        (
            {"sponsor_type": "organisation", "organisation_name": "X" * 201,
             "organisation_kind": "school"},
            "organisation_name",
            "Không quá 200 ký tự.",
        ),
        ({"address": "Số 12 Tô Hiệu " * 22}, "address", "Không quá 300 ký tự."),
    ],
)
async def test_bad_registration_is_refused_in_vietnamese(client, db, change, field, message) -> None:
    response = await post_form(client, "/register", {**GOOD, **change})
    assert response.status_code == 422
    assert message in response.text
    assert re.search(rf'id="e-{field}">[^<]*{re.escape(message)}', response.text)
    assert await _count_users(db) == 0


async def test_sponsor_registers_with_an_address(client, db) -> None:
    address = "Số 12 Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La"
    assert (await post_form(client, "/register", {**GOOD, "address": f"  {address} "})).status_code == 303
    user = await db.scalar(select(User).where(User.email == GOOD["email"]))
    assert user.address == address  # stripped
    page = await client.get("/account")
    assert address in page.text


async def test_taken_email_is_refused_and_nothing_written(client, db) -> None:
    await make_user(db, Role.SPONSOR, email=GOOD["email"])
    await db.commit()
    response = await post_form(client, "/register", {**GOOD, "email": GOOD["email"].upper()})
    assert response.status_code == 422
    assert "Đã có tài khoản dùng địa chỉ e-mail này." in response.text
    assert await _count_users(db) == 1


async def test_bad_input_message_in_english_when_chosen(client, db) -> None:
    await client.get("/lang/en")
    response = await post_form(client, "/register", {**GOOD, "password": "short1"})
    assert response.status_code == 422
    assert "Use at least 10 characters." in response.text
    assert await _count_users(db) == 0


async def test_htmx_registration_error_returns_only_the_form(client) -> None:
    response = await post_form(
        client, "/register", {**GOOD, "password": "x"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert response.text.lstrip().startswith("<form")
    assert "<html" not in response.text


async def test_sign_in_sign_out(client, db) -> None:
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    await sign_in(client, "a@example.vn")
    assert (await client.get("/account")).status_code == 200
    response = await post_form(client, "/logout", {})
    assert response.status_code == 303
    assert (await client.get("/account", follow_redirects=False)).status_code == 303


async def test_wrong_password_is_refused(client, db) -> None:
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    response = await post_form(client, "/login", {"email": "a@example.vn", "password": "wrong-pass-1"})
    assert response.status_code == 422
    assert "E-mail hoặc mật khẩu không đúng." in response.text


async def test_sign_in_is_throttled_after_repeated_failures(client, db) -> None:
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    for _ in range(5):
        r = await post_form(client, "/login", {"email": "a@example.vn", "password": "wrong-pass-1"})
        assert r.status_code == 422
    # Even the right password is refused while the account is throttled.
    response = await post_form(client, "/login", {"email": "a@example.vn", "password": PASSWORD})
    assert response.status_code == 429
    assert "Đăng nhập sai quá nhiều lần" in response.text


async def test_guesses_sent_all_at_once_are_throttled_too(app, db) -> None:
    """Forty wrong passwords sent at the same moment to the real server: only the first five are
    even checked (each attempt is counted before the password is), the others are refused as too
    many, and afterwards the right password too. Counting after the check let every request of a
    burst read the same count, so a burst of any size cost the attacker one failure."""
    import asyncio
    import socket

    import httpx
    import uvicorn

    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # up to 10 s
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            await client.get("/login")
            guess = {"email": "a@example.vn", "password": "wrong-pass-1", "_csrf_token": client.cookies["csrftoken"]}
            responses = await asyncio.gather(*(client.post("/login", data=guess) for _ in range(40)))
            statuses = [r.status_code for r in responses]
            assert (statuses.count(422), statuses.count(429)) == (5, 35)
            right = await client.post("/login", data={**guess, "password": PASSWORD})
            assert right.status_code == 429
    finally:
        server.should_exit = True
        await serving


async def test_failures_from_elsewhere_do_not_lock_the_owner_out(db) -> None:
    from app.auth.services import LoginThrottle, TooManyAttempts, authenticate
    from app.errors import DomainError

    officer = await make_user(db, Role.OFFICER, email="canbo@example.vn")
    await db.commit()
    store = LoginThrottle()
    limits = {"max_failures": 5, "lockout_seconds": 900}
    for _ in range(5):
        with pytest.raises(DomainError):
            await authenticate(db, store, email="CANBO@example.vn", password="wrong-pass-1",
                               client="203.0.113.7", **limits)
    # The stranger's address is locked out, even with the right password...
    with pytest.raises(TooManyAttempts, match="Đăng nhập sai quá nhiều lần"):
        await authenticate(db, store, email="canbo@example.vn", password=PASSWORD, client="203.0.113.7", **limits)
    # ...while the officer, from their own address, still signs in.
    user = await authenticate(db, store, email="canbo@example.vn", password=PASSWORD, client="198.51.100.2",
                              **limits)
    assert user.id == officer.id

    # Guessing from many addresses stops too: 50 failures in all lock the account everywhere.
    for n in range(50):
        with pytest.raises(DomainError):
            await authenticate(db, store, email="canbo@example.vn", password="wrong-pass-1",
                               client=f"192.0.2.{n}", **limits)
    with pytest.raises(TooManyAttempts):
        await authenticate(db, store, email="canbo@example.vn", password=PASSWORD, client="198.51.100.2", **limits)


async def test_a_password_check_never_holds_up_the_other_requests(db, monkeypatch) -> None:
    """Checking a password (Argon2, a deliberately slow hash: ~0.1-0.2 s) runs beside the server's
    event loop, not on it: while sign-ins are checked, other requests go on. On the loop, anyone
    sending a few sign-ins a second (any e-mail address, so no throttle applies) froze every page.
    Argon2's own `verify` is wrapped (still called) to see on which thread each check runs."""
    import threading

    from argon2 import PasswordHasher

    from app.auth.services import LoginThrottle, authenticate
    from app.errors import DomainError

    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    loop_thread = threading.current_thread()
    checked_on: list[threading.Thread] = []
    verify = PasswordHasher.verify

    def watched(self, password_hash, password):  # type: ignore[no-untyped-def]
        checked_on.append(threading.current_thread())
        return verify(self, password_hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", watched)
    for email in ("a@example.vn", "nobody@example.vn"):
        with pytest.raises(DomainError):
            await authenticate(db, LoginThrottle(), email=email, password="wrong-pass-1", client="192.0.2.1",
                               max_failures=5, lockout_seconds=900)
    # Both checked, off the loop: an address with no account costs the same check (against a
    # stand-in hash), so how long a sign-in takes does not tell whether the account exists.
    assert len(checked_on) == 2 and loop_thread not in checked_on


async def test_post_without_csrf_token_is_refused(client, db) -> None:
    await client.get("/register")
    response = await client.post("/register", data=GOOD)
    assert response.status_code == 403
    assert await _count_users(db) == 0


async def test_next_parameter_cannot_redirect_off_site(client, db) -> None:
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    response = await post_form(
        client, "/login", {"email": "a@example.vn", "password": PASSWORD, "next": "//evil.example"}
    )
    assert response.headers["location"] == "/account"


# --- the account page: contact details ------------------------------------------------------------

ADDRESS = "Số 12 Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La"


async def test_a_user_changes_their_address_and_phone(client, db) -> None:
    user = await make_user(db, Role.SPONSOR, email="a@example.vn", phone="0912345678")
    await db.commit()
    await sign_in(client, "a@example.vn")
    page = await client.get("/account")
    assert page.status_code == 200 and 'action="/account/contact"' in page.text and "Chưa có" in page.text

    response = await post_form(client, "/account/contact", {"phone": " 0212 3852 123 ", "address": f" {ADDRESS} "})
    assert response.status_code == 303 and response.headers["location"] == "/account"
    await db.refresh(user)
    assert (user.phone, user.address) == ("0212 3852 123", ADDRESS)
    audit = await db.scalar(select(AuditLog).where(AuditLog.action == "user.update_contact"))
    assert audit.actor_id == user.id and audit.entity_id == str(user.id)
    assert audit.before == {"phone": "0912345678", "address": ""}
    assert audit.after == {"phone": "0212 3852 123", "address": ADDRESS}
    page = await client.get("/account")
    assert ADDRESS in page.text and "Đã lưu thông tin liên hệ của bạn." in page.text

    # Blank clears the address; posting the same details again writes no second audit row.
    assert (await post_form(client, "/account/contact", {"phone": "0212 3852 123", "address": ""})).status_code == 303
    assert (await post_form(client, "/account/contact", {"phone": "0212 3852 123", "address": ""})).status_code == 303
    await db.refresh(user)
    assert user.address == ""
    rows = await db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "user.update_contact"))
    assert rows == 2


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"address": "x" * 301}, "address", "Không quá 300 ký tự."),
        ({"phone": "gọi tôi"}, "phone", "Nhập số điện thoại từ 8 đến 15 chữ số."),
    ],
)
async def test_bad_contact_details_are_refused_and_nothing_changes(client, db, change, field, message) -> None:
    user = await make_user(db, Role.SPONSOR, email="a@example.vn", phone="0912345678", address=ADDRESS)
    await db.commit()
    await sign_in(client, "a@example.vn")
    response = await post_form(client, "/account/contact", {"phone": "0912345678", "address": ADDRESS, **change})
    assert response.status_code == 422
    assert re.search(rf'id="e-{field}">[^<]*{re.escape(message)}', response.text)
    await db.refresh(user)
    assert (user.phone, user.address) == ("0912345678", ADDRESS)
    assert await db.scalar(select(func.count()).select_from(AuditLog)) == 0


async def test_contact_details_message_in_english_when_chosen(client, db) -> None:
    await make_user(db, Role.LIBRARIAN, email="t@example.vn")
    await db.commit()
    await sign_in(client, "t@example.vn")
    await client.get("/lang/en")
    response = await post_form(client, "/account/contact", {"address": "x" * 301})
    assert response.status_code == 422 and "Must be at most 300 characters." in response.text


async def test_only_a_signed_in_user_changes_contact_details(client, db) -> None:
    response = await post_form(client, "/account/contact", {"address": ADDRESS}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert await db.scalar(select(func.count()).select_from(AuditLog)) == 0


# --- the account page: changing one's password ------------------------------------------------------

NEW_PASSWORD = "Sach-cho-Chieng-Coi-7"


async def test_a_librarian_replaces_the_one_time_password(client, db) -> None:
    """A librarian's first password is the office's one-time one: the account page changes it."""
    user = await make_user(db, Role.LIBRARIAN, email="thuthu@example.vn")
    await db.commit()
    await sign_in(client, "thuthu@example.vn")
    page = await client.get("/account")
    assert 'action="/account/password"' in page.text and 'autocomplete="new-password"' in page.text
    response = await post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/account"
    audit = await db.scalar(select(AuditLog).where(AuditLog.action == "user.change_password"))
    assert audit.actor_id == user.id and audit.entity_id == str(user.id)
    assert PASSWORD not in str((audit.summary, audit.before, audit.after))
    assert NEW_PASSWORD not in str((audit.summary, audit.before, audit.after))

    await post_form(client, "/logout", {})
    old = await post_form(client, "/login", {"email": "thuthu@example.vn", "password": PASSWORD})
    assert old.status_code == 422
    await sign_in(client, "thuthu@example.vn", NEW_PASSWORD)


async def test_changing_the_password_signs_out_every_other_device(client, db) -> None:
    """A password changed on one device ends the sessions opened with the old one elsewhere (a
    shared phone left signed in, or a session taken over): the device that changed it stays in.
    Two devices are two cookie jars taken in turn by one client (one client per app: its engine
    belongs to the client's event loop)."""
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()

    def kept() -> httpx.Cookies:
        jar = httpx.Cookies()
        for cookie in client.cookies.jar:
            jar.jar.set_cookie(cookie)
        return jar

    def device(jar: httpx.Cookies) -> None:
        client.cookies = jar

    await sign_in(client, "a@example.vn")
    phone = kept()
    device(httpx.Cookies())
    await sign_in(client, "a@example.vn")
    computer = kept()
    device(phone)
    assert (await client.get("/account")).status_code == 200

    device(computer)
    response = await post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert response.status_code == 303
    page = await client.get("/account")
    assert page.status_code == 200
    assert "Tài khoản đã được đăng xuất trên mọi thiết bị khác." in page.text
    computer = kept()

    device(phone)
    gone = await client.get("/account")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    await sign_in(client, "a@example.vn", NEW_PASSWORD)  # signing in again there works as ever
    assert (await client.get("/account")).status_code == 200
    device(computer)
    assert (await client.get("/account")).status_code == 200


async def test_guesses_at_the_current_password_are_throttled(client, db) -> None:
    """Whoever holds a session cannot try current passwords without end: after five wrong ones the
    form is refused (even with the right one) with a message in the user's language, and the
    password stays as it was."""
    user = await make_user(db, Role.LIBRARIAN, email="thuthu@example.vn")
    await db.commit()
    before = user.password_hash
    await sign_in(client, "thuthu@example.vn")
    change = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    for _ in range(5):
        wrong = await post_form(client, "/account/password", {"current_password": "Wrong-password-1", **change})
        assert wrong.status_code == 422
    refused = await post_form(client, "/account/password", {"current_password": PASSWORD, **change})
    assert refused.status_code == 429
    assert re.search(r'id="e-current_password">[^<]*Nhập sai mật khẩu quá nhiều lần. Hãy thử lại sau 15 phút.',
                     refused.text)
    await db.refresh(user)
    assert user.password_hash == before
    assert await db.scalar(select(func.count()).select_from(AuditLog)) == 0
    # The account is still signed in here and the other pages work.
    assert (await client.get("/account")).status_code == 200


async def test_a_right_current_password_clears_the_count_of_wrong_ones(client, db) -> None:
    await make_user(db, Role.SPONSOR, email="a@example.vn")
    await db.commit()
    await sign_in(client, "a@example.vn")
    for _ in range(4):
        await post_form(client, "/account/password", {"current_password": "Wrong-password-1",
                                                      "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    # Right current password, but a mistyped confirmation: refused, and the count starts again.
    mistyped = await post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD + "x"})
    assert mistyped.status_code == 422
    for _ in range(4):
        wrong = await post_form(client, "/account/password", {
            "current_password": "Wrong-password-1", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
        assert wrong.status_code == 422
    done = await post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert done.status_code == 303


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"current_password": "Wrong-password-1"}, "current_password", "This is not your current password."),
        ({"current_password": ""}, "current_password", "This field is required."),
        ({"new_password": "short", "new_password_again": "short"}, "new_password", "Use at least 10 characters."),
        ({"new_password": PASSWORD, "new_password_again": PASSWORD}, "new_password",
         "Choose a password different from the current one."),
        ({"new_password_again": NEW_PASSWORD + "x"}, "new_password_again", "The two new passwords are not the same."),
    ],
    ids=["wrong-current", "no-current", "weak", "unchanged", "mistyped"],
)
async def test_bad_password_change_is_refused_and_nothing_changes(client, db, change, field, message) -> None:
    user = await make_user(db, Role.LIBRARIAN, email="thuthu@example.vn")
    await db.commit()
    before = user.password_hash
    await sign_in(client, "thuthu@example.vn")
    await client.get("/lang/en")
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD, **change}
    response = await post_form(client, "/account/password", form)
    assert response.status_code == 422
    assert re.search(rf'id="e-{field}">[^<]*{re.escape(message)}', response.text)
    for typed in {v for v in form.values() if v}:
        assert f'value="{typed}"' not in response.text  # passwords are never sent back
    await db.refresh(user)
    assert user.password_hash == before
    assert await db.scalar(select(func.count()).select_from(AuditLog)) == 0


async def test_only_a_signed_in_user_changes_a_password(client, db) -> None:
    response = await post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
