"""Helpers shared by every controller: rendering, redirects, error pages, locale, request log."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ValidationFailed
from app.i18n import LOCALE_COOKIE, _, get_locale, pick_locale, set_locale

log = logging.getLogger("app.request")

# The request's database session (one per request, committed by the plugin on success).
DbSession = NamedDependency[AsyncSession]


def is_static(scope: Scope) -> bool:
    """Requests for our static files skip the middlewares that only pages need."""
    return scope["path"].startswith("/static/")


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """The whole page, or (for an htmx request, when the page has one) just its fragment."""
    name = fragment if fragment and is_htmx(request) else template
    return Template(template_name=name, context=context, status_code=status_code)


def see_other(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """After a successful form post: 303 for plain browsers, HX-Redirect for htmx."""
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": url})
    return Redirect(path=url, status_code=303)


def flash(request: Request[Any, Any, Any], message: str) -> None:
    request.session.setdefault("flash", []).append(message)


def pop_flashes(request: Request[Any, Any, Any]) -> list[str]:
    """The messages left for this visitor by the previous request (shown once)."""
    if "flash" not in request.session:
        return []
    return list(request.session.pop("flash"))


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    if wants_json(request):
        return Response({"status_code": status, "detail": message}, status_code=status)
    return Template(
        template_name="error.html",
        context={"status_code": status, "message": message},
        status_code=status,
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, ValidationFailed) and wants_json(request):
        return Response(
            {"status_code": 422, "detail": exc.message, "errors": exc.errors}, status_code=422
        )
    return _error_page(request, exc.status_code, exc.message)


def not_authorized_handler(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    if wants_json(request):
        return _error_page(request, 401, _("Sign in first."))
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other(request, f"/login?next={target}")


def forbidden_handler(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    return _error_page(request, 403, _("You are not allowed to do this."))


def not_found_handler(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    return _error_page(request, 404, _("This page does not exist."))


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return _error_page(request, 400, _("The request is not valid."))
    if exc.status_code == 403 and "csrf" in str(exc.detail).lower():
        return _error_page(
            request, 403, _("The form has expired. Go back, reload the page and try again.")
        )
    return _error_page(request, exc.status_code, str(exc.detail))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    NotAuthorizedException: not_authorized_handler,
    PermissionDeniedException: forbidden_handler,
    NotFoundException: not_found_handler,
    HTTPException: http_error_handler,
}


class LocaleMiddleware(ASGIMiddleware):
    """Sets the request's language from the remembered choice (cookie), Vietnamese otherwise."""

    scopes = (ScopeType.HTTP,)
    should_bypass_for_scope = staticmethod(is_static)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        cookie = None
        for name, value in scope["headers"]:
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    key, _sep, val = part.strip().partition("=")
                    if key == LOCALE_COOKIE:
                        cookie = val
        set_locale(pick_locale(cookie))
        await next_app(scope, receive, send)


class RequestLogMiddleware(ASGIMiddleware):
    """One structured (JSON) log line per request: method, path, status, duration."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_wrapper)
        finally:
            log.info(
                json.dumps(
                    {
                        "event": "request",
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    }
                )
            )


def public_cache_key(request: Request[Any, Any, Any]) -> str:
    """Anonymous pages are shared per URL, language and htmx-ness; signed-in users never share."""
    user = request.scope.get("user")
    who = f"u{user.id}" if user is not None else "anon"
    query = sorted(request.query_params.multi_items())
    return f"{request.url.path}?{query}|{get_locale()}|{is_htmx(request)}|{who}"


def cache_anonymous_only(scope: Scope, status_code: int) -> bool:
    """Store a response only when it is a success for an anonymous visitor."""
    settings = scope["litestar_app"].state.settings
    return settings.public_cache_seconds > 0 and scope.get("user") is None and status_code == 200


class SingleFlight(ASGIMiddleware):
    """One computation per cache miss: while an anonymous request computes a page that the public
    cache will keep, other anonymous requests for the same page wait for it and are then served
    from the cache, instead of all computing it at once when an entry is missing or has expired.

    Put it on route handlers that have `cache=True`. It only ever delays a request: a waiter whose
    leader did not store anything (an error, a page not cached) computes its own page, and none
    waits longer than `max_wait` seconds. Signed-in users never wait (their pages are not shared).
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, max_wait: float = 5.0) -> None:
        self.max_wait = max_wait

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = scope["litestar_app"]
        if (
            scope["method"] != "GET"
            or scope.get("user") is not None
            or app.state.settings.public_cache_seconds <= 0
        ):
            await next_app(scope, receive, send)
            return
        config = app.response_cache_config
        key = config.key_builder(Request(scope))
        flights: dict[str, asyncio.Event] = app.state.setdefault("single_flights", {})
        flight = flights.get(key)
        if flight is not None:
            try:
                await asyncio.wait_for(flight.wait(), self.max_wait)
            except TimeoutError:
                pass
            await next_app(scope, receive, send)
            return
        if await config.get_store_from_app(app).exists(key):
            await next_app(scope, receive, send)  # a hit: nothing to wait for
            return
        flights[key] = flight = asyncio.Event()
        try:
            await next_app(scope, receive, send)
        finally:
            del flights[key]
            flight.set()
