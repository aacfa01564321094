"""The guards hold: for each role and each kind of route, who may enter and who may not."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from tests.support import make_library, make_user, post_form, sign_in

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
