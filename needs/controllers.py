"""Needs over HTTP: the public board and commune pages, the librarian's forms, the officer's
moderation queue and catalogue, and the JSON API. Thin: parse, call a service, render."""

from __future__ import annotations

from typing import Any, get_args

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.guards import acting_user, current_user, officer_only, requires
from app.auth.models import Role, User
from app.errors import NotFound, ValidationFailed
from app.forms import form_data, validate
from app.geography.models import LIBRARY_KIND_LABELS, Commune, Library, Province
from app.geography.services import commune_choices, province_choices
from app.i18n import _, get_locale, lazy
from app.web import DbSession, SingleFlight, flash, is_htmx, last_page, page_number, render, see_other
from needs import forms, services
from needs.catalog import kind_choices
from needs.models import (
    LANGUAGE_LABELS,
    PUBLIC_STATUSES,
    STATUS_LABELS,
    URGENCY_LABELS,
    BookLanguage,
    ItemCategory,
    ItemKind,
    Need,
    NeedStatus,
    Urgency,
)
from needs.schemas import (
    BoardFilters,
    BulkApproveIn,
    ItemKindIn,
    NeedIn,
    NeedOut,
    NeedPage,
    NeedTitleOut,
    RejectIn,
    ReturnIn,
    Sort,
)

librarian_or_officer = requires(Role.LIBRARIAN, Role.OFFICER)
COMMUNE_PAGE_SIZE = 50
# Public pages cached for anonymous visitors: a missing entry is computed once, however many ask.
single_flight = [SingleFlight()]


async def item_kinds(session: AsyncSession) -> list[ItemKind]:
    return list(await session.scalars(select(ItemKind).order_by(ItemKind.position, ItemKind.key)))


def need_out(row: services.BoardRow) -> NeedOut:
    """A need for the API; its item's name in the request's language."""
    need = row.need
    return NeedOut(
        id=need.id,
        library_id=need.library_id,
        library_name=row.library_name,
        commune_code=need.commune_code,
        commune_name=row.commune_name,
        province_code=need.province_code,
        item_kind=need.item_kind_key,
        item_name=row.item_name_vi if get_locale() == "vi" else row.item_name_en,
        quantity=need.quantity,
        unit_value=need.unit_value,
        value=need.value,
        urgency=need.urgency.name.lower(),
        language=need.language.value if need.language else None,
        reason=need.reason,
        deadline=need.deadline,
        status=need.status,
        moderation_note=need.moderation_note,
        pledged_quantity=need.pledged_quantity,
        allocated_quantity=need.allocated_quantity,
        delivered_quantity=need.delivered_quantity,
        created_at=need.created_at,
        titles=[NeedTitleOut.model_validate(t) for t in need.titles] if "titles" in need.__dict__ else [],
    )


async def board_row(session: AsyncSession, need: Need) -> services.BoardRow:
    library = await session.get(Library, need.library_id)
    commune = await session.get(Commune, need.commune_code)
    kind = await session.get(ItemKind, need.item_kind_key)
    assert library and commune and kind
    return services.BoardRow(need, library.name, commune.name, kind.name_vi, kind.name_en)


def _choices(labels: dict[Any, str], keys: Any = None) -> list[tuple[str, str]]:
    return [(str(getattr(k, "value", k)), _(labels[k])) for k in (keys or labels)]


