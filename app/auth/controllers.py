"""Sign-up for sponsors, sign-in and sign-out, and the account page."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import reset, services
from app.auth.guards import acting_user, signed_in, start_session
from app.auth.models import (
    ORGANISATION_KIND_LABELS,
    ROLE_LABELS,
    OrganisationKind,
    Role,
    SponsorType,
    User,
)
from app.auth.schemas import (
    ContactDetails,
    NewPassword,
    PasswordChange,
    PasswordResetRequest,
    SignIn,
    SponsorRegistration,
)
from app.errors import DomainError, ValidationFailed
from app.forms import form_data, validate
from app.geography.models import Library
from app.i18n import _
from app.mail import mailer_for
from app.settings import Settings
from app.web import DbSession, flash, local_path, render, see_other, site_url

HOME_BY_ROLE = {Role.OFFICER: "/officer", Role.LIBRARIAN: "/library/needs", Role.SPONSOR: "/account"}


def _register_context(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "organisation_kinds": [(k.value, _(ORGANISATION_KIND_LABELS[k])) for k in OrganisationKind],
    }


class AuthController(Controller):
    @get("/register", name="register")
    async def register_form(self, request: Request[Any, Any, Any]) -> Template:
        return render(
            request, "auth/register.html", **_register_context({"sponsor_type": "individual"}, {})
        )

    @post("/register", name="register_post")
    async def register(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        values.setdefault("sponsor_type", SponsorType.INDIVIDUAL.value)
        try:
            data = validate(SponsorRegistration, values)
            user = await services.register_sponsor(db_session, data)
        except ValidationFailed as exc:
            values.pop("password", None)
            return render(
                request,
                "auth/register.html",
                fragment="auth/_register_form.html",
                status_code=422,
                **_register_context(values, exc.errors),
            )
        start_session(request, user)
        flash(request, _("Welcome! Your sponsor account is ready."))
        return see_other(request, "/account")

    @get("/login", name="login")
    async def login_form(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Template:
        return render(request, "auth/login.html", values={"next": local_path(next)}, error=None)

    @post("/login", name="login_post")
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        state: State,
    ) -> Response[Any]:
        values = form_data(await request.form())
        settings: Settings = state.settings
        try:
            data = validate(SignIn, values)
            user = await services.authenticate(
                db_session,
                request.app.stores.get("login_throttle"),
                email=data.email,
                password=data.password,
                client=request.client.host if request.client else "",
                max_failures=settings.login_max_failures,
                lockout_seconds=settings.login_lockout_seconds,
            )
        except DomainError as exc:
            values.pop("password", None)
            status = exc.status_code if exc.status_code == 429 else 422
            message = exc.message if not isinstance(exc, ValidationFailed) else _(
                "Enter your e-mail address and password."
            )
            return render(request, "auth/login.html", status_code=status, values=values, error=message)
        start_session(request, user)
        return see_other(request, local_path(values.get("next")) or HOME_BY_ROLE[user.role])

    @post("/logout", name="logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Response[Any]:
        request.clear_session()
        return see_other(request, "/")

    @get("/account", name="account", guards=[signed_in])
    async def account(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        user = acting_user(request)
        return await _account_page(request, db_session, user, {"phone": user.phone, "address": user.address}, {})

    @post("/account/contact", name="account_contact", guards=[signed_in])
    async def change_contact(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        user = acting_user(request)
        values = form_data(await request.form())
        try:
            data = validate(ContactDetails, values)
        except ValidationFailed as exc:
            return await _account_page(request, db_session, user, values, exc.errors, status_code=422)
        if services.update_contact(db_session, user, data):
            flash(request, _("Your contact details are saved."))
        return see_other(request, "/account")

    @post("/account/password", name="account_password", guards=[signed_in])
    async def change_password(
        self, request: Request[Any, Any, Any], db_session: DbSession, state: State
    ) -> Response[Any]:
        user = acting_user(request)
        settings: Settings = state.settings
        try:
            await services.change_password(
                db_session,
                request.app.stores.get("login_throttle"),
                user,
                validate(PasswordChange, form_data(await request.form())),
                max_failures=settings.login_max_failures,
                lockout_seconds=settings.login_lockout_seconds,
            )
        except ValidationFailed as exc:  # the passwords are never shown again
            return await _account_page(request, db_session, user, {"phone": user.phone, "address": user.address},
                                       {}, status_code=422, password_errors=exc.errors)
        except services.TooManyAttempts as exc:
            return await _account_page(request, db_session, user, {"phone": user.phone, "address": user.address},
                                       {}, status_code=429, password_errors={"current_password": exc.message})
        start_session(request, user)  # this device stays signed in; every other one is signed out
        flash(request, _("Your password is changed. Every other device signed in to your account is signed out."))
        return see_other(request, "/account")


async def _link_owner(db_session: AsyncSession, settings: Settings, token: str) -> User:
    """Whose the reset link is, while it works (`reset.InvalidLink` otherwise: see the handler)."""
    return await reset.user_for_token(db_session, settings.resolved_secret(), token, settings.password_reset_seconds)


def _invalid_link(request: Request[Any, Any, Any], exc: reset.InvalidLink) -> Template:
    return render(request, "auth/reset.html", status_code=exc.status_code, invalid=exc.message)


class PasswordResetController(Controller):
    """A forgotten password: ask for a link by e-mail (`/password/forgot`), then choose a new
    password with it (`/password/reset/{token}`); see `app.auth.reset`."""

    path = "/password"
    exception_handlers = {reset.InvalidLink: _invalid_link}  # type: ignore[dict-item]

    @get("/forgot", name="password_forgot")
    async def forgot_form(self, request: Request[Any, Any, Any], state: State) -> Template:
        return render(request, "auth/forgot.html", offered=state.settings.password_reset_offered,
                      values={}, errors={}, error=None)

    @post("/forgot", name="password_forgot_post")
    async def forgot(self, request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
        settings: Settings = state.settings
        values = form_data(await request.form())
        if not settings.password_reset_offered:
            return render(request, "auth/forgot.html", status_code=404, offered=False, values={}, errors={},
                          error=None)
        try:
            data = validate(PasswordResetRequest, values)
            await reset.send_link(
                db_session,
                request.app.stores.get("login_throttle"),
                mailer_for(settings),
                email=data.email,
                client=request.client.host if request.client else "",
                secret=settings.resolved_secret(),
                site=site_url(request),
                max_age=settings.password_reset_seconds,
                lockout_seconds=settings.login_lockout_seconds,
            )
        except ValidationFailed:
            return render(request, "auth/forgot.html", status_code=422, offered=True, values=values,
                          errors={"email": _("Enter the e-mail address of your account.")}, error=None)
        except DomainError as exc:  # too many asked for, or the mail system is down
            return render(request, "auth/forgot.html", status_code=exc.status_code, offered=True, values=values,
                          errors={}, error=exc.message)
        # The same answer whether or not an account has this address.
        flash(request, _("If an account has the address %(email)s, a link to choose a new password is on its way "
                         "there. It works for %(minutes)s minutes.", email=data.email,
                         minutes=max(1, settings.password_reset_seconds // 60)))
        return see_other(request, "/login")

    @get("/reset/{token:str}", name="password_reset")
    async def reset_form(
        self, request: Request[Any, Any, Any], db_session: DbSession, state: State, token: FromPath[str]
    ) -> Template:
        user = await _link_owner(db_session, state.settings, token)
        return render(request, "auth/reset.html", account=user, token=token, errors={}, invalid=None)

    @post("/reset/{token:str}", name="password_reset_post")
    async def reset(
        self, request: Request[Any, Any, Any], db_session: DbSession, state: State, token: FromPath[str]
    ) -> Response[Any]:
        user = await _link_owner(db_session, state.settings, token)
        values = form_data(await request.form())
        try:
            data = validate(NewPassword, values)
            await reset.reset_password(db_session, user, data.new_password, data.new_password_again)
        except ValidationFailed as exc:  # the passwords are never shown again
            return render(request, "auth/reset.html", status_code=422, account=user, token=token, errors=exc.errors,
                          invalid=None)
        start_session(request, user)
        flash(request, _("Your new password is saved, and you are signed in. Every other device signed in to "
                         "your account is signed out."))
        return see_other(request, HOME_BY_ROLE[user.role])


async def _account_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    user: User,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    password_errors: dict[str, str] | None = None,
) -> Template:
    library = await db_session.get(Library, user.library_id) if user.library_id else None
    return render(
        request,
        "auth/account.html",
        status_code=status_code,
        account=user,
        library=library,
        role_label=ROLE_LABELS[user.role],
        values=values,
        errors=errors,
        password_errors=password_errors or {},
    )
