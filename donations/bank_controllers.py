"""The province office's money desk over HTTP: statement imports and their review queue, money
held and its settlements, pledges awaiting payment or delivery (offline payments, in-kind
receipts). Thin: parse, call a service in donations.bank or donations.held_money, render."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.guards import acting_user, officer_only
from app.auth.models import User
from app.errors import ValidationFailed
from app.forms import form_data, validate
from app.i18n import _, format_number, format_vnd, lazy
from app.web import MAX_ID, DbSession, flash, last_page, page_number, render, see_other
from donations import bank, held_money, review_notes, services
from donations.bank_lines import PER_PAGE as LINES_PER_PAGE
from donations.bank_lines import LineFilters, statement_lines
from donations.delivery_controllers import whole_number
from donations.models import Pledge, PledgeKind, PledgeStatus, StatementLineStatus
from donations.schemas import DismissIn, MatchIn, OfflinePaymentIn
from donations.statements import MAX_STATEMENT_BYTES, StatementError, read_upload

# Room for the multipart envelope around a file of the largest size accepted.
MAX_UPLOAD_BODY = MAX_STATEMENT_BYTES + 64 * 1024
IMPORT_RESULT_KEY = "statement_import"
PLEDGES_PER_PAGE = 50
WAITING = (PledgeStatus.AWAITING_PAYMENT, PledgeStatus.AWAITING_DELIVERY)
LINE_STATUS_LABELS = {
    StatementLineStatus.MATCHED: lazy("Matched to a pledge's payment"),
    StatementLineStatus.REVIEW: lazy("Waiting for review"),
    StatementLineStatus.HELD: lazy("Held for a refund or a reassignment"),
    StatementLineStatus.DISMISSED: lazy("Dismissed: not the province's money"),
}


def a_day(value: Any) -> dt.date | None:
    """A form's date field (YYYY-MM-DD, as date inputs send it); None when empty or not a date."""
    try:
        return dt.date.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        return None


def too_large_message() -> str:
    size = format_number(round(MAX_STATEMENT_BYTES / (1024 * 1024), 1))
    return _("The file is too large: the limit is %(size)s MB.", size=size)


def upload_too_large(
    _request: Request[Any, Any, Any], _exc: RequestEntityTooLarge
) -> Response[Any]:
    """Litestar refused the body before it was read: say so in the officer's language."""
    return Template(
        template_name="error.html",
        status_code=413,
        context={"status_code": 413, "message": too_large_message()},
    )


