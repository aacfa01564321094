"""Geography over HTTP: the public JSON API, and the officer's pages for communes and libraries."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import services as auth_services
from app.auth.guards import acting_user, current_user, officer_only
from app.auth.models import Role, User
from app.auth.schemas import LibrarianInvitation
from app.errors import NotFound, ValidationFailed
from app.forms import form_data, validate
from app.geography import services
from app.geography.models import LIBRARY_KIND_LABELS, Commune, Library, LibraryKind, Province
from app.geography.schemas import CommuneOut, CommuneUpdate, LibraryCreate, Page, ProvinceOut
from app.i18n import _
from app.web import DbSession, flash, last_page, render, see_other

Limit = Annotated[int, QueryParameter(ge=1, le=500)]
Offset = Annotated[int, QueryParameter(ge=0)]


class GeographyApi(Controller):
    path = "/api/v1"
    tags = ["geography"]

    @get("/provinces", name="api_provinces")
    async def provinces(self, db_session: DbSession) -> Page[ProvinceOut]:
        rows = list(await db_session.scalars(select(Province).order_by(Province.code)))
        return Page[ProvinceOut](items=[ProvinceOut.model_validate(r) for r in rows], total=len(rows))

    @get("/communes", name="api_communes")
    async def communes(
        self,
        db_session: DbSession,
        province_code: FromQuery[int | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[CommuneOut]:
        rows, total = await services.search_communes(
            db_session, province_code=province_code, q=q, limit=limit, offset=offset
        )
        return Page[CommuneOut](items=[CommuneOut.model_validate(r) for r in rows], total=total)


def _library_kinds() -> list[tuple[str, str]]:
    return [(k.value, _(LIBRARY_KIND_LABELS[k])) for k in LibraryKind]


class OfficerGeographyController(Controller):
    path = "/officer"
    guards = [officer_only]

    @get("/", name="officer_home")
    async def dashboard(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        settings = request.app.state.settings
        libraries = await db_session.scalar(
            select(func.count())
            .select_from(Library)
            .join(Commune)
            .where(Commune.province_code == settings.province_code)
        )
        librarians = await db_session.scalar(
            select(func.count()).select_from(User).join(Library, Library.id == User.library_id).join(Commune)
            .where(User.role == Role.LIBRARIAN, User.is_active.is_(True),
                   Commune.province_code == settings.province_code)
        )
        return render(request, "officer/home.html", libraries=libraries or 0, librarians=librarians or 0)

    @get("/communes", name="officer_communes")
    async def communes(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        province_code: FromQuery[int | None] = None,
        page: Annotated[int, QueryParameter(ge=1)] = 1,
    ) -> Template:
        province = province_code or request.app.state.settings.province_code
        per_page = 50
        rows, total = await services.search_communes(
            db_session, province_code=province, q=q, limit=per_page, offset=(page - 1) * per_page
        )
        provinces = list(await db_session.scalars(select(Province).order_by(Province.name_folded)))
        return render(
            request,
            "officer/communes.html",
            fragment="officer/_commune_rows.html",
            communes=rows,
            total=total,
            q=q or "",
            province_code=province,
            provinces=provinces,
            page=page,
            pages=last_page(total, per_page),
        )

    @get("/communes/{code:int}", name="officer_commune")
    async def commune_form(
        self, request: Request[Any, Any, Any], db_session: DbSession, code: FromPath[int]
    ) -> Template:
        commune = await db_session.get(Commune, code)
        if commune is None:
            raise NotFound(_("No such commune."))
        return render(request, "officer/commune_edit.html", commune=commune, values=commune, errors={})

    @post("/communes/{code:int}", name="officer_commune_post")
    async def commune_update(
        self, request: Request[Any, Any, Any], db_session: DbSession, code: FromPath[int]
    ) -> Response[Any]:
        commune = await db_session.get(Commune, code)
        if commune is None:
            raise NotFound(_("No such commune."))
        values = form_data(await request.form())
        values["is_border"] = values.get("is_border") == "on"
        values["is_remote"] = values.get("is_remote") == "on"
        try:
            data = validate(CommuneUpdate, values)
        except ValidationFailed as exc:
            return render(
                request,
                "officer/commune_edit.html",
                status_code=422,
                commune=commune,
                values=values,
                errors=exc.errors,
            )
        await services.update_commune(db_session, current_user(request), code, data)  # type: ignore[arg-type]
        flash(request, _("Commune %(name)s saved.", name=commune.name))
        return see_other(request, "/officer")

    @get("/libraries", name="officer_libraries")
    async def libraries(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._libraries_page(request, db_session, {}, {})

    async def _libraries_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        values: dict[str, Any],
        errors: dict[str, str],
        *,
        status_code: int = 200,
        invited: tuple[User, str] | None = None,
    ) -> Template:
        province = request.app.state.settings.province_code
        rows = (
            await db.execute(
                select(Library, Commune.name)
                .join(Commune)
                .where(Commune.province_code == province)
                .order_by(Commune.name_folded, Library.name_folded)
            )
        ).all()
        communes = list(
            await db.scalars(select(Commune).where(Commune.province_code == province).order_by(Commune.name_folded))
        )
        librarians: dict[int, list[User]] = {}
        for user in await db.scalars(
            select(User).join(Library, Library.id == User.library_id).join(Commune)
            .where(User.role == Role.LIBRARIAN, Commune.province_code == province)
            .order_by(User.is_active.desc(), User.full_name, User.id)
        ):
            librarians.setdefault(user.library_id, []).append(user)  # type: ignore[arg-type]
        return render(
            request,
            "officer/libraries.html",
            status_code=status_code,
            libraries=rows,
            communes=communes,
            librarians=librarians,
            kinds=_library_kinds(),
            values=values,
            errors=errors,
            invited=invited,
        )

    @post("/libraries", name="officer_library_create")
    async def library_create(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        try:
            library = await services.create_library(db_session, current_user(request), validate(LibraryCreate, values))
        except ValidationFailed as exc:
            return await self._libraries_page(request, db_session, values, exc.errors, status_code=422)
        flash(request, _("Library %(name)s added.", name=library.name))
        return see_other(request, "/officer/libraries")

    @post("/librarians", name="officer_librarian_invite")
    async def librarian_invite(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        try:
            data = validate(LibrarianInvitation, values)
            invited = await auth_services.invite_librarian(db_session, current_user(request), data)  # type: ignore[arg-type]
        except ValidationFailed as exc:
            return await self._libraries_page(
                request,
                db_session,
                {"invite": values},
                {f"invite.{k}": v for k, v in exc.errors.items()},
                status_code=422,
            )
        return await self._libraries_page(request, db_session, {}, {}, invited=invited)

    @post("/librarians/{user_id:int}/{action:str}", name="officer_librarian_access")
    async def librarian_access(
        self, request: Request[Any, Any, Any], db_session: DbSession, user_id: FromPath[int], action: FromPath[str]
    ) -> Response[Any]:
        """Withdraw (``deactivate``) or restore (``reactivate``) a librarian's access, with a reason."""
        if action not in ("deactivate", "reactivate"):
            raise NotFound(_("This page does not exist."))
        values = form_data(await request.form())
        try:
            user = await auth_services.set_librarian_access(
                db_session, acting_user(request), user_id, request.app.state.settings.province_code,
                active=action == "reactivate", reason=str(values.get("reason") or ""))
        except ValidationFailed as exc:
            return await self._libraries_page(request, db_session, {f"access-{user_id}": values.get("reason") or ""},
                                              {f"access-{user_id}": exc.errors["reason"]}, status_code=422)
        flash(request, _("Access restored for %(name)s.", name=user.full_name) if user.is_active
              else _("Access withdrawn for %(name)s.", name=user.full_name))
        return see_other(request, "/officer/libraries")
