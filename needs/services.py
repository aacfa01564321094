"""Every change to a need: it checks who may do it and whether the transition is legal, then
writes it with an audit row. Services never commit (the request's session does)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app import audit
from app.auth.models import Role, User
from app.db import insert_once, utcnow
from app.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from app.geography.models import Commune, Library
from app.i18n import _
from app.outbox import notify
from app.text import like_pattern
from needs.catalog import catalogue_changed
from needs.models import (
    PUBLIC_STATUSES,
    STATUS_LABELS,
    ItemCategory,
    ItemKind,
    Need,
    NeedStatus,
    NeedTitle,
)
from needs.schemas import BoardFilters, ItemKindIn, NeedIn

S = NeedStatus
ALLOWED: dict[NeedStatus, frozenset[NeedStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    # Its library may take it back (to correct it) or withdraw it while it waits for review.
    S.SUBMITTED: frozenset({S.APPROVED, S.RETURNED, S.REJECTED, S.DRAFT, S.WITHDRAWN}),
    S.RETURNED: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.OPEN, S.CLOSED}),
    S.OPEN: frozenset({S.FULFILLED, S.CLOSED, S.EXPIRED}),
    S.REJECTED: frozenset(),
    S.FULFILLED: frozenset(),
    S.CLOSED: frozenset(),
    S.EXPIRED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
EDITABLE = frozenset({S.DRAFT, S.RETURNED})
# What its library may withdraw: before approval it becomes withdrawn (never public); once
# public, closed (it leaves the board; gifts already pledged to it still come).
WITHDRAWABLE = frozenset({S.DRAFT, S.SUBMITTED, S.RETURNED, S.APPROVED, S.OPEN})


# --- who may see and touch a need ---------------------------------------------------------


def can_view(user: User | None, need: Need) -> bool:
    if need.status in PUBLIC_STATUSES:
        return True
    return user is not None and (
        user.role == Role.OFFICER or (user.role == Role.LIBRARIAN and user.library_id == need.library_id)
    )


def _require_own_library(user: User, need: Need) -> None:
    """Librarians act on their own library's needs only; officers on any."""
    if user.role == Role.OFFICER:
        return
    if user.role != Role.LIBRARIAN or user.library_id != need.library_id:
        raise Forbidden(_("You can only change the needs of your own library."))


def require_editable(user: User, need: Need) -> None:
    _require_own_library(user, need)
    if need.status not in EDITABLE:
        raise IllegalTransition(
            _("A need can be changed only while it is a draft or returned for changes.")
        )


def _require_officer(user: User) -> None:
    if user.role != Role.OFFICER:
        raise Forbidden(_("Only province officers can moderate needs."))


async def get_need(session: AsyncSession, need_id: int, *, for_update: bool = False) -> Need:
    query = select(Need).where(Need.id == need_id).options(selectinload(Need.titles))
    if for_update:
        query = query.with_for_update()
    need = await session.scalar(query)
    if need is None:
        raise NotFound(_("No such need."))
    return need


# --- writing needs --------------------------------------------------------------------------


async def _resolve(session: AsyncSession, actor: User, data: NeedIn) -> tuple[Library, ItemKind]:
    if actor.role == Role.LIBRARIAN:
        if data.library_id not in (None, actor.library_id):
            raise Forbidden(_("You can only change the needs of your own library."))
        library_id = actor.library_id
    elif actor.role == Role.OFFICER:
        library_id = data.library_id
    else:
        raise Forbidden(_("Only librarians and province officers can post needs."))
    library = await session.get(Library, library_id) if library_id else None
    if library is None:
        raise ValidationFailed({"library_id": _("Choose an existing library.")})
    kind = await session.get(ItemKind, data.item_kind)
    if kind is None:
        raise ValidationFailed({"item_kind": _("Choose a kind of item from the catalogue.")})
    if kind.category != ItemCategory.BOOK and (data.titles or data.language):
        raise ValidationFailed({"titles": _("Titles and a language apply to books only.")})
    return library, kind


def _snapshot(need: Need) -> dict[str, object]:
    return {
        "status": need.status.value, "item_kind": need.item_kind_key, "quantity": need.quantity,
        "unit_value": need.unit_value, "urgency": int(need.urgency),
    }


def _apply(need: Need, data: NeedIn, kind: ItemKind) -> None:
    need.item_kind_key = kind.key
    need.quantity = data.quantity
    need.unit_value = data.unit_value or kind.default_unit_value
    need.urgency = data.urgency
    need.reason = data.reason
    need.deadline = data.deadline
    need.language = data.language
    need.titles = [
        NeedTitle(position=i, title=t.title, author=t.author, isbn=t.isbn) for i, t in enumerate(data.titles)
    ]


