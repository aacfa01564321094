"""Who is asking: the signed-in user in `request.user` (or None), and role guards."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.auth.models import Role, User
from app.web import is_static

SESSION_USER_KEY = "uid"
SESSION_STAMP_KEY = "stamp"


def session_stamp(user: User) -> str:
    """What ties a session to the password it was opened with: a digest of the stored hash (a
    new password is hashed with a new salt, so changing it ends every other session at once).
    The session cookie is encrypted; the digest of a salted hash tells nothing of the password."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def start_session(request: Request[Any, Any, Any], user: User) -> None:
    """Sign `user` in on this device (a fresh session: nothing of the one before is kept)."""
    request.set_session({SESSION_USER_KEY: user.id, SESSION_STAMP_KEY: session_stamp(user)})


class UserMiddleware(ASGIMiddleware):
    """Loads the signed-in user with the request's own database session (one per request)."""

    scopes = (ScopeType.HTTP,)
    should_bypass_for_scope = staticmethod(is_static)

    def __init__(self, db_config: Any) -> None:
        self.db_config = db_config

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        user: User | None = None
        session_data = scope.get("session")
        uid = session_data.get(SESSION_USER_KEY) if isinstance(session_data, dict) else None
        if isinstance(uid, int):
            db = self.db_config.provide_session(scope["litestar_app"].state, scope)
            user = await db.get(User, uid)
            # Access withdrawn, or the password changed since this session began (on another
            # device, or by whoever took it over): the session no longer signs anyone in.
            if user is not None and (not user.is_active
                                     or session_data.get(SESSION_STAMP_KEY) != session_stamp(user)):
                user = None
        scope["user"] = user
        await next_app(scope, receive, send)


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return connection.scope.get("user")  # type: ignore[return-value]


def acting_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    """The signed-in user of a guarded route (a route without a guard gets a 401 here)."""
    user = current_user(connection)
    if user is None:
        raise NotAuthorizedException()
    return user


def requires(*roles: Role):  # type: ignore[no-untyped-def]
    """A guard: the request must come from a signed-in user with one of these roles."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = current_user(connection)
        if user is None:
            raise NotAuthorizedException()
        if roles and user.role not in roles:
            raise PermissionDeniedException()

    guard.__name__ = f"requires_{'_'.join(r.value for r in roles) or 'user'}"
    return guard


signed_in = requires()
officer_only = requires(Role.OFFICER)
librarian_only = requires(Role.LIBRARIAN)
sponsor_only = requires(Role.SPONSOR)