async def _board_context(
    session: AsyncSession, filters: BoardFilters, viewer: User | None, *, with_form: bool = True
) -> dict[str, Any]:
    """The results, and (for the whole page, not the htmx fragment) the filter form's choices."""
    rows, total = await services.board(session, filters, viewer)
    context: dict[str, Any] = {
        "rows": rows,
        "total": total,
        "filters": filters,
        "pages": last_page(total, filters.per_page),
        "query_string": _query_string(filters),
        # Translated once per page rather than once per need.
        "urgency_names": {u: _(label) for u, label in URGENCY_LABELS.items()},
        "status_names": {s: _(label) for s, label in STATUS_LABELS.items()},
    }
    if not with_form:
        return context
    statuses = PUBLIC_STATUSES if services.visible_statuses(viewer) else set(NeedStatus)
    province_code = filters.province_code
    context.update(
        provinces=await province_choices(session),
        communes=await commune_choices(session, province_code) if province_code else [],
        kinds=await kind_choices(session),
        library_kinds=_choices(LIBRARY_KIND_LABELS),
        urgencies=[(str(int(u)), _(URGENCY_LABELS[u])) for u in reversed(Urgency)],
        statuses=_choices(STATUS_LABELS, [s for s in NeedStatus if s in statuses]),
        categories=_choices({c: c.label for c in ItemCategory}),
    )
    return context


def _query_string(filters: BoardFilters) -> str:
    """The filters as a query string without the page, for the pager's links."""
    from urllib.parse import urlencode

    data = filters.model_dump(exclude={"page", "per_page"}, exclude_none=True, mode="json")
    return urlencode({k: v for k, v in data.items() if v != ""})


def _filters(request: Request[Any, Any, Any], *, lenient: bool = False) -> BoardFilters:
    """The board's filters from the URL. The API refuses what it does not know (422); the page
    (`lenient`) falls back to the default sort and a page it has, and refuses only the rest."""
    params = {k: v for k, v in request.query_params.items() if v != ""}
    if "status" in request.query_params and request.query_params["status"] == "":
        params["status"] = None  # "any status" chosen explicitly
    if lenient:
        if params.get("sort") not in get_args(Sort):
            params.pop("sort", None)
        params["page"] = page_number(request)
    return validate(BoardFilters, params)


QUEUE_PER_PAGE = 100
BULK_MODERATED = {
    "approve": lazy("%(n)s needs approved."),
    "return": lazy("%(n)s needs returned to their librarians."),
    "reject": lazy("%(n)s needs rejected."),
}


def _bulk_note(action: str, note: str) -> str:
    """The note a bulk return or rejection needs (checked as a single one is); '' to approve."""
    if action == "approve":
        return ""
    if action == "return":
        return validate(ReturnIn, {"note": note}).note
    try:
        return validate(RejectIn, {"reason": note}).reason
    except ValidationFailed as exc:
        raise ValidationFailed({"note": exc.errors["reason"]}) from None


MODERATED = {
    "approve": lazy("Need approved."),
    "return": lazy("Need returned to the librarian."),
    "reject": lazy("Need rejected."),
}


async def moderate(session: AsyncSession, officer: User, need_id: int, action: str, values: dict[str, Any]) -> Need:
    """One moderation decision, from a form or the API: approve, return (with a note), reject
    (with a reason)."""
    if action not in MODERATED:
        raise NotFound(_("This page does not exist."))
    need = await services.get_need(session, need_id, for_update=True)
    if action == "approve":
        return await services.approve(session, officer, need)
    if action == "return":
        note = validate(ReturnIn, {"note": values.get("note")}).note
        return await services.return_for_changes(session, officer, need, note)
    reason = validate(RejectIn, {"reason": values.get("reason")}).reason
    return await services.reject(session, officer, need, reason)