async def saved_with_key(session: AsyncSession, actor: User, form_key: str | None) -> Need | None:
    """The need this person already made from the form with this key (the same form sent again:
    a double tap, a retry after a lost answer), if any."""
    if not form_key:
        return None
    return await session.scalar(select(Need).where(Need.form_key == form_key, Need.created_by_id == actor.id))


async def create_need(
    session: AsyncSession, actor: User, data: NeedIn, *, submit: bool = False, form_key: str | None = None
) -> Need:
    """A new need (a draft, or submitted). `form_key`, the posting form's one-time key, is unique:
    the same form sent twice at the same instant makes one need (the other gets 409)."""
    library, kind = await _resolve(session, actor, data)
    commune = await session.get(Commune, library.commune_code)
    assert commune is not None  # a library's commune always exists (foreign key)
    need = Need(
        library_id=library.id, commune_code=commune.code, province_code=commune.province_code,
        status=S.DRAFT, created_by_id=actor.id, titles=[], form_key=form_key or None,
    )
    _apply(need, data, kind)
    await insert_once(session, need, _("This need was already saved: find it in your library's needs."))
    audit.record(
        session, actor_id=actor.id, action="need.create", entity_type="need", entity_id=need.id,
        after=_snapshot(need),
    )
    if submit:
        await submit_need(session, actor, need)
    return need


async def update_need(
    session: AsyncSession, actor: User, need_id: int, data: NeedIn, *, submit: bool = False
) -> Need:
    need = await get_need(session, need_id, for_update=True)
    require_editable(actor, need)
    data = data.model_copy(update={"library_id": need.library_id})
    _library, kind = await _resolve(session, actor, data)
    before = _snapshot(need)
    _apply(need, data, kind)
    audit.record(
        session, actor_id=actor.id, action="need.update", entity_type="need", entity_id=need.id,
        before=before, after=_snapshot(need),
    )
    if submit:
        await submit_need(session, actor, need)
    return need


# --- the lifecycle ------------------------------------------------------------------------------


def _move(
    session: AsyncSession, actor: User | None, need: Need, to: NeedStatus, action: str, summary: str = ""
) -> None:
    if to not in ALLOWED[need.status]:
        raise IllegalTransition(
            _(
                "This need is %(status)s: it cannot become %(target)s.",
                status=_(STATUS_LABELS[need.status]).lower(),
                target=_(STATUS_LABELS[to]).lower(),
            )
        )
    before = need.status
    need.status = to
    audit.record(
        session, actor_id=actor.id if actor else None, action=action, entity_type="need",
        entity_id=need.id, summary=summary, before={"status": before.value}, after={"status": to.value},
    )


async def _tell_librarians(session: AsyncSession, need: Need, topic: str, subject: str, body: str) -> None:
    """A message (the outbox: an e-mail where SMTP is configured) to each active librarian of the
    need's library, so a librarian who seldom signs in learns of the office's decision."""
    librarians = await session.scalars(select(User.id).where(
        User.library_id == need.library_id, User.role == Role.LIBRARIAN, User.is_active.is_(True)))
    for librarian_id in librarians:
        notify(session, librarian_id, topic, subject, body)


async def submit_need(session: AsyncSession, actor: User, need: Need) -> Need:
    _require_own_library(actor, need)
    _move(session, actor, need, S.SUBMITTED, "need.submit")
    need.submitted_at = utcnow()
    return need


async def approve(session: AsyncSession, actor: User, need: Need) -> Need:
    """Approve a submitted need. An approved need opens at once (the `approved` state is kept
    distinct so a later policy can hold approved needs before they open)."""
    _require_officer(actor)
    _move(session, actor, need, S.APPROVED, "need.approve")
    need.approved_at = utcnow()
    need.moderation_note = ""
    _move(session, actor, need, S.OPEN, "need.open")
    await _tell_librarians(session, need, "need.approved", _("Your need no. %(id)s is approved", id=need.id),
                           _("The province approved your need no. %(id)s: sponsors now see it on the needs board.",
                             id=need.id))
    return need


async def bulk_approve(session: AsyncSession, actor: User, ids: Iterable[int]) -> list[Need]:
    """Approve all of these, or none: one that cannot be approved stops the whole batch."""
    return await bulk_moderate(session, actor, ids, "approve")


