"""The home page with the province's figures, the language switch and the health check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie, State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.geography.models import Commune, Library
from app.i18n import LOCALE_COOKIE, LOCALES
from app.settings import Settings
from app.web import DbSession, local_path, render

# A figure provider adds named counts for the home page; each domain registers its own in create_app.
FigureProvider = Callable[[AsyncSession, int], Awaitable[dict[str, int]]]


async def base_figures(db: AsyncSession, province_code: int) -> dict[str, int]:
    communes = select(func.count()).select_from(Commune).where(Commune.province_code == province_code)
    libraries = (
        select(func.count())
        .select_from(Library)
        .join(Commune, Library.commune_code == Commune.code)
        .where(Commune.province_code == province_code)
    )
    sponsors = select(func.count()).select_from(User).where(User.role == Role.SPONSOR)
    return {
        "communes": await db.scalar(communes) or 0,
        "libraries": await db.scalar(libraries) or 0,
        "sponsors": await db.scalar(sponsors) or 0,
    }


class HomeController(Controller):
    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Template:
        settings: Settings = state.settings
        figures: dict[str, int] = {}
        for provider in state.figure_providers:
            figures.update(await provider(db_session, settings.province_code))
        return render(request, "home.html", figures=figures, province_name=settings.province_name)

    @get("/lang/{code:str}", name="set_language")
    async def set_language(self, code: FromPath[str], next: FromQuery[str] = "/") -> Redirect:
        target = local_path(next) or "/"
        cookies = []
        if code in LOCALES:
            cookies.append(Cookie(key=LOCALE_COOKIE, value=code, max_age=365 * 24 * 3600, samesite="lax"))
        return Redirect(path=target, status_code=303, cookies=cookies)

    @get("/healthz", name="healthz", exclude_from_csrf=True)
    async def healthz(self, state: State) -> Response[dict[str, str]]:
        engine = state[state.db_config.engine_app_state_key]
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            return Response({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
        return Response({"status": "ok", "database": "ok"})
