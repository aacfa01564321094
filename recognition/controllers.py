"""Recognition over HTTP: the officer's rules, nominations and rolls (generate, submit, approve,
publish, correct, edit and revoke entries); the public honor rolls, their exports, certificates and
their verification; a small JSON API. Thin: parse, call a service, render."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.guards import acting_user, current_user, officer_only
from app.auth.models import Role
from app.errors import NotFound, ValidationFailed
from app.forms import form_data, validate
from app.i18n import VN_TZ, _
from app.text import content_disposition, like_pattern
from app.web import DbSession, flash, last_page, page_number, render, see_other, site_url
from donations.receipts import html_to_pdf, issuer, render_html
from recognition import documents, nominations, rules, services
from recognition.models import (
    CATEGORY_LABELS,
    FORM_LABELS,
    FORM_ORDER,
    NOMINEE_KIND_LABELS,
    Category,
    HonorRoll,
    Nomination,
    PeriodKind,
    RollEntry,
    RollStatus,
    RuleSet,
)
from recognition.schemas import (
    DEFAULT_THRESHOLDS,
    ApproveIn,
    CorrectionIn,
    EntryEditIn,
    GenerateIn,
    NominationIn,
    RevokeIn,
    RuleSetIn,
    threshold_field,
)

SEARCH_LIMIT = 200
PAGE_SIZE = 500  # entries a roll's page shows; the exports have them all


def certificate_code(raw: str) -> str:
    """A certificate code as people copy it: any case, with or without the `.pdf` of its address."""
    code = raw.strip().lower()
    return code.removesuffix(".pdf")


async def listing(db: AsyncSession, roll: HonorRoll, page: int = 1) -> dict[str, Any]:
    """One page of a roll's entries (a page past the last is the last), and what the page shows
    beside them: the anonymous count of each group, from the roll's summary, printed where the
    group ends (`continuing` is the group that goes on to the next page), and the pager."""
    total = sum(r["count"] for r in roll.summary)
    pages = last_page(total, PAGE_SIZE)
    page = min(page, pages)
    rows = await services.entries(db, roll.id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    shown, after = rows[:PAGE_SIZE], rows[PAGE_SIZE:]
    last_group = (shown[-1].form.value, shown[-1].category.value) if shown else None
    continuing = last_group if after and (after[0].form.value, after[0].category.value) == last_group else None
    return {"entries": shown, "anonymous_counts": {(r["form"], r["category"]): r["anonymous"] for r in roll.summary},
            "named_counts": {(r["form"], r["category"]): r["named"] for r in roll.summary},
            "continuing": continuing, "total_entries": total, "page": page, "pages": pages, "page_size": PAGE_SIZE}


def default_rule_values() -> dict[str, Any]:
    year = dt.datetime.now(VN_TZ).year
    values: dict[str, Any] = {"period_key": str(year), "period_kind": PeriodKind.YEAR.value,
                              "period_start": f"{year}-01-01", "period_end": f"{year}-12-31",
                              "count_money": True, "count_books": True, "count_equipment": True}
    for form in FORM_ORDER:
        for category in Category:
            values[threshold_field(form, category)] = DEFAULT_THRESHOLDS[form.value][category.value]
    return values


def _settings(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.settings


async def _officer_page(request: Request[Any, Any, Any], db: AsyncSession, *, status_code: int = 200,
                        rule_values: dict[str, Any] | None = None, rule_errors: dict[str, str] | None = None,
                        nomination_values: dict[str, Any] | None = None,
                        nomination_errors: dict[str, str] | None = None,
                        withdraw_errors: dict[int, str] | None = None,
                        generate_errors: dict[str, str] | None = None) -> Template:
    province = _settings(request).province_code
    sets = await rules.rule_sets(db, province)
    return render(
        request, "recognition/officer.html", status_code=status_code,
        rule_sets=sets, periods=sorted({s.period_key for s in sets}, reverse=True),
        nominations=await nominations.in_province(db, province), rolls=await services.rolls(db, province),
        rule_values=rule_values or default_rule_values(), rule_errors=rule_errors or {},
        nomination_values=nomination_values or {}, nomination_errors=nomination_errors or {},
        withdraw_errors=withdraw_errors or {},
        generate_errors=generate_errors or {}, forms=FORM_ORDER,
        categories=[Category.INDIVIDUAL, Category.COLLECTIVE],  # the thresholds as the table shows them
        nominee_kinds=NOMINEE_KIND_LABELS, threshold_field=threshold_field,
    )


async def _roll_page(request: Request[Any, Any, Any], db: AsyncSession, roll: HonorRoll, *,
                     status_code: int = 200, errors: dict[str, str] | None = None,
                     values: dict[str, Any] | None = None) -> Template:
    return render(
        request, "recognition/roll_officer.html", status_code=status_code, roll=roll,
        rule_set=await db.get(RuleSet, roll.rule_set_id), **await listing(db, roll, page_number(request)),
        errors=errors or {}, values=values or {}, forms=FORM_ORDER, contribution=documents.contribution,
        RollStatus=RollStatus, form_labels=FORM_LABELS, category_labels=CATEGORY_LABELS,
    )


async def _nomination_page(request: Request[Any, Any, Any], db: AsyncSession, nomination: Nomination, *,
                           status_code: int = 200, values: dict[str, Any] | None = None,
                           errors: dict[str, str] | None = None) -> Template:
    periods = {s.period_key for s in await rules.rule_sets(db, _settings(request).province_code)}
    return render(request, "recognition/nomination_edit.html", status_code=status_code, nomination=nomination,
                  periods=sorted(periods | {nomination.period_key}, reverse=True),
                  values=values or nominations.form_values(nomination), errors=errors or {}, forms=FORM_ORDER,
                  nominee_kinds=NOMINEE_KIND_LABELS)


class OfficerRecognition(Controller):
    path = "/officer/recognition"
    guards = [officer_only]

    @get("/", name="recognition_officer")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await _officer_page(request, db_session)

    @post("/rules", name="recognition_rules_save")
    async def save_rules(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        try:
            data = validate(RuleSetIn, values)
            rule_set = await rules.save_rule_set(db_session, acting_user(request),
                                                 _settings(request).province_code, data)
        except ValidationFailed as exc:
            return await _officer_page(request, db_session, status_code=422, rule_values=values,
                                       rule_errors=exc.errors)
        flash(request, _("Rules saved: %(period)s, version %(version)s.", period=rule_set.period_key,
                         version=rule_set.version))
        return see_other(request, "/officer/recognition")

    @post("/nominations", name="recognition_nominate")
    async def nominate(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        try:
            data = validate(NominationIn, values)
            await nominations.nominate(db_session, acting_user(request), _settings(request).province_code, data)
        except ValidationFailed as exc:
            return await _officer_page(request, db_session, status_code=422, nomination_values=values,
                                       nomination_errors=exc.errors)
        flash(request, _("Nomination saved."))
        return see_other(request, "/officer/recognition")

    @get("/nominations/{nomination_id:int}", name="recognition_nomination")
    async def nomination(self, request: Request[Any, Any, Any], db_session: DbSession,
                         nomination_id: FromPath[int]) -> Template:
        nomination = await nominations.open_nomination(db_session, _settings(request).province_code, nomination_id)
        return await _nomination_page(request, db_session, nomination)

    @post("/nominations/{nomination_id:int}", name="recognition_nomination_update")
    async def update_nomination(self, request: Request[Any, Any, Any], db_session: DbSession,
                                nomination_id: FromPath[int]) -> Response[Any]:
        province = _settings(request).province_code
        values = form_data(await request.form())
        try:
            await nominations.update_nomination(db_session, acting_user(request), province, nomination_id,
                                                validate(NominationIn, values))
        except ValidationFailed as exc:
            nomination = await nominations.open_nomination(db_session, province, nomination_id)
            return await _nomination_page(request, db_session, nomination, status_code=422, values=values,
                                          errors=exc.errors)
        flash(request, _("Nomination corrected."))
        return see_other(request, "/officer/recognition")

    @post("/nominations/{nomination_id:int}/withdraw", name="recognition_nomination_withdraw")
    async def withdraw(self, request: Request[Any, Any, Any], db_session: DbSession,
                       nomination_id: FromPath[int]) -> Response[Any]:
        values = form_data(await request.form())
        try:
            await nominations.withdraw_nomination(db_session, acting_user(request), _settings(request).province_code,
                                                  nomination_id, validate(RevokeIn, values))
        except ValidationFailed as exc:
            return await _officer_page(request, db_session, status_code=422,
                                       withdraw_errors={nomination_id: exc.errors.get("reason", "")})
        flash(request, _("Nomination withdrawn: rolls generated from now on leave it out."))
        return see_other(request, "/officer/recognition")

    @post("/rolls", name="recognition_generate")
    async def generate(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        settings = _settings(request)
        try:
            data = validate(GenerateIn, values)
            roll = await services.generate(db_session, acting_user(request), settings.province_code,
                                           data.period_key)
        except ValidationFailed as exc:
            return await _officer_page(request, db_session, status_code=422, generate_errors=exc.errors)
        flash(request, _("Honor roll generated."))
        return see_other(request, f"/officer/recognition/rolls/{roll.id}")

    @get("/rolls/{roll_id:int}", name="recognition_roll")
    async def roll(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int]) -> Template:
        return await _roll_page(request, db_session, await services.get_roll(db_session, roll_id))

    @post("/rolls/{roll_id:int}/{action:str}", name="recognition_roll_action")
    async def act(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int],
                  action: FromPath[str]) -> Response[Any]:
        roll = await services.get_roll(db_session, roll_id, for_update=True)
        actor = acting_user(request)
        values = form_data(await request.form())
        target = f"/officer/recognition/rolls/{roll.id}"
        try:
            if action == "submit":
                services.submit(db_session, actor, roll)
                message = _("Submitted for approval.")
            elif action == "return":
                services.return_to_draft(db_session, actor, roll)
                message = _("Returned to draft.")
            elif action == "approve":
                await services.approve(db_session, actor, roll, validate(ApproveIn, values))
                message = _("Approved.")
            elif action == "publish":
                await services.publish(db_session, actor, roll, site=site_url(request))
                message = _("Published.")
            elif action == "regenerate":
                await services.generate(db_session, actor, roll.province_code, roll.period_key)
                message = _("Honor roll generated.")
            elif action == "correct":
                new = await services.correct(db_session, actor, roll, validate(CorrectionIn, values))
                target = f"/officer/recognition/rolls/{new.id}"
                message = _("Correction started as version %(version)s.", version=new.version)
            else:
                raise NotFound(_("This page does not exist."))
        except ValidationFailed as exc:
            return await _roll_page(request, db_session, roll, status_code=422, errors=exc.errors, values=values)
        flash(request, message)
        return see_other(request, target)

    @post("/rolls/{roll_id:int}/entries/{entry_id:int}", name="recognition_entry_edit")
    async def edit_entry(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int],
                         entry_id: FromPath[int]) -> Response[Any]:
        return await _entry_action(request, db_session, roll_id, entry_id, services.edit_entry, EntryEditIn,
                                   _("Entry saved."), editable_only=True)

    @post("/rolls/{roll_id:int}/entries/{entry_id:int}/revoke", name="recognition_entry_revoke")
    async def revoke_entry(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int],
                           entry_id: FromPath[int]) -> Response[Any]:
        return await _entry_action(request, db_session, roll_id, entry_id, services.revoke_entry, RevokeIn,
                                   _("Entry revoked."))

    @post("/rolls/{roll_id:int}/entries/{entry_id:int}/exclude", name="recognition_entry_exclude")
    async def exclude_entry(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int],
                            entry_id: FromPath[int]) -> Response[Any]:
        return await _entry_action(
            request, db_session, roll_id, entry_id, services.exclude_entry, RevokeIn,
            _("Entry left out of the roll: the versions generated from now on leave it out too."),
            editable_only=True, error_prefix="exclude_")

    @post("/rolls/{roll_id:int}/left-out/{decision_id:int}/include", name="recognition_include_again")
    async def include_again(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int],
                            decision_id: FromPath[int]) -> Response[Any]:
        roll = await services.get_roll(db_session, roll_id, for_update=True)
        await services.include_again(db_session, acting_user(request), roll, decision_id)
        flash(request, _("Included again: the draft was generated again."))
        return see_other(request, f"/officer/recognition/rolls/{roll.id}")


async def _entry_action(request: Request[Any, Any, Any], db: AsyncSession, roll_id: int, entry_id: int,
                        action: Callable[..., Awaitable[None]], schema: type[BaseModel], message: str, *,
                        editable_only: bool = False, error_prefix: str = "") -> Response[Any]:
    """One officer action on an entry (edit, revoke, leave out): its form checked against `schema`,
    errors beside the entry's fields on the roll page (422), else back to the roll with `message`."""
    roll = await services.get_roll(db, roll_id, for_update=True)
    entry = await services.get_entry(db, roll, entry_id)
    values = form_data(await request.form())
    if editable_only:
        services.require_editable(roll, entry)
    try:
        await action(db, acting_user(request), roll, entry, validate(schema, values))
    except ValidationFailed as exc:
        return await _roll_page(request, db, roll, status_code=422,
                                errors={f"{entry.id}.{error_prefix}{k}": v for k, v in exc.errors.items()},
                                values=values)
    flash(request, message)
    return see_other(request, f"/officer/recognition/rolls/{roll.id}")


