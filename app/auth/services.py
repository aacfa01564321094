"""Account services: every change checks its rules and writes an audit row. Never commits."""

from __future__ import annotations

import secrets

from litestar.stores.base import StorageObject
from litestar.stores.memory import MemoryStore
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.models import Role, SponsorType, User
from app.auth.passwords import hash_in_thread, password_problem, verify_in_thread
from app.auth.schemas import ContactDetails, LibrarianInvitation, PasswordChange, SponsorRegistration
from app.errors import DomainError, Forbidden, IllegalTransition, NotFound, ValidationFailed
from app.geography.models import Commune, Library
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
        password_hash=await hash_in_thread(data.password),
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


async def change_password(
    session: AsyncSession,
    throttle: LoginThrottle,
    user: User,
    data: PasswordChange,
    *,
    max_failures: int,
    lockout_seconds: int,
) -> None:
    """A signed-in user replaces their password (a librarian's first one is the one-time password
    the office gave them): the current one must be right and the new one strong enough and typed
    the same twice. Audited, without either password. The new hash ends every other session of the
    user (`app.auth.guards.session_stamp`).

    Guesses at the current password are limited like sign-ins (whoever holds a session left open
    on a shared phone must not be able to try passwords without end): each attempt is counted
    before the password is checked, the count is cleared when it is right, and after
    `max_failures` the form is refused for `lockout_seconds`."""
    key = f"password-change:{user.id}"
    if not await throttle.take({key: max_failures}, lockout_seconds):
        raise TooManyAttempts(_("Too many wrong passwords. Try again in %(n)s minutes.",
                                n=max(1, lockout_seconds // 60)))
    errors: dict[str, str] = {}
    if await verify_in_thread(user.password_hash, data.current_password):
        await throttle.delete(key)
    else:
        errors["current_password"] = _("This is not your current password.")
    if data.new_password == data.current_password and not password_problem(data.new_password, user.email):
        errors["new_password"] = _("Choose a password different from the current one.")
    await set_password(session, user, data.new_password, data.new_password_again, errors=errors,
                       action="user.change_password", summary="password changed")


async def set_password(session: AsyncSession, user: User, new_password: str, new_password_again: str, *,
                       errors: dict[str, str], action: str, summary: str) -> None:
    """Give `user` a new password, strong enough and typed the same twice, unless `errors` (the
    caller's own checks) or these checks find a problem: then nothing changes. Audited, without
    the password."""
    problem = password_problem(new_password, user.email)
    if problem:
        errors["new_password"] = problem
    elif "new_password" not in errors and new_password_again != new_password:
        errors["new_password_again"] = _("The two new passwords are not the same.")
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = await hash_in_thread(new_password)
    audit.record(session, actor_id=user.id, action=action, entity_type="user", entity_id=user.id, summary=summary)


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
        email=email, password_hash=await hash_in_thread(password), full_name=full_name, role=Role.OFFICER
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
        password_hash=await hash_in_thread(password),
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


async def set_librarian_access(
    session: AsyncSession, actor: User, user_id: int, province_code: int, *, active: bool, reason: str
) -> User:
    """An officer withdraws (or restores) a librarian's access to the platform, saying why: a
    librarian who left the library can no longer sign in, confirm deliveries or post needs; their
    past work stays theirs in the audit trail. Only librarians of the officer's province."""
    if actor.role != Role.OFFICER:
        raise Forbidden(_("Only province officers can do this."))
    user = await session.get(User, user_id, with_for_update=True)
    library = await session.get(Library, user.library_id) if user is not None and user.library_id else None
    commune = await session.get(Commune, library.commune_code) if library is not None else None
    if user is None or user.role != Role.LIBRARIAN or commune is None or commune.province_code != province_code:
        raise NotFound(_("No such librarian in this province."))
    text = reason.strip()
    if not text:
        raise ValidationFailed({"reason": _("Say why.")})
    if len(text) > 500:
        raise ValidationFailed({"reason": _("Must be at most %(n)s characters.", n=500)})
    if user.is_active == active:
        raise IllegalTransition(_("This account already has access.") if active
                                else _("This account's access is already withdrawn."))
    user.is_active = active
    audit.record(
        session,
        actor_id=actor.id,
        action="user.reactivate" if active else "user.deactivate",
        entity_type="user",
        entity_id=user.id,
        summary=text,
        before={"active": not active},
        after={"active": active, "library_id": user.library_id},
    )
    return user


ACCOUNT_FACTOR = 10  # failures from all addresses together that lock an account: this × max_failures


class LoginThrottle(MemoryStore):
    """The sign-in attempt counters: a memory store (one per application) that counts an attempt
    and checks the limits in one step, so attempts made at the same moment each see the others.
    (Reading a count, checking the password, then writing the count plus one let every request of
    a burst read the same count: a burst of any size counted as one failure.)"""

    async def take(self, limits: dict[str, int], expires_in: int) -> bool:
        """Count one more attempt against every key, unless one of them has reached its limit:
        then count nothing and answer False."""
        async with self._lock:  # MemoryStore's own lock, held for the whole read-check-write
            counts = {}
            for key in limits:
                stored = self._store.get(key)
                counts[key] = 0 if stored is None or stored.expired else int(stored.data)
            if any(counts[key] >= limit for key, limit in limits.items()):
                return False
            for key, count in counts.items():
                self._store[key] = StorageObject.new(data=str(count + 1).encode(), expires_in=expires_in)
            return True


async def authenticate(
    session: AsyncSession,
    throttle: LoginThrottle,
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
    addresses stops too). Each attempt is counted before its password is checked (and the count
    cleared when it is right), so guesses sent all at once are limited like guesses one by one."""
    address = email.strip().lower()
    key, account_key = f"login:{address}|{client}", f"login:{address}"
    if not await throttle.take({key: max_failures, account_key: max_failures * ACCOUNT_FACTOR}, lockout_seconds):
        raise TooManyAttempts(
            _(
                "Too many failed sign-in attempts. Try again in %(n)s minutes.",
                n=max(1, lockout_seconds // 60),
            )
        )
    user = await session.scalar(select(User).where(User.email == address))
    right = await verify_in_thread(user.password_hash if user else None, password)
    if user is None or not right or not user.is_active:
        raise DomainError(_("The e-mail address or password is not right."))
    await throttle.delete(key)
    await throttle.delete(account_key)
    return user