async def bulk_moderate(
    session: AsyncSession, actor: User, ids: Iterable[int], action: str, text: str = ""
) -> list[Need]:
    """Approve, return (``text``: what should change) or reject (``text``: the reason) all of these,
    or none: one that cannot be moved stops the whole batch. Each need gets its own audit row with
    the note, as when moderated one by one."""
    _require_officer(actor)
    wanted = sorted(set(ids))
    needs = list(
        await session.scalars(select(Need).where(Need.id.in_(wanted)).order_by(Need.id).with_for_update())
    )
    if len(needs) != len(wanted):
        raise NotFound(_("No such need."))
    for need in needs:
        if action == "approve":
            await approve(session, actor, need)
        elif action == "return":
            await return_for_changes(session, actor, need, text)
        elif action == "reject":
            await reject(session, actor, need, text)
        else:
            raise ValueError(f"no bulk moderation {action!r}")  # a caller's mistake, never a person's input
    return needs


async def return_for_changes(session: AsyncSession, actor: User, need: Need, note: str) -> Need:
    _require_officer(actor)
    _move(session, actor, need, S.RETURNED, "need.return", summary=note)
    need.moderation_note = note
    await _tell_librarians(session, need, "need.returned", _("Your need no. %(id)s needs changes", id=need.id),
                           _("The province returned your need no. %(id)s for changes: %(note)s Correct it and "
                             "send it again.", id=need.id, note=note))
    return need


async def reject(session: AsyncSession, actor: User, need: Need, reason: str) -> Need:
    _require_officer(actor)
    _move(session, actor, need, S.REJECTED, "need.reject", summary=reason)
    need.moderation_note = reason
    await _tell_librarians(session, need, "need.rejected", _("Your need no. %(id)s is not approved", id=need.id),
                           _("The province did not approve your need no. %(id)s: %(reason)s", id=need.id,
                             reason=reason))
    return need


async def take_back(session: AsyncSession, actor: User, need: Need) -> Need:
    """Its library takes a need back from review to correct it: submitted → draft."""
    _require_own_library(actor, need)
    _move(session, actor, need, S.DRAFT, "need.take_back")
    need.submitted_at = None
    return need


async def close(session: AsyncSession, actor: User, need: Need) -> Need:
    """Its library (or an officer) withdraws a need: one never approved becomes withdrawn and
    stays private; an approved or open one is closed (public, off the board)."""
    _require_own_library(actor, need)
    if need.status in (S.DRAFT, S.SUBMITTED, S.RETURNED):
        _move(session, actor, need, S.WITHDRAWN, "need.withdraw")
    else:
        _move(session, actor, need, S.CLOSED, "need.close")
    return need


async def mark_fulfilled(session: AsyncSession, actor: User | None, need: Need) -> Need:
    _move(session, actor, need, S.FULFILLED, "need.fulfil")
    return need


async def expire_overdue(session: AsyncSession, today: date) -> int:
    """Expire open needs whose deadline has passed (a daily job); returns how many."""
    overdue = await session.scalars(
        select(Need).where(Need.status == S.OPEN, Need.deadline < today).with_for_update()
    )
    count = 0
    for need in overdue:
        _move(session, None, need, S.EXPIRED, "need.expire", summary=f"deadline {need.deadline}")
        count += 1
    return count


# --- the board ------------------------------------------------------------------------------------


@dataclass
class BoardRow:
    need: Need
    library_name: str
    commune_name: str
    item_name_vi: str
    item_name_en: str


def _filtered(
    query: Select[tuple[Any, ...]],
    filters: BoardFilters,
    statuses: frozenset[NeedStatus] | None,
    library_ids: list[int] | None,
) -> Select[tuple[Any, ...]]:
    """The query narrowed to the needs that pass the filters. Libraries are resolved to ids
    first, so each filter meets an index on needs; a category is the catalogue's (small) list of
    its kinds, read in the same statement."""
    if filters.status is not None:
        query = query.where(Need.status == filters.status)
    if statuses is not None:
        query = query.where(Need.status.in_(statuses))
    if filters.province_code is not None:
        query = query.where(Need.province_code == filters.province_code)
    if filters.commune_code is not None:
        query = query.where(Need.commune_code == filters.commune_code)
    if filters.urgency is not None:
        query = query.where(Need.urgency == filters.urgency)
    if filters.item:
        query = query.where(Need.item_kind_key == filters.item)
    elif filters.category is not None:
        query = query.where(Need.item_kind_key.in_(select(ItemKind.key).where(ItemKind.category == filters.category)))
    if library_ids is not None:
        query = query.where(Need.library_id.in_(library_ids))
    return query