# --- the public side ------------------------------------------------------------------------------


async def _viewable_roll(request: Request[Any, Any, Any], db: AsyncSession, roll_id: int) -> HonorRoll:
    """A published roll for anyone; any roll for an officer."""
    roll = await db.get(HonorRoll, roll_id)
    user = current_user(request)
    if roll is None or (roll.status != RollStatus.PUBLISHED and (user is None or user.role != Role.OFFICER)):
        raise NotFound(_("No such honor roll."))
    return roll


def _attachment(content: bytes, media_type: str, filename: str) -> Response[bytes]:
    """A download whose name may carry a campaign's Vietnamese name."""
    return Response(content, media_type=media_type, headers={"Content-Disposition": content_disposition(filename)})


class PublicHonorRolls(Controller):
    @get("/honor-rolls", name="honor_rolls")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        q = (request.query_params.get("q") or "").strip()[:100]
        rolls = await services.published_rolls(db_session)
        by_id = {r.id: r for r in rolls}
        found: list[RollEntry] = []
        if q:
            found = list(await db_session.scalars(
                select(RollEntry).join(HonorRoll, HonorRoll.id == RollEntry.roll_id)
                .where(HonorRoll.status == RollStatus.PUBLISHED, HonorRoll.superseded_by_id.is_(None),
                       RollEntry.name_folded.like(like_pattern(q), escape="\\"))
                .order_by(HonorRoll.period_key.desc(), RollEntry.form_rank, RollEntry.category, RollEntry.rank)
                .limit(SEARCH_LIMIT)))
        return render(request, "recognition/honor_rolls.html", fragment="recognition/_search_results.html", q=q,
                      rolls=rolls, found=found, by_id=by_id, contribution=documents.contribution)

    @get("/honor-rolls/{roll_id:int}", name="honor_roll")
    async def roll(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int]) -> Template:
        roll = await _viewable_roll(request, db_session, roll_id)
        page = await listing(db_session, roll, page_number(request))
        return render(request, "recognition/roll.html", roll=roll, **page, contribution=documents.contribution,
                      forms=FORM_ORDER, categories=list(Category))

    @get("/honor-rolls/{roll_id:int}/export.csv", name="honor_roll_csv")
    async def export_csv(self, request: Request[Any, Any, Any], db_session: DbSession,
                         roll_id: FromPath[int]) -> Response[bytes]:
        roll = await _viewable_roll(request, db_session, roll_id)
        content = documents.roll_csv(await services.entries(db_session, roll.id))
        return _attachment(content, "text/csv", f"honor-roll-{roll.period_key}-v{roll.version}.csv")

    @get("/honor-rolls/{roll_id:int}/snapshot.json", name="honor_roll_snapshot")
    async def snapshot(self, db_session: DbSession, roll_id: FromPath[int]) -> Response[bytes]:
        """What was published, byte for byte: its SHA-256 is the content hash the roll shows."""
        roll = await db_session.get(HonorRoll, roll_id)
        if roll is None or roll.status != RollStatus.PUBLISHED or roll.snapshot is None:
            raise NotFound(_("No such honor roll."))
        return Response(services.canonical(roll.snapshot), media_type="application/json",
                        headers={"Content-Disposition": f'inline; filename="honor-roll-{roll.id}.json"'})

    @get("/honor-rolls/{roll_id:int}/export.xlsx", name="honor_roll_xlsx")
    async def export_xlsx(self, request: Request[Any, Any, Any], db_session: DbSession,
                          roll_id: FromPath[int]) -> Response[bytes]:
        roll = await _viewable_roll(request, db_session, roll_id)
        content = documents.roll_xlsx(roll, await services.entries(db_session, roll.id),
                                      _settings(request).province_name)
        return _attachment(content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           f"honor-roll-{roll.period_key}-v{roll.version}.xlsx")

    @get("/certificates/{code:str}", name="certificate")
    async def certificate(self, request: Request[Any, Any, Any], db_session: DbSession,
                          code: FromPath[str]) -> Response[bytes]:
        """The certificate, as /verify reads its code; a revoked one stamped so with its reason and
        date, one of a superseded roll stamped as replaced (its verification page says by what)."""
        entry, roll = await services.entry_by_code(db_session, certificate_code(code))
        newest, _counterpart = await services.successor(db_session, entry, roll)
        settings = _settings(request)
        verify_url = f"{site_url(request)}/verify/{entry.code}"
        html = render_html(
            request.app.template_engine.engine, "recognition/certificate.html",  # type: ignore[union-attr]
            entry=entry, roll=roll, province_name=settings.province_name, replaced_by=newest,
            wording=documents.certificate_wording(entry.form, settings.province_name, issuer(settings)),
            contribution=documents.contribution(entry), verify_url=verify_url,
            qr=documents.qr_data_uri(verify_url),
        )
        pdf = await anyio.to_thread.run_sync(html_to_pdf, html)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": content_disposition(f"certificate-{entry.code}.pdf",
                                                                            "inline")})

    @get("/verify/{code:str}", name="verify_certificate")
    async def verify(self, request: Request[Any, Any, Any], db_session: DbSession, code: FromPath[str]) -> Template:
        entry, roll = await services.entry_by_code(db_session, certificate_code(code))
        newest, counterpart = await services.successor(db_session, entry, roll)
        return render(request, "recognition/verify.html", entry=entry, roll=roll, newest=newest,
                      counterpart=counterpart, contribution=documents.contribution(entry))


