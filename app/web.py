"""Helpers shared by every controller: rendering, redirects, error pages, locale, request log."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from contextvars import ContextVar
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
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
from litestar.stores.memory import MemoryStore
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from msgspec import msgpack
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ValidationFailed
from app.i18n import LOCALE_COOKIE, _, get_locale, pick_locale, set_locale
from app.settings import Settings

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


def local_path(target: str | None) -> str | None:
    r"""`target` if it is an address on this site ("/needs?page=2"), else None. Never another site's:
    "//evil.example", nor what browsers turn into it (they read a backslash as a slash and drop tabs
    and line breaks: "/\evil.example", "/<tab>/evil.example"), nor a full URL."""
    if not target or not target.startswith("/") or "\\" in target:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target) or target[1:2] == "/":
        return None
    return target


def see_other(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """After a successful form post: 303 for plain browsers, HX-Redirect for htmx."""
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": url})
    return Redirect(path=url, status_code=303)


MAX_PAGE = 10_000


def page_number(request: Request[Any, Any, Any]) -> int:
    """The `page` a person asked for, leniently: anything not a positive whole number is the first
    page (`isascii`: "²" is a digit to `str.isdigit` but not to `int`), a number past MAX_PAGE is
    MAX_PAGE; a page past the last one is left to the caller."""
    raw = (request.query_params.get("page") or "").strip()
    page = int(raw) if raw.isascii() and raw.isdigit() else 1
    return min(max(page, 1), MAX_PAGE)


def last_page(total: int, per_page: int) -> int:
    """How many pages `total` rows fill, `per_page` a page (an empty list is one page)."""
    return max(1, -(-total // per_page))


def site_url(request: Request[Any, Any, Any]) -> str:
    """The address certificates and messages link to: the configured public one, else the one the
    request came to (its Host header: only right where no proxy stands in front)."""
    return (request.app.state.settings.public_url or str(request.base_url)).rstrip("/")


def flash(request: Request[Any, Any, Any], message: str) -> None:
    request.session.setdefault("flash", []).append(message)


def pop_flashes(request: Request[Any, Any, Any]) -> list[str]:
    """The messages left for this visitor by the previous request (shown once). An error page for
    a path no route matches has no session (the middleware never ran): nothing to show."""
    if "session" not in request.scope or "flash" not in request.session:
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


def page_address(request: Request[Any, Any, Any]) -> str:
    """The address (path and query) of the page the person is looking at: the request's own for a
    GET; for a form they sent (a POST, which has no page to come back to), the page it was sent
    from, as htmx (HX-Current-URL) or the browser (Referer) says, when it is on this site; else the
    home page. Where to come back to after signing in or switching language."""
    if request.method in ("GET", "HEAD"):
        return _with_query(request.url.path, request.url.query)
    for header in ("hx-current-url", "referer"):
        sent_from = urlsplit(request.headers.get(header) or "")
        if sent_from.netloc == request.url.netloc and local_path(sent_from.path):
            return _with_query(sent_from.path, sent_from.query)
    return "/"


def _with_query(path: str, query: str) -> str:
    return path + (f"?{query}" if query else "")


def not_authorized_handler(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    if wants_json(request):
        return _error_page(request, 401, _("Sign in first."))
    return see_other(request, f"/login?{urlencode({'next': page_address(request)})}")


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
    if exc.status_code == 413:  # a file over the server's limit (a photo straight from a camera)
        return _error_page(request, 413, _("What you sent is too large. Go back and choose a smaller file."))
    return _error_page(request, exc.status_code, str(exc.detail))


MAX_ID = 2**31 - 1  # the largest id our integer keys hold


def ids_in_range(request: Request[Any, Any, Any]) -> None:
    """Before any handler: a number in the path beyond what the database's keys hold names nothing,
    so it is a 404 (the database would refuse the number itself, as an error)."""
    if any(isinstance(v, int) and not -MAX_ID <= v <= MAX_ID for v in request.path_params.values()):
        raise NotFoundException()


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything unexpected: logged with its traceback; the visitor gets the site's error page in
    their language (JSON for the API), never the framework's raw JSON."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_page(request, 500, _("Something went wrong on our side. Please try again in a moment."))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Exception: internal_error_handler,
    DomainError: domain_error_handler,
    NotAuthorizedException: not_authorized_handler,
    PermissionDeniedException: forbidden_handler,
    NotFoundException: not_found_handler,
    HTTPException: http_error_handler,
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """What a page may load: everything from the site itself (htmx and our scripts are static files,
    no inline script), plus Stripe.js for card payments (Stripe's hosts, or the stand-in
    `STRIPE_JS_URL` points to, which then serves its API and frames too); inline styles (a few
    `style` attributes, htmx's and Stripe's own); and no page of ours inside another site's frame."""
    origin = _origin(settings.stripe_js_url)
    if origin == "https://js.stripe.com":  # Stripe's documented hosts for Stripe.js and Elements
        scripts = ["https://js.stripe.com", "https://*.js.stripe.com"]
        frames = [*scripts, "https://hooks.stripe.com"]
        connect = ["https://api.stripe.com"]
    else:
        scripts = frames = connect = [origin]
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *scripts],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", *connect],
        "frame-src": frames,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class SecurityHeaders:
    """A before-send hook: every response (pages, fragments, JSON, files, errors, static files)
    says it may not be framed by another site (clickjacking), must not be read as another type
    than it declares (a receipt photo is never a page), sends no address to other sites, and what
    scripts its page may run. In production browsers are also told to use HTTPS only. A header a
    handler set itself is left as it is."""

    def __init__(self, settings: Settings) -> None:
        headers = {
            "Content-Security-Policy": content_security_policy(settings),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }
        if settings.is_production:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers") or [])
        present = {bytes(name).lower() for name, _value in headers}
        message["headers"] = headers + [(n, v) for n, v in self.headers if n not in present]


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
        except Exception as exc:
            # Raised by a middleware inside this one (the CSRF check's 403): the app's error handler,
            # outside, answers it with the exception's status.
            status = getattr(exc, "status_code", 500)
            raise
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