class NeedsBoard(Controller):
    """Public pages."""

    @get("/needs", name="needs_board", cache=True, middleware=single_flight)
    async def board(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        filters, viewer, with_form = _filters(request, lenient=True), current_user(request), not is_htmx(request)
        context = await _board_context(db_session, filters, viewer, with_form=with_form)
        if filters.page > context["pages"]:  # past the end: the last page instead
            filters = filters.model_copy(update={"page": context["pages"]})
            context = await _board_context(db_session, filters, viewer, with_form=with_form)
        return render(request, "needs/board.html", fragment="needs/_results.html", **context)

    @get("/needs/{need_id:int}", name="need_detail")
    async def detail(self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]) -> Template:
        need = await services.get_need(db_session, need_id)
        user = current_user(request)
        if not services.can_view(user, need):
            raise NotFound(_("No such need."))
        row = await board_row(db_session, need)
        return render(
            request,
            "needs/detail.html",
            row=row,
            need=need,
            can_edit=_can_edit(user, need),
            can_withdraw=_is_owner(user, need) and need.status in services.WITHDRAWABLE,
            can_take_back=_is_owner(user, need) and need.status == NeedStatus.SUBMITTED,
            own_library=user is not None and user.role == Role.LIBRARIAN and user.library_id == need.library_id,
            language_labels=LANGUAGE_LABELS,
        )

    @get("/communes/{code:int}", name="commune_page", cache=True, middleware=single_flight)
    async def commune(self, request: Request[Any, Any, Any], db_session: DbSession, code: FromPath[int]) -> Template:
        commune = await db_session.get(Commune, code)
        if commune is None:
            raise NotFound(_("No such commune."))
        province = await db_session.get(Province, commune.province_code)
        libraries = list(
            await db_session.scalars(select(Library).where(Library.commune_code == code).order_by(Library.name_folded))
        )
        filters = BoardFilters(commune_code=code, status=None, per_page=COMMUNE_PAGE_SIZE, sort="urgency",
                               page=page_number(request))
        rows, total = await services.board(db_session, filters, None)
        pages = last_page(total, filters.per_page)
        if filters.page > pages:
            filters = filters.model_copy(update={"page": pages})
            rows, total = await services.board(db_session, filters, None)
        return render(
            request,
            "needs/commune.html",
            commune=commune,
            province=province,
            libraries=libraries,
            rows=rows,
            total=total,
            page=filters.page,
            pages=pages,
            received_value=await services.received_value(db_session, code),
            # Gifts to a commune are for the province this deployment serves (the give form's list).
            give_here=commune.province_code == request.app.state.settings.province_code,
        )


def _is_owner(user: User | None, need: Need) -> bool:
    """Its library's librarian, or an officer: who may change the need."""
    return user is not None and (
        user.role == Role.OFFICER or (user.role == Role.LIBRARIAN and user.library_id == need.library_id)
    )


def _can_edit(user: User | None, need: Need) -> bool:
    return need.status in services.EDITABLE and _is_owner(user, need)


def _form_context(
    kinds: list[ItemKind], values: dict[str, Any], errors: dict[str, str], **extra: Any
) -> dict[str, Any]:
    return {
        "kinds": kinds,
        "values": values,
        "errors": errors,
        "urgencies": [(str(int(u)), _(URGENCY_LABELS[u])) for u in Urgency],
        "languages": _choices(LANGUAGE_LABELS, list(BookLanguage)),
        **extra,
    }


