"""Helpers for tests: PostgreSQL admin, CSRF-aware form posts, signing in, factories."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.auth.passwords import hash_password
from app.geography.models import Library, LibraryKind
from app.text import fold

PG_ADMIN_DSN = os.environ.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "Correct-horse-42"
SON_LA = 14
MUONG_LA = 3808  # Xã Mường La, Sơn La


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_pg_admin(sql: str) -> None:
    """Run an admin statement from sync code, even where an event loop runs (Playwright's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, pg_admin(sql)).result()


def postgres_available() -> str | None:
    """None when the server answers; otherwise why not."""
    try:
        run_pg_admin("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return f"{type(exc).__name__}: {exc}"
    return None


def flat(text: str) -> str:
    """Text with its whitespace (non-breaking spaces too) folded to single spaces, to search in."""
    return " ".join(text.replace("\xa0", " ").split())


async def csrf_token(client: AsyncTestClient[Any]) -> str:
    if "csrftoken" not in client.cookies:
        await client.get("/healthz")
        await client.get("/login")
    return client.cookies["csrftoken"]


async def post_form(client: AsyncTestClient[Any], url: str, data: dict[str, Any], **kw: Any) -> Any:
    token = await csrf_token(client)
    return await client.post(url, data={**data, "_csrf_token": token}, **kw)


async def send_json(client: AsyncTestClient[Any], method: str, url: str, body: Any) -> Any:
    token = await csrf_token(client)
    return await client.request(method, url, json=body, headers={"x-csrftoken": token})


async def sign_in(client: AsyncTestClient[Any], email: str, password: str = PASSWORD) -> Any:
    response = await post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code == 303, response.text
    return response


async def make_library(
    db: AsyncSession, name: str = "Thư viện Mường La", commune_code: int = MUONG_LA
) -> Library:
    library = Library(
        commune_code=commune_code, name=name, name_folded=fold(name),
        kind=LibraryKind.COMMUNE_PUBLIC_LIBRARY,
    )
    db.add(library)
    await db.flush()
    return library


async def make_user(
    db: AsyncSession, role: Role, email: str | None = None, **extra: Any
) -> User:
    user = User(
        email=email or f"{role.value}@example.vn",
        full_name=extra.pop("full_name", f"Test {role.value}"),
        role=role,
        password_hash=hash_password(PASSWORD),
        **extra,
    )
    db.add(user)
    await db.flush()
    return user


async def make_need(db: AsyncSession, library: Library, **fields: Any) -> Any:
    """A need in any state, written directly (services are tested through HTTP)."""
    from app.geography.models import Commune
    from needs.models import Need, NeedStatus

    commune = await db.get(Commune, library.commune_code)
    fields.setdefault("item_kind_key", "book/children")
    fields.setdefault("quantity", 100)
    fields.setdefault("unit_value", 35_000)
    fields.setdefault("status", NeedStatus.OPEN)
    need = Need(library_id=library.id, commune_code=commune.code, province_code=commune.province_code,
                titles=[], **fields)
    db.add(need)
    await db.flush()
    return need