# --- JSON API -------------------------------------------------------------------------------------


def roll_out(roll: HonorRoll) -> dict[str, Any]:
    return {"id": roll.id, "period": roll.period_key, "version": roll.version, "status": roll.status.value,
            "decision_number": roll.decision_number,
            "decision_date": roll.decision_date.isoformat() if roll.decision_date else None,
            "signer": roll.signer,
            "department_decision_number": roll.department_decision_number,
            "department_decision_date": roll.department_decision_date.isoformat()
            if roll.department_decision_date else None,
            "department_signer": roll.department_signer,
            "content_hash": roll.content_hash, "total_value": roll.total_value,
            "contributors": roll.contributor_count, "anonymous": roll.anonymous_count, "summary": roll.summary}


class RecognitionApi(Controller):
    path = "/api/v1/recognition"
    tags = ["recognition"]
    guards = [officer_only]

    @post("/rule-sets", name="api_rule_sets_create", status_code=201)
    async def create_rule_set(self, request: Request[Any, Any, Any], db_session: DbSession,
                              data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        """A new version of a period's rules; 422 with a message per field when they are not valid."""
        rule_set = await rules.save_rule_set(db_session, acting_user(request), _settings(request).province_code,
                                             validate(RuleSetIn, data))
        return {"id": rule_set.id, "period": rule_set.period_key, "version": rule_set.version,
                "thresholds": rule_set.thresholds}

    @post("/rolls/{roll_id:int}/approve", name="api_roll_approve", status_code=200)
    async def approve(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int],
                      data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        roll = await services.get_roll(db_session, roll_id, for_update=True)
        await services.approve(db_session, acting_user(request), roll, validate(ApproveIn, data))
        return roll_out(roll)

    @patch("/rolls/{roll_id:int}/entries/{entry_id:int}", name="api_entry_edit")
    async def edit_entry(self, request: Request[Any, Any, Any], db_session: DbSession, roll_id: FromPath[int],
                         entry_id: FromPath[int], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        roll = await services.get_roll(db_session, roll_id, for_update=True)
        entry = await services.get_entry(db_session, roll, entry_id)
        services.require_editable(roll, entry)
        await services.edit_entry(db_session, acting_user(request), roll, entry, validate(EntryEditIn, data))
        return {"id": entry.id, "name": entry.name, "address": entry.address, "form": entry.form.value}


class PublicRecognitionApi(Controller):
    path = "/api/v1/honor-rolls"
    tags = ["recognition"]

    @get("/", name="api_honor_rolls")
    async def index(self, db_session: DbSession) -> list[dict[str, Any]]:
        """The published rolls (every version), newest period first."""
        return [roll_out(r) for r in await services.published_rolls(db_session)]


ROUTE_HANDLERS = [OfficerRecognition, PublicHonorRolls, RecognitionApi, PublicRecognitionApi]