def _saved(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """The form's content is saved: on to `url`, telling the page (htmx) so that the copy the
    browser kept of what was typed (static/js/forms.js) is dropped."""
    response = see_other(request, url)
    response.headers["HX-Trigger"] = "form-saved"
    return response


async def _save_need(request: Request[Any, Any, Any], db: AsyncSession, need_id: int | None) -> Response[Any]:
    """Create (need_id None) or update a need from the form, and submit it if asked; on bad input,
    the form again with its messages (422)."""
    form = await request.form()
    values, data, errors = forms.parse(form)
    user, submit = acting_user(request), form.get("action") == "submit"
    form_key = forms.form_key(values.get("form_key")) if need_id is None else None
    saved = await services.saved_with_key(db, user, form_key)
    if saved is not None:  # this very form was saved already (a double tap, a retry): nothing more
        flash(request, _("This need was already saved."))
        return _saved(request, f"/needs/{saved.id}")
    if data is not None:
        try:
            if need_id is None:
                need_id = (await services.create_need(db, user, data, submit=submit, form_key=form_key)).id
            else:
                await services.update_need(db, user, need_id, data, submit=submit)
        except ValidationFailed as exc:
            errors = forms.fold_errors(exc.errors)
        else:
            flash(request, _("Sent to the province for review.") if submit else _("Need saved."))
            return _saved(request, f"/needs/{need_id}")
    need = None
    if need_id is not None:
        need = await services.get_need(db, need_id)
        services.require_editable(user, need)
    return render(
        request,
        "needs/form.html",
        fragment="needs/_form.html",
        status_code=422,
        **_form_context(await item_kinds(db), values, errors, need=need),
    )


class LibrarianNeeds(Controller):
    """A librarian's own needs: list, post, edit, submit, close."""

    path = "/library/needs"
    guards = [librarian_or_officer]

    @get("/", name="library_needs")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        user = acting_user(request)
        library = await db_session.get(Library, user.library_id) if user.library_id else None
        needs = list(
            await db_session.scalars(
                select(Need)
                .where(Need.library_id == (user.library_id or -1))
                .options(selectinload(Need.item_kind))
                .order_by(Need.created_at.desc())
            )
        )
        tasks = [task for provider in request.app.state.librarian_tasks for task in await provider(db_session, user)]
        returned = sum(1 for need in needs if need.status == NeedStatus.RETURNED)
        if returned:
            tasks.insert(0, ("#needs", _("Needs the province returned for changes: %(n)s. Open them to read its note.",
                                         n=returned)))
        return render(request, "needs/library_index.html", library=library, needs=needs, tasks=tasks)

    @get("/new", name="need_new")
    async def new(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        kinds = await item_kinds(db_session)
        values = {"urgency": "2", "form_key": forms.new_form_key()}
        return render(request, "needs/form.html", **_form_context(kinds, values, {}, need=None, restore_draft=True))

    @post("/validate", name="need_validate")
    async def validate_form(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        """Inline validation (htmx): every field's message, swapped in out of band; nothing saved
        and nothing the librarian is typing is replaced. A field still empty is not reproached
        yet (the librarian may not have reached it): sending the form says what is missing. With
        an item and a quantity, the need's value, so that a slip (1000 for 100) shows at once."""
        values, data, errors = forms.parse(await request.form())
        errors = {field: message for field, message in errors.items() if values.get(field) is not None}
        kind = await db_session.get(ItemKind, data.item_kind) if data is not None else None
        unit_value = (data.unit_value or kind.default_unit_value) if data is not None and kind is not None else None
        return Template(template_name="needs/_field_errors.html", context={
            "errors": errors, "fields": forms.FIELDS, "quantity": data.quantity if data else None,
            "unit_value": unit_value})

    @post("/new", name="need_create")
    async def create(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        return await _save_need(request, db_session, None)

    @get("/{need_id:int}/edit", name="need_edit")
    async def edit(self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]) -> Template:
        need = await services.get_need(db_session, need_id)
        services.require_editable(acting_user(request), need)
        kinds = await item_kinds(db_session)
        return render(
            request, "needs/form.html", **_form_context(kinds, forms.values_of(need), {}, need=need, restore_draft=True)
        )

    @post("/{need_id:int}/edit", name="need_update")
    async def update(
        self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]
    ) -> Response[Any]:
        return await _save_need(request, db_session, need_id)

    @post("/{need_id:int}/submit", name="need_submit")
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]
    ) -> Response[Any]:
        need = await services.get_need(db_session, need_id, for_update=True)
        await services.submit_need(db_session, acting_user(request), need)
        flash(request, _("Sent to the province for review."))
        return see_other(request, f"/needs/{need_id}")

    @post("/{need_id:int}/take-back", name="need_take_back")
    async def take_back(
        self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]
    ) -> Response[Any]:
        need = await services.get_need(db_session, need_id, for_update=True)
        await services.take_back(db_session, acting_user(request), need)
        flash(request, _("Taken back from review: correct it, then submit it again."))
        return see_other(request, f"/library/needs/{need_id}/edit")

    @post("/{need_id:int}/close", name="need_close")
    async def close(
        self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]
    ) -> Response[Any]:
        need = await services.get_need(db_session, need_id, for_update=True)
        await services.close(db_session, acting_user(request), need)
        flash(request, _("Need withdrawn.") if need.status == NeedStatus.WITHDRAWN else _("Need closed."))
        return see_other(request, f"/needs/{need_id}")