def freeze_startup_heap(app: Any) -> None:
    """Once the app has started, move everything alive then (modules, the app, templates,
    SQLAlchemy's caches) out of the garbage collector's sight. Its full collections then only
    scan what requests leave behind, instead of stopping the server ~100 ms for the whole heap
    about once a second under load, which was most of the public pages' p99 latency. Not in
    tests, whose process starts many apps one after another."""
    if app.state.settings.environment == "test":
        return
    gc.collect()
    gc.freeze()


async def private_pages_not_kept(message: Message, scope: Scope) -> None:
    """What a signed-in person is sent is not kept by their browser (unless a response says how
    long it may be, such as a photo): after they sign out of a shared phone, Back shows no one
    their pages, and Back after a form shows the page as it is now, not an old copy with a form
    already sent."""
    if message["type"] == "http.response.start" and scope.get("user") is not None:
        headers = MutableScopeHeaders.from_message(message)
        if "cache-control" not in headers:
            headers["Cache-Control"] = "no-store"


def public_cache_key(request: Request[Any, Any, Any]) -> str:
    """Anonymous pages are shared per URL, language, htmx-ness and whether the client takes gzip
    (the cache stores the response as compressed for it); signed-in users never share."""
    user = request.scope.get("user")
    who = f"u{user.id}" if user is not None else "anon"
    query = sorted(request.query_params.multi_items())
    gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    return f"{request.url.path}?{query}|{get_locale()}|{is_htmx(request)}|{gzip}|{who}"


def cache_anonymous_only(scope: Scope, status_code: int) -> bool:
    """Store a response only when it is a success for an anonymous visitor."""
    settings = scope["litestar_app"].state.settings
    return settings.public_cache_seconds > 0 and scope.get("user") is None and status_code == 200


# Set by SingleFlight for a request that arrives while its page is being recomputed: the store
# may then answer with the copy that has just expired rather than make it wait.
_accept_stale: ContextVar[bool] = ContextVar("accept_stale", default=False)


class PublicPageStore(MemoryStore):
    """The public page cache's store (the app's `response_cache`).

    - Pages are stored without their `Set-Cookie` headers: a cookie set for the visitor whose
      request filled the cache (the CSRF token) must never be replayed to the next visitors;
      each response that is served from the cache gets its own cookies on the way out.
    - An expired page is kept as long again as it was fresh, but only given to requests that
      SingleFlight marks as waiting for its recomputation; everyone else sees it as missing. So
      no page served from the cache is older than twice its expiry.
    - Expired pages are dropped every `purge_every` seconds, so searches nobody repeats do not
      pile up in memory.
    """

    __slots__ = ("_fresh_until", "_next_purge", "purge_every")

    def __init__(self, purge_every: float = 60.0) -> None:
        super().__init__()
        self.purge_every = purge_every
        self._fresh_until: dict[str, float] = {}
        self._next_purge = time.monotonic() + purge_every

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        messages = msgpack.decode(value)
        for message in messages:
            if message.get("type") == "http.response.start":
                message["headers"] = [h for h in message.get("headers", []) if bytes(h[0]).lower() != b"set-cookie"]
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
        now = time.monotonic()
        if seconds is not None:
            self._fresh_until[key] = now + seconds
        await super().set(key, msgpack.encode(messages), None if seconds is None else 2 * int(seconds))
        if now >= self._next_purge:
            self._next_purge = now + self.purge_every
            await self.delete_expired()
            for gone in [k for k in self._fresh_until if k not in self._store]:
                del self._fresh_until[gone]

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        value = await super().get(key, renew_for)
        if value is None:
            return None
        if _accept_stale.get() or time.monotonic() < self._fresh_until.get(key, float("inf")):
            return value
        return None


class SingleFlight(ASGIMiddleware):
    """One computation per cache miss: while an anonymous request computes a page that the public
    cache will keep, other anonymous requests for the same page do not compute it too: they get
    the copy that has just expired if there is one (see PublicPageStore), or else wait for the
    first and are then served from the cache.

    Put it on route handlers that have `cache=True`. A waiter whose leader did not store anything
    (an error, a page not cached) computes its own page, and none waits longer than `max_wait`
    seconds. Signed-in users are never involved (their pages are not shared).
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
        store = config.get_store_from_app(app)
        flights: dict[str, asyncio.Event] = app.state.setdefault("single_flights", {})
        flight = flights.get(key)
        if flight is None:
            if await store.exists(key):
                await next_app(scope, receive, send)  # a hit: nothing to wait for
                return
            flight = flights.get(key)  # looked at again: another request may have started meanwhile
        if flight is None:  # this request computes the page
            flights[key] = flight = asyncio.Event()
            try:
                await next_app(scope, receive, send)
            finally:
                if flights.get(key) is flight:
                    del flights[key]
                flight.set()
            return
        token = _accept_stale.set(True)
        try:
            stale = await store.exists(key)
        finally:
            _accept_stale.reset(token)
        if stale:
            token = _accept_stale.set(True)  # served the expiring copy, at once
            try:
                await next_app(scope, receive, send)
            finally:
                _accept_stale.reset(token)
            return
        try:
            await asyncio.wait_for(flight.wait(), self.max_wait)
        except TimeoutError:
            pass
        await next_app(scope, receive, send)
