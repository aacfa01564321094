"""Account services: every change checks its rules and writes an audit row. Never commits."""

from __future__ import annotations

import secrets

from litestar.stores.base import Store
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.models import Role, SponsorType, User
from app.auth.passwords import hash_password, password_problem, verify_password
from app.auth.schemas import ContactDetails, LibrarianInvitation, PasswordChange, SponsorRegistration
from app.errors import DomainError, ValidationFailed
from app.geography.models import Library
from app.i18n import _


class TooManyAttempts(DomainError):
    status_code = 429


async def _email_taken(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
    return found is not None


async def register_sponsor(session: AsyncSession, data: SponsorRegistration) -> User:
    if await _email_taken(session, data.email):
        raise ValidationFailed({"email": _("An account with this e-mail address already exists.")})
    user = User(
        email=data.email,
        password_hash=hash_password(data.password),
        full_name=data.full_name,
        phone=data.phone or "",
        address=data.address or "",
        role=Role.SPONSOR,
        sponsor_type=data.sponsor_type,
        organisation_name=data.organisation_name
        if data.sponsor_type == SponsorType.ORGANISATION
        else None,
        organisation_kind=data.organisation_kind,
        tax_code=data.tax_code,
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        actor_id=user.id,
        action="user.register",
        entity_type="user",
        entity_id=user.id,
        summary=f"sponsor registered ({data.sponsor_type})",
        after={"email": user.email, "role": user.role.value},
    )
    return user


def update_contact(session: AsyncSession, user: User, data: ContactDetails) -> bool:
    """Change a user's own phone and postal address (blank clears them); audited with before and
    after. Returns whether anything changed (nothing changed writes nothing)."""
    before = {"phone": user.phone, "address": user.address}
    after = {"phone": data.phone or "", "address": data.address or ""}
    if after == before:
        return False
    user.phone, user.address = after["phone"], after["address"]
    audit.record(
        session,
        actor_id=user.id,
        action="user.update_contact",
        entity_type="user",
        entity_id=user.id,
        summary="contact details changed",
        before=before,
        after=after,
    )
    return True


def change_password(session: AsyncSession, user: User, data: PasswordChange) -> None:
    """A signed-in user replaces their password (a librarian's first one is the one-time password
    the office gave them): the current one must be right and the new one strong enough and typed
    the same twice. Audited, without either password."""
    errors: dict[str, str] = {}
    if not verify_password(user.password_hash, data.current_password):
        errors["current_password"] = _("This is not your current password.")
    problem = password_problem(data.new_password, user.email)
    if problem:
        errors["new_password"] = problem
    elif data.new_password == data.current_password:
        errors["new_password"] = _("Choose a password different from the current one.")
    elif data.new_password_again != data.new_password:
        errors["new_password_again"] = _("The two new passwords are not the same.")
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hash_password(data.new_password)
    audit.record(session, actor_id=user.id, action="user.change_password", entity_type="user",
                 entity_id=user.id, summary="password changed")


async def create_officer(
    session: AsyncSession, *, email: str, full_name: str, password: str, actor_id: int | None = None
) -> User:
    email = email.strip().lower()
    problem = password_problem(password, email)
    if problem:
        raise ValidationFailed({"password": problem})
    if await _email_taken(session, email):
        raise ValidationFailed({"email": _("An account with this e-mail address already exists.")})
    user = User(
        email=email, password_hash=hash_password(password), full_name=full_name, role=Role.OFFICER
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="user.create_officer",
        entity_type="user",
        entity_id=user.id,
        after={"email": email, "role": "officer"},
    )
    return user


async def invite_librarian(
    session: AsyncSession, actor: User, data: LibrarianInvitation
) -> tuple[User, str]:
    """Create a librarian bound to one library; returns the user and a one-time password."""
    library = await session.get(Library, data.library_id)
    if library is None:
        raise ValidationFailed({"library_id": _("Choose an existing library.")})
    if await _email_taken(session, data.email):
        raise ValidationFailed({"email": _("An account with this e-mail address already exists.")})
    password = secrets.token_urlsafe(12)
    user = User(
        email=data.email,
        password_hash=hash_password(password),
        full_name=data.full_name,
        phone=data.phone or "",
        role=Role.LIBRARIAN,
        library_id=library.id,
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="user.invite_librarian",
        entity_type="user",
        entity_id=user.id,
        summary=f"librarian of library {library.id}",
        after={"email": user.email, "library_id": library.id},
    )
    return user, password


ACCOUNT_FACTOR = 10  # failures from all addresses together that lock an account: this × max_failures


async def authenticate(
    session: AsyncSession,
    throttle: Store,
    *,
    email: str,
    password: str,
    client: str,
    max_failures: int,
    lockout_seconds: int,
) -> User:
    """The active user with these credentials; refuses after repeated failures for an e-mail from
    one client address (keyed by both, so a few failures from elsewhere cannot lock the owner out),
    and after ACCOUNT_FACTOR times as many from all addresses together (so guessing from many
    addresses stops too)."""
    address = email.strip().lower()
    key, account_key = f"login:{address}|{client}", f"login:{address}"
    failures = int((await throttle.get(key)) or 0)
    account_failures = int((await throttle.get(account_key)) or 0)
    if failures >= max_failures or account_failures >= max_failures * ACCOUNT_FACTOR:
        raise TooManyAttempts(
            _(
                "Too many failed sign-in attempts. Try again in %(n)s minutes.",
                n=max(1, lockout_seconds // 60),
            )
        )
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not verify_password(user.password_hash, password) or not user.is_active:
        await throttle.set(key, str(failures + 1), expires_in=lockout_seconds)
        await throttle.set(account_key, str(account_failures + 1), expires_in=lockout_seconds)
        raise DomainError(_("The e-mail address or password is not right."))
    await throttle.delete(key)
    await throttle.delete(account_key)
    return user
