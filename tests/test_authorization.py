"""The guards hold: for each role and each kind of route, who may enter and who may not."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from tests.support import PASSWORD, make_library, make_user, post_form, sign_in

# (method, path, form) for each kind of route
OFFICER_PAGES = [("GET", "/officer/"), ("GET", "/officer/communes"), ("GET", "/officer/libraries"),
                 ("GET", "/officer/communes/3808")]
OFFICER_ACTIONS = [("POST", "/officer/communes/3808"), ("POST", "/officer/libraries"),
                   ("POST", "/officer/librarians")]
SIGNED_IN_PAGES = [("GET", "/account")]
PUBLIC_PAGES = [("GET", "/"), ("GET", "/login"), ("GET", "/register"), ("GET", "/healthz"),
                ("GET", "/api/v1/provinces"), ("GET", "/api/v1/communes")]


async def _as(client, db, role: Role | None):  # type: ignore[no-untyped-def]
    if role is None:
        return
    library = await make_library(db) if role == Role.LIBRARIAN else None
    await make_user(db, role, email=f"{role.value}@example.vn",
                    library_id=library.id if library else None)
    await db.commit()
    await sign_in(client, f"{role.value}@example.vn")


async def _request(client, method: str, path: str):  # type: ignore[no-untyped-def]
    if method == "GET":
        return await client.get(path)
    return await post_form(client, path, {})


ROLES = [None, Role.SPONSOR, Role.LIBRARIAN, Role.OFFICER]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
async def test_officer_routes(client, db, role) -> None:
    await _as(client, db, role)
    for method, path in OFFICER_PAGES + OFFICER_ACTIONS:
        response = await _request(client, method, path)
        if role is None:
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
        elif role != Role.OFFICER:
            assert response.status_code == 403, path
            assert "Bạn không có quyền làm việc này." in response.text
        else:
            # An officer gets in: pages render; a form is saved or re-rendered with its messages.
            assert response.status_code in (200, 303, 422), (path, response.status_code)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
async def test_signed_in_routes(client, db, role) -> None:
    await _as(client, db, role)
    for method, path in SIGNED_IN_PAGES:
        response = await _request(client, method, path)
        assert response.status_code == (303 if role is None else 200), path


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
async def test_public_routes(client, db, role) -> None:
    await _as(client, db, role)
    for method, path in PUBLIC_PAGES:
        assert (await _request(client, method, path)).status_code == 200, path


# --- every route, as a stranger ------------------------------------------------------------------

# Routes anyone may use (path as the router writes it, method). Every other route must send a
# signed-out visitor to sign in (401 for the API): a new route without a guard fails here.
PUBLIC_ROUTES = {
    ("/", "GET"), ("/healthz", "GET"), ("/lang/{code:str}", "GET"), ("/login", "GET"), ("/login", "POST"),
    ("/logout", "POST"), ("/register", "GET"), ("/register", "POST"), ("/needs", "GET"),
    ("/password/forgot", "GET"), ("/password/forgot", "POST"),  # a forgotten password: for the signed out
    ("/password/reset/{token:str}", "GET"), ("/password/reset/{token:str}", "POST"),  # the link is the key
    ("/needs/{need_id:int}", "GET"), ("/communes/{code:int}", "GET"), ("/ledger", "GET"),
    ("/honor-rolls", "GET"), ("/honor-rolls/{roll_id:int}", "GET"), ("/honor-rolls/{roll_id:int}/export.csv", "GET"),
    ("/honor-rolls/{roll_id:int}/export.xlsx", "GET"), ("/honor-rolls/{roll_id:int}/snapshot.json", "GET"),
    ("/certificates/{code:str}", "GET"), ("/verify/{code:str}", "GET"), ("/api/v1/provinces", "GET"),
    ("/api/v1/communes", "GET"), ("/api/v1/item-kinds", "GET"), ("/api/v1/needs", "GET"),
    ("/api/v1/needs/{need_id:int}", "GET"), ("/api/v1/ledger", "GET"), ("/api/v1/honor-rolls", "GET"),
    ("/api/v1/webhooks/stripe", "POST"),  # anyone may call it; only a verified Stripe signature counts
    ("/schema", "GET"), ("/schema/openapi.json", "GET"), ("/schema/{path:str}", "GET"),
    ("/static/{file_path:path}", "GET"), ("/static/{file_path:path}", "HEAD"),
}
SAMPLE = {"int": "1", "str": "GLGAAAAAAAA", "path": "css/site.css"}


def _routes(app):  # type: ignore[no-untyped-def]
    import re

    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS"}):
                url = re.sub(r"\{\w+:(\w+)\}", lambda m: SAMPLE[m.group(1)], route.path)
                yield route.path, method, url


async def test_every_route_is_public_by_name_or_refuses_strangers(app, client) -> None:
    from tests.support import csrf_token

    routes = list(_routes(app))
    assert len(routes) > 100 and {(p, m) for p, m, _u in routes} >= PUBLIC_ROUTES
    token = await csrf_token(client)
    for path, method, url in routes:
        if method in ("GET", "HEAD"):
            response = await client.request(method, url)
        else:
            # Without the CSRF token every change is refused, whoever asks (the webhook excepted).
            forged = await client.request(method, url, data={})
            if path != "/api/v1/webhooks/stripe":
                assert forged.status_code == 403, (method, path, forged.status_code)
            response = await client.request(method, url, data={"_csrf_token": token},
                                            headers={"x-csrftoken": token})
        # Nothing breaks (the webhook says card payments are off here: 503).
        assert response.status_code < 500 or path == "/api/v1/webhooks/stripe", (method, path, response.status_code)
        if (path, method) in PUBLIC_ROUTES:
            continue
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)


# Which role each part of the site is for: whoever else is signed in gets 403 on every route there.
ONLY = {
    Role.OFFICER: ("/officer", "/api/v1/recognition/", "/api/v1/needs/approve", "/api/v1/needs/{need_id:int}/{"),
    Role.LIBRARIAN: ("/library/deliveries", "/library/pledges"),
    Role.SPONSOR: ("/give", "/account/pledges"),
}


@pytest.mark.parametrize("role", [Role.SPONSOR, Role.LIBRARIAN, Role.OFFICER], ids=lambda r: r.value)
async def test_each_part_of_the_site_refuses_the_other_roles(app, client, db, role) -> None:
    from tests.support import csrf_token

    await _as(client, db, role)
    token = await csrf_token(client)
    checked = 0
    for path, method, url in _routes(app):
        owner = next((r for r, prefixes in ONLY.items() if path.startswith(prefixes)), None)
        if owner is None or owner == role:
            continue
        response = await client.request(method, url, data={"_csrf_token": token}, headers={"x-csrftoken": token})
        assert response.status_code == 403, (role, method, path, response.status_code)
        checked += 1
    assert checked >= 5


# --- what every response says about itself: framing, sniffing, referrer, scripts -------------------

SECURITY_HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
                    "referrer-policy": "same-origin"}


def _policy(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The Content-Security-Policy header as {directive: sources}."""
    directives = [d.split() for d in response.headers["content-security-policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


@pytest.mark.parametrize("role", [None, Role.OFFICER], ids=["anonymous", "officer"])
async def test_every_response_refuses_framing_sniffing_and_foreign_scripts(client, db, role) -> None:
    """A page in another site's frame (clickjacking: the officer's "Approve", the sponsor's "Cancel
    this pledge"), a file read as another type than it says, and scripts from elsewhere: refused on
    pages, fragments, JSON, errors, files and static files alike."""
    await _as(client, db, role)
    paths = ["/", "/needs", "/ledger?format=csv", "/api/v1/needs", "/nonexistent", "/static/css/site.css",
             "/login?next=/account", "/account", "/officer/"]
    for path in paths:
        response = await client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (path, name)
        policy = _policy(response)
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'self'"], path
        assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["script-src"], path
        assert "strict-transport-security" not in response.headers, path  # plain HTTP outside production
    fragment = await client.get("/needs", headers={"HX-Request": "true"})
    assert fragment.headers["x-frame-options"] == "DENY"


async def test_scripts_may_come_from_stripe_only_besides_the_site(clean_backend) -> None:
    """Stripe.js (card payments) is the one script from elsewhere: Stripe's hosts, or the stand-in
    the settings point to (localstripe in the tests)."""
    from litestar.testing import AsyncTestClient

    from app.asgi import create_app
    from tests.conftest import settings_for

    async with AsyncTestClient(app=create_app(settings_for(clean_backend.url))) as client:
        policy = _policy(await client.get("/"))
    assert policy["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert "https://hooks.stripe.com" in policy["frame-src"] and "https://api.stripe.com" in policy["connect-src"]
    stand_in = settings_for(clean_backend.url, stripe_js_url="http://127.0.0.1:8420/js.stripe.com/v3/")
    async with AsyncTestClient(app=create_app(stand_in)) as client:
        policy = _policy(await client.get("/"))
    assert policy["script-src"] == ["'self'", "http://127.0.0.1:8420"]
    assert "http://127.0.0.1:8420" in policy["frame-src"] and "http://127.0.0.1:8420" in policy["connect-src"]


async def test_production_pins_https(clean_backend) -> None:
    from litestar.testing import AsyncTestClient

    from app.asgi import create_app
    from app.settings import Settings
    from tests.conftest import TEST_SECRET

    settings = Settings(database_url=clean_backend.url, environment="production", secret_key=TEST_SECRET,
                        public_cache_seconds=0)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/")
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert response.headers["x-frame-options"] == "DENY"


# --- where signing in (and the language switch) may send a visitor ---------------------------------

# Browsers read a backslash as a slash and drop tabs and line breaks: each of these leaves the site.
OFF_SITE = ["//evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
            "https://evil.example/", "evil.example"]


@pytest.mark.parametrize("target", OFF_SITE)
async def test_sign_in_never_sends_the_visitor_off_site(client, db, target) -> None:
    await make_user(db, Role.SPONSOR, email="sponsor@example.vn")
    await db.commit()
    form = {"email": "sponsor@example.vn", "password": PASSWORD, "next": target}
    assert (await post_form(client, "/login", form)).headers["location"] == "/account"
    client.cookies.clear()
    htmx = await post_form(client, "/login", form, headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == "/account"  # htmx sets location.href to it as it is
    page = await client.get("/login", params={"next": target})
    assert 'name="next"' not in page.text  # not carried into the form (the language links keep it, encoded, as
    # part of this page's own address: switching language comes back here, where it is dropped again)
    switch = await client.get("/lang/en", params={"next": target})
    assert switch.status_code == 303 and switch.headers["location"] == "/"


async def test_sign_in_returns_to_the_whole_address_asked_for(client, db) -> None:
    """A signed-out visitor sent to sign in comes back to the page they asked for, its whole query
    string included (it used to be cut at the first "&")."""
    await make_user(db, Role.OFFICER, email="officer@example.vn")
    await db.commit()
    wanted = "/officer/deliveries?status=planned&page=2"
    response = await client.get(wanted)
    assert response.status_code == 303
    login = await client.get(response.headers["location"])
    assert 'name="next" value="/officer/deliveries?status=planned&amp;page=2"' in login.text
    signed = await post_form(client, "/login", {"email": "officer@example.vn", "password": PASSWORD,
                                                "next": wanted})
    assert signed.headers["location"] == wanted
