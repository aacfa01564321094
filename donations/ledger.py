"""The public transparency ledger: every confirmed donation, with totals by month and commune.

One row per pledge whose money was confirmed or whose goods were received (and what became of
it since, refunds included). A gift in kind is worth what its in-kind ledger entries say arrived
(goods a sponsor brings count what the librarian received); items that never arrived and were
released back to their need (``donations.shortfalls``) are shown as no longer allocated. An
anonymous sponsor's name never leaves the database: the query itself answers NULL for it. Totals
are computed in SQL (GROUP BY) over the same filtered rows, refunded donations excluded (they are
listed, marked refunded, but no longer given).

Months are calendar months in Vietnam's time (UTC+7), on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.geography.models import Commune, Library
from donations.models import LedgerEntry, LedgerKind, Pledge, PledgeKind, PledgeStatus
from needs.models import ItemKind, Need

P = PledgeStatus
# Money confirmed or goods received, and whatever happened after.
CONFIRMED = (P.PAID, P.RECEIVED, P.ALLOCATED, P.DELIVERED, P.ACKNOWLEDGED, P.REFUNDED)
POOL = "pool"  # the commune filter's value for the province pool
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class LedgerFilters:
    month: str | None = None  # "YYYY-MM"
    commune: int | str | None = None  # a commune code, or POOL
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class LedgerRow:
    reference: str
    confirmed_at: dt.datetime
    sponsor: str | None  # None: anonymous
    kind: PledgeKind
    item_key: str | None
    item_name_vi: str | None
    item_name_en: str | None
    quantity: int
    unit_value: int
    value: int
    commune_code: int | None
    commune_name: str | None
    library_name: str | None
    status: PledgeStatus
    accepted_value: int = 0
    released: int = 0  # VND of items that never arrived, given back to their need (no longer allocated)
    allocated: int = 0  # VND the matching drew from it so far (money to the pool or a commune)

    @property
    def acknowledged_value(self) -> int | None:
        """What the receiving library acknowledged (received items at their value), once it has."""
        return self.accepted_value if self.status == P.ACKNOWLEDGED else None

    @property
    def shortfall(self) -> bool:
        return self.status == P.ACKNOWLEDGED and self.accepted_value < self.value

    @property
    def not_delivered(self) -> int:
        """What was allocated and will not arrive (released), shown beside the allocation."""
        return self.released if self.status != P.REFUNDED else 0

    @property
    def partly_allocated(self) -> bool:
        """Money still waiting in part: some of it allocated, the rest for a later matching."""
        return self.status == P.PAID and self.is_money and 0 < self.allocated < self.value

    @property
    def anonymous(self) -> bool:
        return self.sponsor is None

    @property
    def is_money(self) -> bool:
        return self.kind == PledgeKind.MONEY


@dataclass(frozen=True)
class Total:
    key: str  # "YYYY-MM", or the commune code ("" for the pool)
    label: str | None  # the commune's name (None for months and the pool)
    count: int
    value: int


@dataclass(frozen=True)
class MoneySummary:
    """Where the money given went, over the same rows as the totals: every đồng confirmed is either
    allocated to needs (``allocated``, of which ``lost`` bought items that never arrived and were
    released) or waits for the next matching (``waiting``); goods count apart (``goods``)."""

    confirmed: int = 0
    allocated: int = 0
    lost: int = 0
    goods: int = 0

    @property
    def waiting(self) -> int:
        return self.confirmed - self.allocated


@dataclass
class LedgerPage:
    rows: list[LedgerRow]
    total: int
    by_month: list[Total] = field(default_factory=list)
    by_commune: list[Total] = field(default_factory=list)
    money: MoneySummary = field(default_factory=MoneySummary)

    @property
    def grand_total(self) -> int:
        return sum(t.value for t in self.by_month)


def _moves() -> Any:
    """Per pledge: the sum of its in-kind entries and of their items (NULL when it has none), the
    value allocated (positive allocation entries) and the value released back to needs (negative
    ones)."""
    allocation = LedgerEntry.kind == LedgerKind.ALLOCATION
    in_kind = LedgerEntry.kind == LedgerKind.IN_KIND
    return (
        select(LedgerEntry.pledge_id.label("pledge_id"),
               func.sum(case((in_kind, LedgerEntry.amount), else_=null())).label("in_kind"),
               func.sum(case((in_kind, LedgerEntry.quantity), else_=null())).label("in_kind_quantity"),
               func.sum(case((and_(allocation, LedgerEntry.amount > 0), LedgerEntry.amount), else_=0))
               .label("allocated"),
               func.sum(case((and_(allocation, LedgerEntry.amount < 0), -LedgerEntry.amount), else_=0))
               .label("released"))
        .where(or_(LedgerEntry.kind == LedgerKind.IN_KIND, allocation))
        .group_by(LedgerEntry.pledge_id)
        .subquery("moves")
    )


async def goods_arrived(session: AsyncSession, pledge_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per in-kind pledge: the items and the VND its in-kind entries say arrived (at the hub, or at
    the library for goods the sponsor brings), as the ledger counts them; the receipt and the
    sponsor's dashboard state the same. A pledge with no entry is not in the answer."""
    if not pledge_ids:
        return {}
    rows = await session.execute(
        select(LedgerEntry.pledge_id, func.sum(LedgerEntry.quantity), func.sum(LedgerEntry.amount))
        .where(LedgerEntry.kind == LedgerKind.IN_KIND, LedgerEntry.pledge_id.in_(pledge_ids))
        .group_by(LedgerEntry.pledge_id))
    return {pledge_id: (int(quantity), int(value)) for pledge_id, quantity, value in rows}


