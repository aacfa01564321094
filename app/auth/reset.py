"""A forgotten password: a link by e-mail that lets the account's owner choose a new one.

The link carries a signed, timed token (itsdangerous) of the account and of its current password
(`guards.session_stamp`, a digest of the stored hash): it works for `PASSWORD_RESET_SECONDS`, and
only until the password changes, so it works once, and an older link stops working when a newer
one is used or the password is changed on the account page. Nothing is stored.

Asking for a link answers the same whether or not an account has that address (the page never
says who has an account), and asking is limited per address and per client like sign-ins, so the
form cannot flood someone's mailbox.
"""

from __future__ import annotations

import logging

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.guards import session_stamp
from app.auth.models import User
from app.auth.services import LoginThrottle, TooManyAttempts, set_password
from app.errors import DomainError
from app.i18n import _
from app.mail import Mail, Mailer

SALT = "password-reset"
MAX_PER_ADDRESS = 3  # links asked for one address, per lockout period
MAX_PER_CLIENT = 20  # links asked from one client address, whatever the e-mail addresses
log = logging.getLogger("app.auth.reset")


class InvalidLink(DomainError):
    status_code = 400


class NotSent(DomainError):
    status_code = 503


def make_token(secret: str, user: User) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT).dumps([user.id, session_stamp(user)])


async def user_for_token(session: AsyncSession, secret: str, token: str, max_age: int) -> User:
    """The active account a link was made for, while the link works; else `InvalidLink`."""
    try:
        uid, stamp = URLSafeTimedSerializer(secret, salt=SALT).loads(token, max_age=max_age)
    except (BadSignature, ValueError, TypeError):
        uid, stamp = None, None
    user = await session.get(User, uid) if isinstance(uid, int) else None
    if user is None or not user.is_active or stamp != session_stamp(user):
        raise InvalidLink(_("This link to choose a new password no longer works (it works once, for a "
                            "limited time). Ask for a new one."))
    return user


async def send_link(
    session: AsyncSession,
    throttle: LoginThrottle,
    mailer: Mailer,
    *,
    email: str,
    client: str,
    secret: str,
    site: str,
    max_age: int,
    lockout_seconds: int,
) -> None:
    """Mail a reset link to the active account with this address, if there is one."""
    address = email.strip().lower()
    limits = {f"reset:{address}": MAX_PER_ADDRESS, f"reset-client:{client}": MAX_PER_CLIENT}
    if not await throttle.take(limits, lockout_seconds):
        raise TooManyAttempts(_("Too many links asked for. Try again in %(n)s minutes.",
                                n=max(1, lockout_seconds // 60)))
    user = await session.scalar(select(User).where(User.email == address, User.is_active.is_(True)))
    if user is None:
        return
    link = f"{site}/password/reset/{make_token(secret, user)}"
    body = "\n\n".join([
        _("Hello %(name)s,", name=user.display_name),
        _("Someone (we hope you) asked to choose a new password for your account %(email)s. To choose "
          "it, open this link within %(minutes)s minutes:", email=user.email, minutes=max(1, max_age // 60)),
        link,
        _("The link works once. If you did not ask for it, ignore this message: your password stays as it is."),
    ])
    try:
        await mailer.send(Mail(to=user.email, subject=_("Choose a new password"), body=body))
    except Exception as exc:  # noqa: BLE001 - whatever the mail system says, the person is told the same
        log.exception("password reset link for user %s could not be sent", user.id)
        raise NotSent(_("The e-mail could not be sent just now. Try again in a few minutes.")) from exc


async def reset_password(session: AsyncSession, user: User, new_password: str, new_password_again: str) -> None:
    """The link's owner chooses a new password (checked like any new one); every session opened with
    the old one ends, and the link stops working."""
    await set_password(session, user, new_password, new_password_again, errors={},
                       action="user.reset_password", summary="password reset by e-mail link")
