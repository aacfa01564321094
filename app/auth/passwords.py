"""Argon2 password hashing and the password-strength rule."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.i18n import _

_hasher = PasswordHasher()
# argon2's verify costs the same whether or not the account exists: a dummy hash keeps timing even.
_DUMMY_HASH = _hasher.hash("a password nobody has")

MIN_LENGTH = 10
COMMON = {
    "1234567890", "12345678910", "0123456789", "password123", "matkhau123", "qwertyuiop",
    "abcdefghij", "1111111111", "abc1234567", "iloveyou12", "password12", "vietnam123",
}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# Argon2 takes ~0.1-0.2 s of CPU by design: run on the server's event loop, a few sign-ins a second
# (from anyone, with any address) would hold up every other request. These run it in a worker
# thread (argon2-cffi releases the GIL meanwhile).


async def hash_in_thread(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password)


async def verify_in_thread(password_hash: str | None, password: str) -> bool:
    """As `verify_password`: with no hash (no such account), checked against a stand-in hash all
    the same, so the time taken does not tell whether the account exists."""
    return await anyio.to_thread.run_sync(verify_password, password_hash, password)


def password_problem(password: str, email: str = "") -> str | None:
    """Why a password is too weak, in the user's language; None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(n)s characters.", n=MIN_LENGTH)
    if len(password) > 128:
        return _("Use at most %(n)s characters.", n=128)
    lowered = password.lower()
    if lowered in COMMON or len(set(password)) < 4:
        return _("This password is too easy to guess.")
    if password.isdigit() or password.isalpha():
        return _("Mix letters with digits or symbols.")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in lowered:
        return _("Do not put your e-mail address in your password.")
    return None