def pledge_value(moves: Any = None) -> ColumnElement[int]:
    """Money: the amount. In kind: what its in-kind entries say arrived (``moves``), else items ×
    unit value."""
    in_kind: ColumnElement[int] = Pledge.quantity * Pledge.unit_value
    if moves is not None:
        in_kind = func.coalesce(moves.c.in_kind, in_kind)
    return case((Pledge.kind == PledgeKind.MONEY, Pledge.amount), else_=in_kind)


def month_of(column: Any, dialect: str) -> ColumnElement[str]:
    """The Vietnam-time month of a UTC timestamp, as "YYYY-MM"."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Ho_Chi_Minh", column), "YYYY-MM")
    return func.strftime("%Y-%m", column, "+7 hours")


def _where(filters: LedgerFilters, dialect: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Pledge.status.in_(CONFIRMED)]
    if filters.month:
        conditions.append(month_of(Pledge.confirmed_at, dialect) == filters.month)
    if filters.commune == POOL:
        conditions.append(Pledge.commune_code.is_(None))
    elif isinstance(filters.commune, int):
        conditions.append(Pledge.commune_code == filters.commune)
    return conditions


def _rows_query(conditions: list[ColumnElement[bool]]) -> Select[Any]:
    moves = _moves()
    sponsor = case((Pledge.anonymous, null()),
                   else_=func.coalesce(User.organisation_name, User.full_name))
    return (
        select(Pledge.reference, Pledge.confirmed_at, sponsor.label("sponsor"), Pledge.kind,
               Pledge.item_kind_key.label("item_key"), ItemKind.name_vi.label("item_name_vi"),
               ItemKind.name_en.label("item_name_en"),
               case((Pledge.kind == PledgeKind.MONEY, Pledge.quantity),
                    else_=func.coalesce(moves.c.in_kind_quantity, Pledge.quantity)).label("quantity"),
               Pledge.unit_value, pledge_value(moves).label("value"), Pledge.commune_code,
               Commune.name.label("commune_name"), Library.name.label("library_name"),
               Pledge.status, Pledge.accepted_value, func.coalesce(moves.c.released, 0).label("released"),
               func.coalesce(moves.c.allocated, 0).label("allocated"))
        .join(User, User.id == Pledge.sponsor_id)
        .outerjoin(moves, moves.c.pledge_id == Pledge.id)
        .outerjoin(ItemKind, ItemKind.key == Pledge.item_kind_key)
        .outerjoin(Commune, Commune.code == Pledge.commune_code)
        .outerjoin(Need, Need.id == Pledge.need_id)
        .outerjoin(Library, Library.id == Need.library_id)
        .where(*conditions)
        .order_by(Pledge.confirmed_at.desc(), Pledge.id.desc())
    )


async def ledger(
    session: AsyncSession, filters: LedgerFilters, *, paginate: bool = True
) -> LedgerPage:
    dialect = session.get_bind().dialect.name
    conditions = _where(filters, dialect)
    query = _rows_query(conditions)
    if paginate:
        query = query.limit(filters.per_page).offset((filters.page - 1) * filters.per_page)
    rows = [LedgerRow(**row._asdict()) for row in await session.execute(query)]
    count = await session.scalar(select(func.count()).select_from(Pledge).where(*conditions)) or 0
    given = and_(*conditions, Pledge.status != P.REFUNDED)
    month = month_of(Pledge.confirmed_at, dialect).label("month")
    moves = _moves()
    value = pledge_value(moves)
    by_month = await session.execute(
        select(month, func.count(), func.sum(value)).outerjoin(moves, moves.c.pledge_id == Pledge.id)
        .where(given).group_by(month).order_by(month.desc())
    )
    by_commune = await session.execute(
        select(Pledge.commune_code, Commune.name, func.count(), func.sum(value))
        .outerjoin(Commune, Commune.code == Pledge.commune_code)
        .outerjoin(moves, moves.c.pledge_id == Pledge.id)
        .where(given).group_by(Pledge.commune_code, Commune.name)
        .order_by(func.sum(value).desc(), Commune.name)
    )
    is_money = Pledge.kind == PledgeKind.MONEY
    confirmed, allocated, lost, goods = (await session.execute(
        select(func.sum(case((is_money, Pledge.amount), else_=0)),
               func.sum(case((is_money, func.coalesce(moves.c.allocated, 0)), else_=0)),
               func.sum(case((is_money, func.coalesce(moves.c.released, 0)), else_=0)),
               func.sum(case((is_money, 0), else_=value)))
        .outerjoin(moves, moves.c.pledge_id == Pledge.id).where(given))).one()
    return LedgerPage(
        rows=rows, total=count,
        money=MoneySummary(int(confirmed or 0), int(allocated or 0), int(lost or 0), int(goods or 0)),
        by_month=[Total(m, None, n, int(v or 0)) for m, n, v in by_month],
        by_commune=[Total("" if code is None else str(code), name, n, int(v or 0))
                    for code, name, n, v in by_commune],
    )


async def ledger_months(session: AsyncSession) -> list[str]:
    """The months that have confirmed donations, newest first (the month filter's choices)."""
    month = month_of(Pledge.confirmed_at, session.get_bind().dialect.name).label("month")
    result = await session.scalars(
        select(month).where(Pledge.status.in_(CONFIRMED)).group_by(month).order_by(month.desc())
    )
    return list(result)


async def ledger_communes(session: AsyncSession) -> list[tuple[int, str]]:
    """The communes that received confirmed donations (the commune filter's choices)."""
    result = await session.execute(
        select(Commune.code, Commune.name).join(Pledge, Pledge.commune_code == Commune.code)
        .where(Pledge.status.in_(CONFIRMED))
        .group_by(Commune.code, Commune.name, Commune.name_folded).order_by(Commune.name_folded)
    )
    return [(code, name) for code, name in result]