async def _matching_libraries(session: AsyncSession, filters: BoardFilters) -> list[int] | None:
    """The libraries a search or a library kind allows (None: no such filter)."""
    searching = bool(filters.q and filters.q.strip())
    if filters.library_kind is None and not searching:
        return None
    libraries = select(Library.id)
    if filters.library_kind is not None:
        libraries = libraries.where(Library.kind == filters.library_kind)
    if searching:
        pattern = like_pattern(filters.q or "")
        libraries = libraries.join(Commune, Library.commune_code == Commune.code).where(
            or_(
                Library.name_folded.like(pattern, escape="\\"),
                Commune.name_folded.like(pattern, escape="\\"),
            )
        )
    return list(await session.scalars(libraries))


ORDER = {
    "urgency": (Need.urgency.desc(), Need.created_at.desc(), Need.id.desc()),
    "newest": (Need.created_at.desc(), Need.id.desc()),
    "least_covered": (Need.coverage_permille.asc(), Need.urgency.desc(), Need.id.desc()),
}


def visible_statuses(viewer: User | None) -> frozenset[NeedStatus] | None:
    """Officers see every status on the board; everyone else sees approved needs only."""
    return None if viewer is not None and viewer.role == Role.OFFICER else PUBLIC_STATUSES


async def board(
    session: AsyncSession, filters: BoardFilters, viewer: User | None, *, with_titles: bool = False
) -> tuple[list[BoardRow], int]:
    statuses = visible_statuses(viewer)
    library_ids = await _matching_libraries(session, filters)
    narrow = (filters, statuses, library_ids)
    count = _filtered(select(func.count()).select_from(Need), *narrow)
    # The page's ids first, from needs alone (sorted on an index, or a small sort of needs rows),
    # then only those rows joined to their names: the joins never run over every matching need.
    page = (
        _filtered(select(Need.id), *narrow)
        .order_by(*ORDER[filters.sort])
        .limit(filters.per_page)
        .offset((filters.page - 1) * filters.per_page)
        .subquery()
    )
    query = (
        # The total rides along (computed once by the database), saving a round trip.
        select(Need, Library.name, Commune.name, ItemKind.name_vi, ItemKind.name_en, count.scalar_subquery())
        .join(page, Need.id == page.c.id)
        .join(Library, Need.library_id == Library.id)
        .join(Commune, Need.commune_code == Commune.code)
        .join(ItemKind, Need.item_kind_key == ItemKind.key)
        .order_by(*ORDER[filters.sort])
    )
    if with_titles:
        query = query.options(selectinload(Need.titles))
    rows = (await session.execute(query)).all()
    if rows:
        total = rows[0][-1]
    else:  # past the last page (or nothing matches): the total on its own
        total = 0 if filters.page == 1 else (await session.scalar(count) or 0)
    return [BoardRow(*row[:-1]) for row in rows], total


async def received_value(session: AsyncSession, commune_code: int) -> int:
    """What a commune's approved needs have received so far (delivered items at their value), over
    all of them, however many."""
    total = await session.scalar(
        select(func.sum(Need.delivered_quantity * Need.unit_value)).where(
            Need.commune_code == commune_code, Need.status.in_(PUBLIC_STATUSES)
        )
    )
    return int(total or 0)


async def open_needs_count(session: AsyncSession, province_code: int) -> dict[str, int]:
    """The home page's figure."""
    count = await session.scalar(
        select(func.count()).select_from(Need).where(Need.status == S.OPEN, Need.province_code == province_code)
    )
    return {"open_needs": count or 0}


# --- the catalogue --------------------------------------------------------------------------------


async def save_item_kind(session: AsyncSession, actor: User, data: ItemKindIn) -> ItemKind:
    """Add a kind, or change an existing kind's names and default value."""
    _require_officer(actor)
    kind = await session.get(ItemKind, data.key)
    before = None
    if kind is None:
        if not data.key.startswith(f"{data.category.value}/"):
            raise ValidationFailed({"key": _("The key must start with %(prefix)s.", prefix=f"{data.category.value}/")})
        position = await session.scalar(select(func.max(ItemKind.position))) or 0
        kind = ItemKind(key=data.key, category=data.category, position=position + 1)
        session.add(kind)
    else:
        before = {"name_vi": kind.name_vi, "name_en": kind.name_en, "default_unit_value": kind.default_unit_value}
    kind.name_vi, kind.name_en, kind.default_unit_value = data.name_vi, data.name_en, data.default_unit_value
    catalogue_changed(session)
    audit.record(
        session, actor_id=actor.id, action="item_kind.save", entity_type="item_kind", entity_id=data.key,
        before=before,
        after={"name_vi": kind.name_vi, "name_en": kind.name_en, "default_unit_value": kind.default_unit_value},
    )
    return kind