class OfficerPayments(Controller):
    path = "/officer"
    guards = [officer_only]
    exception_handlers = {RequestEntityTooLarge: upload_too_large}

    async def _statements_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        *,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> Template:
        result = request.session.pop(IMPORT_RESULT_KEY, None) if status_code == 200 else None
        return render(
            request,
            "donations/statements.html",
            status_code=status_code,
            result=result,
            lines=await bank.review_queue(db),
            held=await held_money.held_money(db),
            settlements=await held_money.settlements(db),
            today=held_money.today(),
            describe=review_notes.describe,
            errors=errors or {},
            values=values or {},
            max_mb=format_number(round(MAX_STATEMENT_BYTES / (1024 * 1024), 1)),
        )

    @get("/statements", name="statements")
    async def statements(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._statements_page(request, db_session)

    @get("/statements/lines", name="statement_lines")
    async def lines(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        """Every imported line, whatever became of it, with the totals per status."""
        params = request.query_params
        return await self._lines_page(request, db_session, {k: (params.get(k) or "").strip()
                                                            for k in ("status", "q", "line", "from", "to")})

    @post("/statements/lines/{line_id:int}/reopen", name="statement_line_reopen")
    async def reopen(
        self, request: Request[Any, Any, Any], db_session: DbSession, line_id: FromPath[int]
    ) -> Response[Any]:
        """A line dismissed by mistake goes back to the review queue, with the officer's reason."""
        values = form_data(await request.form())
        try:
            await bank.reopen_line(db_session, acting_user(request), line_id, str(values.get("note") or ""))
        except ValidationFailed as exc:
            return await self._lines_page(
                request, db_session, {"status": "", "q": "", "line": str(line_id), "from": "", "to": ""},
                {f"reopen-{line_id}": exc.errors["note"]}, status_code=422)
        flash(request, _("The line is back in the review queue."))
        return see_other(request, f"/officer/statements#line-{line_id}")

    async def _lines_page(self, request: Request[Any, Any, Any], db_session: AsyncSession, values: dict[str, str],
                          errors: dict[str, str] | None = None, *, status_code: int = 200) -> Template:
        errors = dict(errors or {})
        status = next((s for s in StatementLineStatus if s.value == values["status"]), None)
        line = whole_number(values["line"]) if values["line"] else None
        if values["line"] and (line is None or not 0 < line <= MAX_ID):
            errors["line"], line = _("Enter a whole number."), None
        since, until = a_day(values["from"]) if values["from"] else None, a_day(values["to"]) if values["to"] else None
        for name, day in (("from", since), ("to", until)):
            if values[name] and day is None:
                errors[name] = _("Enter a valid date.")
        filters = LineFilters(status=status, q=values["q"][:100], line=line, since=since, until=until,
                              page=page_number(request))
        page = await statement_lines(db_session, filters)
        kept = {k: v for k, v in values.items() if v}
        return render(
            request, "donations/statement_lines.html", status_code=422 if errors else status_code,
            page=page, values=values, errors=errors, statuses=LINE_STATUS_LABELS, describe=review_notes.describe,
            number=filters.page, pages=last_page(page.total, LINES_PER_PAGE), base_query=urlencode(kept),
        )

    @post("/statements", name="statement_import", request_max_body_size=MAX_UPLOAD_BODY)
    async def upload(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        upload = (await request.form()).get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise StatementError(_("Choose the statement file to upload."))
            data = await read_upload(upload)
            result = await bank.import_statement(db_session, acting_user(request), data)
        except StatementError as exc:
            return await self._statements_page(
                request, db_session, status_code=422, errors={"file": exc.message}
            )
        request.session[IMPORT_RESULT_KEY] = result.as_dict()
        flash(request, _("Statement imported."))
        return see_other(request, "/officer/statements")

    @post("/statements/lines/{line_id:int}/match", name="statement_line_match")
    async def match(
        self, request: Request[Any, Any, Any], db_session: DbSession, line_id: FromPath[int]
    ) -> Response[Any]:
        values = form_data(await request.form())
        try:
            data = validate(MatchIn, values)
            payment = await bank.match_line(
                db_session, acting_user(request), line_id, data.reference
            )
        except ValidationFailed as exc:
            return await self._statements_page(
                request,
                db_session,
                status_code=422,
                errors={f"match-{line_id}": next(iter(exc.errors.values()))},
                values={f"match-{line_id}": values.get("reference") or ""},
            )
        flash(request, _("Line matched; receipt %(number)s.", number=payment.receipt_number))
        return see_other(request, "/officer/statements")

    @post("/statements/lines/{line_id:int}/dismiss", name="statement_line_dismiss")
    async def dismiss(
        self, request: Request[Any, Any, Any], db_session: DbSession, line_id: FromPath[int]
    ) -> Response[Any]:
        return await self._settle_line(request, db_session, line_id, "dismiss", bank.dismiss_line,
                                       _("Line dismissed."))

    @post("/statements/lines/{line_id:int}/hold", name="statement_line_hold")
    async def hold(
        self, request: Request[Any, Any, Any], db_session: DbSession, line_id: FromPath[int]
    ) -> Response[Any]:
        return await self._settle_line(request, db_session, line_id, "hold", bank.hold_line,
                                       _("Line recorded as money held for a refund or a reassignment."))

    async def _settle_line(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, line_id: int, field: str,
        settle: Callable[[AsyncSession, Any, int, str], Awaitable[Any]], message: str,
    ) -> Response[Any]:
        """Dismiss or hold a review line with the officer's note (422 beside that line's form)."""
        values = form_data(await request.form())
        try:
            data = validate(DismissIn, values)
            await settle(db_session, acting_user(request), line_id, data.note)
        except ValidationFailed as exc:
            return await self._statements_page(
                request,
                db_session,
                status_code=422,
                errors={f"{field}-{line_id}": next(iter(exc.errors.values()))},
                values={f"{field}-{line_id}": values.get("note") or ""},
            )
        flash(request, message)
        return see_other(request, "/officer/statements")

    @post("/statements/lines/{line_id:int}/refund", name="held_money_refund")
    async def refund(
        self, request: Request[Any, Any, Any], db_session: DbSession, line_id: FromPath[int]
    ) -> Response[Any]:
        values = form_data(await request.form())
        try:
            settlement = await held_money.refund(
                db_session, acting_user(request), line_id, whole_number(values.get("number")),
                whole_number(values.get("amount")), a_day(values.get("day")), values.get("note") or "")
        except ValidationFailed as exc:
            return await self._held_form_refused(request, db_session, f"refund-{line_id}-", exc, values)
        flash(request, _("Refund of %(amount)s recorded.", amount=format_vnd(settlement.amount)))
        return see_other(request, "/officer/statements")

    @post("/statements/lines/{line_id:int}/reassign", name="held_money_reassign")
    async def reassign(
        self, request: Request[Any, Any, Any], db_session: DbSession, line_id: FromPath[int]
    ) -> Response[Any]:
        values = form_data(await request.form())
        try:
            payment = await held_money.reassign(
                db_session, acting_user(request), line_id, whole_number(values.get("number")),
                values.get("reference") or "", values.get("note") or "")
        except ValidationFailed as exc:
            return await self._held_form_refused(request, db_session, f"reassign-{line_id}-", exc, values)
        flash(request, _("%(amount)s reassigned to %(ref)s; receipt %(number)s.", amount=format_vnd(payment.amount),
                         ref=(values.get("reference") or "").strip().upper(), number=payment.receipt_number))
        return see_other(request, "/officer/statements")

    async def _held_form_refused(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, key: str, exc: ValidationFailed,
        values: dict[str, Any],
    ) -> Template:
        """A refund or reassignment refused (nothing written): the page again, each message beside its
        field of that line's form, what was typed kept."""
        return await self._statements_page(
            request,
            db_session,
            status_code=422,
            errors={key + field: message for field, message in exc.errors.items()},
            values={key + field: values.get(field) or "" for field in ("amount", "day", "note", "reference")},
        )

    async def _pledges_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        *,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> Template:
        q = (request.query_params.get("q") or "").strip()[:100]
        conditions: list[Any] = [Pledge.status.in_(WAITING)]
        if q:  # part of the reference code, or of the sponsor's name (a person's or an organisation's)
            named = select(User.id).where(or_(
                func.lower(User.full_name).contains(q.lower(), autoescape=True),
                User.full_name.contains(q, autoescape=True),
                func.lower(User.organisation_name).contains(q.lower(), autoescape=True),
                User.organisation_name.contains(q, autoescape=True)))
            conditions.append(or_(Pledge.reference.contains(q.upper()[:16], autoescape=True),
                                  Pledge.sponsor_id.in_(named)))
        total = await db.scalar(select(func.count()).select_from(Pledge).where(*conditions)) or 0
        page = page_number(request)
        pledges = list(await db.scalars(
            select(Pledge).where(*conditions).options(selectinload(Pledge.sponsor))
            .order_by(Pledge.created_at.desc(), Pledge.id.desc())
            .limit(PLEDGES_PER_PAGE).offset((page - 1) * PLEDGES_PER_PAGE)))
        return render(
            request,
            "donations/officer_pledges.html",
            status_code=status_code,
            q=q,
            total=total,
            page=page,
            pages=last_page(total, PLEDGES_PER_PAGE),
            base_query=urlencode({"q": q} if q else {}),
            pledges=pledges,
            money=PledgeKind.MONEY,
            errors=errors or {},
            values=values or {},
        )

    @get("/pledges", name="officer_pledges")
    async def pledges(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._pledges_page(request, db_session)

    @post("/pledges/{reference:str}/offline-payment", name="offline_payment")
    async def offline_payment(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]
    ) -> Response[Any]:
        values = form_data(await request.form())
        pledge = await services.get_pledge(db_session, reference, for_update=True)
        try:
            data = validate(OfflinePaymentIn, values)
            payment = await bank.record_offline_payment(
                db_session, acting_user(request), pledge, data.receipt_number
            )
        except ValidationFailed as exc:
            return await self._pledges_page(
                request,
                db_session,
                status_code=422,
                errors={f"receipt-{reference}": next(iter(exc.errors.values()))},
                values={f"receipt-{reference}": values.get("receipt_number") or ""},
            )
        flash(
            request,
            _(
                "Payment recorded for %(ref)s; receipt %(number)s.",
                ref=pledge.reference,
                number=payment.receipt_number,
            ),
        )
        return see_other(request, "/officer/pledges")

    @post("/pledges/{reference:str}/receive", name="in_kind_receive")
    async def receive(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]
    ) -> Response[Any]:
        values = form_data(await request.form())
        pledge = await services.get_pledge(db_session, reference, for_update=True)
        try:
            await bank.receive_at_hub(
                db_session,
                acting_user(request),
                pledge,
                whole_number(values.get("quantity")),
                whole_number(values.get("unit_value")),
                values.get("note"),
            )
        except ValidationFailed as exc:  # checked before anything was written
            key = f"hub-{reference}-"
            return await self._pledges_page(
                request,
                db_session,
                status_code=422,
                errors={key + field: message for field, message in exc.errors.items()},
                values={key + field: values.get(field) or "" for field in ("quantity", "unit_value", "note")},
            )
        flash(request, _("Items of %(ref)s received at the hub.", ref=pledge.reference))
        return see_other(request, "/officer/pledges")