class OfficerNeeds(Controller):
    """The moderation queue and the item catalogue."""

    path = "/officer"
    guards = [officer_only]

    @get("/needs", name="moderation_queue")
    async def queue(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._queue(request, db_session)

    async def _queue(self, request: Request[Any, Any, Any], db: AsyncSession, *, status_code: int = 200,
                     errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> Template:
        filters = BoardFilters(
            status=NeedStatus.SUBMITTED, sort="newest", per_page=QUEUE_PER_PAGE, page=page_number(request)
        )
        rows, total = await services.board(db, filters, current_user(request), with_titles=True)
        return render(request, "needs/queue.html", status_code=status_code, rows=rows, total=total,
                      page=filters.page, pages=last_page(total, QUEUE_PER_PAGE), errors=errors or {},
                      values=values or {})

    @post("/needs/approve", name="moderation_bulk_approve")
    async def bulk_approve(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        return await self._bulk(request, db_session, "approve")

    @post("/needs/return", name="moderation_bulk_return")
    async def bulk_return(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        return await self._bulk(request, db_session, "return")

    @post("/needs/reject", name="moderation_bulk_reject")
    async def bulk_reject(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        return await self._bulk(request, db_session, "reject")

    async def _bulk(self, request: Request[Any, Any, Any], db: AsyncSession, action: str) -> Response[Any]:
        """The ticked needs approved, returned or rejected together (all or none), a return or a
        rejection with the one note the officer wrote for all of them."""
        form = await request.form()
        ids = form.getall("ids", [])
        if not ids:
            flash(request, _("Tick the needs to approve first.") if action == "approve"
                  else _("Tick the needs first."))
            return see_other(request, "/officer/needs")
        note = str(form.get("bulk_note") or "")
        try:
            text = _bulk_note(action, note)
        except ValidationFailed as exc:
            return await self._queue(request, db, status_code=422, errors={"bulk_note": exc.errors["note"]},
                                     values={"bulk_note": note, "ids": set(ids)})
        data = validate(BulkApproveIn, {"ids": ids})
        done = await services.bulk_moderate(db, acting_user(request), data.ids, action, text)
        flash(request, _(BULK_MODERATED[action], n=len(done)))
        return see_other(request, "/officer/needs")

    @post("/needs/{need_id:int}/{action:str}", name="moderation_action")
    async def moderate(
        self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int], action: FromPath[str]
    ) -> Response[Any]:
        values = form_data(await request.form())
        await moderate(db_session, acting_user(request), need_id, action, values)
        flash(request, _(MODERATED[action]))
        return see_other(request, "/officer/needs")

    @get("/item-kinds", name="item_kinds")
    async def catalogue(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return render(request, "needs/item_kinds.html", kinds=await item_kinds(db_session), values={}, errors={})

    @post("/item-kinds", name="item_kind_save")
    async def save_kind(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        try:
            data = validate(ItemKindIn, values)
            await services.save_item_kind(db_session, acting_user(request), data)
        except ValidationFailed as exc:
            return render(
                request,
                "needs/item_kinds.html",
                status_code=422,
                kinds=await item_kinds(db_session),
                values=values,
                errors=exc.errors,
            )
        flash(request, _("Catalogue saved."))
        return see_other(request, "/officer/item-kinds")


def _submit_flag(data: dict[str, Any]) -> bool:
    """The API's optional `submit`: a JSON boolean, never a string such as "no"."""
    submit = data.pop("submit", False)
    if not isinstance(submit, bool):
        raise ValidationFailed({"submit": _("Must be true or false.")})
    return submit


class NeedsApi(Controller):
    path = "/api/v1"
    tags = ["needs"]

    @get("/item-kinds", name="api_item_kinds")
    async def kinds(self, db_session: DbSession) -> list[dict[str, Any]]:
        return [
            {
                "key": k.key,
                "category": k.category.value,
                "name_vi": k.name_vi,
                "name_en": k.name_en,
                "default_unit_value": k.default_unit_value,
            }
            for k in await item_kinds(db_session)
        ]

    @get("/needs", name="api_needs", cache=True, middleware=single_flight)
    async def list_needs(self, request: Request[Any, Any, Any], db_session: DbSession) -> NeedPage:
        filters = _filters(request)
        rows, total = await services.board(db_session, filters, current_user(request), with_titles=True)
        return NeedPage(items=[need_out(r) for r in rows], total=total)

    @get("/needs/{need_id:int}", name="api_need")
    async def one(self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]) -> NeedOut:
        need = await services.get_need(db_session, need_id)
        if not services.can_view(current_user(request), need):
            raise NotFound(_("No such need."))
        return need_out(await board_row(db_session, need))

    @post("/needs", name="api_need_create", guards=[librarian_or_officer], status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[dict[str, Any]]
    ) -> NeedOut:
        submit = _submit_flag(data)
        need = await services.create_need(db_session, acting_user(request), validate(NeedIn, data), submit=submit)
        return need_out(await board_row(db_session, need))

    @put("/needs/{need_id:int}", name="api_need_update", guards=[librarian_or_officer])
    async def update(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        need_id: FromPath[int],
        data: JSONBody[dict[str, Any]],
    ) -> NeedOut:
        submit = _submit_flag(data)
        need = await services.update_need(
            db_session, acting_user(request), need_id, validate(NeedIn, data), submit=submit
        )
        return need_out(await board_row(db_session, need))

    @post("/needs/{need_id:int}/submit", name="api_need_submit", guards=[librarian_or_officer], status_code=200)
    async def submit(self, request: Request[Any, Any, Any], db_session: DbSession, need_id: FromPath[int]) -> NeedOut:
        need = await services.get_need(db_session, need_id, for_update=True)
        await services.submit_need(db_session, acting_user(request), need)
        return need_out(await board_row(db_session, need))

    @post("/needs/approve", name="api_needs_bulk_approve", guards=[officer_only], status_code=200)
    async def bulk_approve(
        self, request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[dict[str, Any]]
    ) -> dict[str, list[int]]:
        approved = await services.bulk_approve(db_session, acting_user(request), validate(BulkApproveIn, data).ids)
        return {"approved": [n.id for n in approved]}

    @post("/needs/return", name="api_needs_bulk_return", guards=[officer_only], status_code=200)
    async def bulk_return(
        self, request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[dict[str, Any]]
    ) -> dict[str, list[int]]:
        """Return these needs (``ids``) to their librarians with one ``note``: all or none."""
        return {"returned": await _bulk_with_text(request, db_session, data, "return", ReturnIn, "note")}

    @post("/needs/reject", name="api_needs_bulk_reject", guards=[officer_only], status_code=200)
    async def bulk_reject(
        self, request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[dict[str, Any]]
    ) -> dict[str, list[int]]:
        """Reject these needs (``ids``) with one ``reason``: all or none."""
        return {"rejected": await _bulk_with_text(request, db_session, data, "reject", RejectIn, "reason")}

    @post("/needs/{need_id:int}/{action:str}", name="api_need_moderate", guards=[officer_only], status_code=200)
    async def moderate(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        need_id: FromPath[int],
        action: FromPath[str],
        data: JSONBody[dict[str, Any] | None] = None,
    ) -> NeedOut:
        need = await moderate(db_session, acting_user(request), need_id, action, data or {})
        return need_out(await board_row(db_session, need))


async def _bulk_with_text(request: Request[Any, Any, Any], db: AsyncSession, data: dict[str, Any], action: str,
                          schema: Any, field: str) -> list[int]:
    """An API bulk move that needs a text (a return's note, a rejection's reason): the ids moved."""
    text = getattr(validate(schema, {field: data.get(field)}), field)
    ids = validate(BulkApproveIn, {"ids": data.get("ids")}).ids
    return [n.id for n in await services.bulk_moderate(db, acting_user(request), ids, action, text)]
