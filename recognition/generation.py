"""Computing a roll in the database: what counts, per sponsor, tiered and ranked, in SQL.

One aggregating `CREATE TEMPORARY TABLE ... AS SELECT` sums the period's counted contributions per
sponsor (and per anonymity: an anonymous gift is never added to a sponsor's named total, it is
counted in the anonymous group) and gives each sum the highest form whose threshold (for the
sponsor's category) it reaches, with the name and postal address to print (`users.address`; both
NULL for the anonymous group, so an anonymous sponsor's are never copied onto the roll); one
`INSERT ... SELECT` then writes the entries (an anonymous entry's address is ''), `ROW_NUMBER()`
ranking the sponsors within their category and form by value, ties going to the earliest
contribution; the period's totals and the summary per category and form are summed from the same
work table. No row passes through Python. Everything runs unchanged on SQLite and PostgreSQL.

The pass reads no more than the roll needs: each pledge stores its province (`pledges.province_code`,
set once when it is built), so nothing is joined to find it, and each kind that counts has a partial
index on (province, date) that includes the sponsor, the anonymity and the value (`ix_pledges_roll_money`,
`ix_pledges_roll_in_kind`): PostgreSQL reads the province's slice of the period from the indexes alone.

What counts (the rule set says which kinds):

- money when confirmed: status paid, allocated, delivered or acknowledged, its `amount`, on its
  `confirmed_at`;
- books and equipment when the library acknowledged them: status acknowledged, at
  `accepted_value`, on `acknowledged_at`.

A pledge's province: its need's province, else its commune's, else (a gift to the pool) the
province this deployment serves (`settings.province_code`), as the matching adapter has it; stored
on the pledge by `donations.services.build_pledge` (and, for a pledge written otherwise, when it is
inserted).
The period is the calendar days [start, end] in Vietnam's time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    case,
    column,
    func,
    insert,
    literal,
    not_,
    null,
    select,
    table,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.functions import FunctionElement

from app.auth.models import SponsorType, User
from app.i18n import VN_TZ
from donations.models import ROLL_IN_KIND_COUNTED, ROLL_MONEY_COUNTED, Pledge, PledgeKind
from recognition.models import FORM_ORDER, Category, EntryDecision, EntrySource, HonorRoll, RollEntry, RuleSet

CODE_LENGTH = 20  # hex digits: 80 random bits
WORK_MEM = "64MB"


class random_code(FunctionElement[str]):  # noqa: N801 - a SQL function's name
    """A fresh random certificate code per row, from the database's strong random source."""

    type = String()
    inherit_cache = True


@compiles(random_code, "sqlite")
def _random_code_sqlite(_element: random_code, _compiler: object, **_kw: object) -> str:
    return f"lower(hex(randomblob({CODE_LENGTH // 2})))"


@compiles(random_code, "postgresql")
def _random_code_postgresql(_element: random_code, _compiler: object, **_kw: object) -> str:
    return f"substr(encode(sha256(gen_random_uuid()::text::bytea), 'hex'), 1, {CODE_LENGTH})"


def period_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, the day after end 00:00) in Vietnam, as UTC instants."""
    lower = dt.datetime.combine(start, dt.time.min, VN_TZ).astimezone(dt.UTC)
    upper = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, VN_TZ).astimezone(dt.UTC)
    return lower, upper


def contributions(rule_set: RuleSet):  # type: ignore[no-untyped-def]
    """The period's counted contributions in the rule set's province: sponsor, anonymity, value,
    date (a subquery). Each kind reads its own partial index on (province, date), which holds every
    column needed: the province is stored on the pledge, so no join."""
    lower, upper = period_bounds(rule_set.period_start, rule_set.period_end)
    in_province = Pledge.province_code == rule_set.province_code
    parts = []
    if rule_set.count_money:
        parts.append(
            select(Pledge.sponsor_id.label("sponsor_id"), Pledge.anonymous.label("anonymous"),
                   Pledge.amount.label("value"), Pledge.confirmed_at.label("at"))
            .where(text(f"({ROLL_MONEY_COUNTED})"), in_province,
                   Pledge.confirmed_at >= lower, Pledge.confirmed_at < upper))
    in_kind = [k for k, on in ((PledgeKind.BOOKS, rule_set.count_books),
                               (PledgeKind.EQUIPMENT, rule_set.count_equipment)) if on]
    if in_kind:
        query = (
            select(Pledge.sponsor_id.label("sponsor_id"), Pledge.anonymous.label("anonymous"),
                   Pledge.accepted_value.label("value"), Pledge.acknowledged_at.label("at"))
            .where(text(f"({ROLL_IN_KIND_COUNTED})"), in_province,
                   Pledge.acknowledged_at >= lower, Pledge.acknowledged_at < upper))
        if len(in_kind) == 1:
            query = query.where(Pledge.kind == in_kind[0])
        parts.append(query)
    if not parts:
        parts.append(select(Pledge.sponsor_id.label("sponsor_id"), Pledge.anonymous.label("anonymous"),
                            Pledge.amount.label("value"), Pledge.confirmed_at.label("at")).where(literal(False)))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("contributions")


def per_sponsor(rule_set: RuleSet):  # type: ignore[no-untyped-def]
    c = contributions(rule_set)
    return (
        select(c.c.sponsor_id, c.c.anonymous, func.sum(c.c.value).label("total"),
               func.count().label("gifts"), func.min(c.c.at).label("first_at"))
        .group_by(c.c.sponsor_id, c.c.anonymous)
        .subquery("per_sponsor")
    )


def tiered(rule_set: RuleSet):  # type: ignore[no-untyped-def]
    """Per sponsor and anonymity: the total, the gifts, the first date, the category and the form
    reached (NULL below the lowest), and the name and postal address to show (NULL when anonymous)."""
    s = per_sponsor(rule_set)
    is_collective = User.sponsor_type == SponsorType.ORGANISATION.value
    category = case((is_collective, Category.COLLECTIVE.value), else_=Category.INDIVIDUAL.value)

    def threshold(form_index: int):  # type: ignore[no-untyped-def]
        form = FORM_ORDER[form_index]
        return case((is_collective, rule_set.threshold(form, Category.COLLECTIVE)),
                    else_=rule_set.threshold(form, Category.INDIVIDUAL))

    form_rank = case(*((s.c.total >= threshold(i), i + 1) for i in range(len(FORM_ORDER))), else_=null())
    return (
        select(
            s.c.sponsor_id, s.c.anonymous, s.c.total, s.c.gifts, s.c.first_at,
            category.label("category"), is_collective.label("collective"), form_rank.label("form_rank"),
            case((s.c.anonymous, null()), else_=func.coalesce(User.organisation_name, User.full_name)).label("name"),
            case((s.c.anonymous, null()), else_=User.address).label("address"),
        )
        .select_from(s)
        .join(User, User.id == s.c.sponsor_id)
    )


WORK_TABLE = "recognition_work"
TEMP_SCHEMA = {"postgresql": "pg_temp", "sqlite": "temp"}
work = table(WORK_TABLE, *(column(name) for name in (
    "sponsor_id", "anonymous", "total", "gifts", "first_at", "category", "collective", "form_rank", "name", "address")))


class CreateTempTableAs(Executable, ClauseElement):
    """`CREATE TEMPORARY TABLE name AS SELECT ...` (SQLite and PostgreSQL; PostgreSQL runs the
    SELECT in parallel, which it does not for an INSERT ... SELECT)."""

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


@compiles(CreateTempTableAs)
def _create_temp_table_as(element: CreateTempTableAs, compiler: Any, **kw: Any) -> str:
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.query, **kw)}"


def ranked_entries(roll_id: int):  # type: ignore[no-untyped-def]
    """The roll's donor entries from the work table, ranked (columns named as RollEntry's)."""
    t = work.c
    form = case(*((t.form_rank == i + 1, f.value) for i, f in enumerate(FORM_ORDER)))
    # Partitioned by the boolean rather than the category's text: a sort on text compares by collation.
    rank = func.row_number().over(partition_by=(t.collective, t.form_rank),
                                  order_by=(t.total.desc(), t.first_at, t.sponsor_id))
    return (
        select(
            literal(roll_id, Integer).label("roll_id"),
            literal(EntrySource.DONATIONS.value, String).label("source"),
            t.category, form.label("form"), t.form_rank, rank.label("rank"), t.sponsor_id,
            t.anonymous, t.name, func.coalesce(t.address, literal("", String)).label("address"), t.total.label("value"),
            t.gifts.label("gift_count"), t.first_at, literal("", String).label("work"),
        )
        .select_from(work)
        .where(t.form_rank.is_not(None))
    )


ENTRY_COLUMNS = ["roll_id", "source", "category", "form", "form_rank", "rank", "sponsor_id", "anonymous", "name",
                 "address", "value", "gift_count", "first_at", "work"]


@dataclass(frozen=True)
class Group:
    """The donor entries of one category and form: how many, how many anonymous, their value."""

    count: int
    anonymous: int
    value: int


@dataclass(frozen=True)
class Totals:
    value: int
    contributors: int
    groups: dict[tuple[str, int], Group]  # by (category, form rank)
    left_out: list[dict[str, Any]]  # named sponsors the period's decisions left out


async def insert_donor_entries(session: AsyncSession, rule_set: RuleSet, roll_id: int) -> Totals:
    """Write the roll's donor entries; return the period's totals (everything counted, and how
    many sponsors gave it). One pass over the pledges into a temporary work table (per sponsor:
    one row per anonymity), then one INSERT ... SELECT ranking the rows that reach a form.
    Certificate codes are given when the roll is published: a draft has none."""
    if session.get_bind().dialect.name == "postgresql":
        # Room for the aggregation and the ranking's sort in memory, for this transaction only.
        await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    # Qualified, so that only a temporary table of that name could ever be dropped.
    drop = text(f"DROP TABLE IF EXISTS {TEMP_SCHEMA[session.get_bind().dialect.name]}.{WORK_TABLE}")
    await session.execute(drop)
    await session.execute(CreateTempTableAs(WORK_TABLE, tiered(rule_set)))
    try:
        left_out = await apply_decisions(session, rule_set)
        columns = [getattr(RollEntry.__table__.c, name) for name in ENTRY_COLUMNS]
        await session.execute(insert(RollEntry).from_select(columns, ranked_entries(roll_id)))
        row = (await session.execute(
            select(func.coalesce(func.sum(work.c.total), 0), func.count(func.distinct(work.c.sponsor_id)))
        )).one()
        # The entries' summary per group, from the work table (smaller than the entries just written).
        t = work.c
        groups = {(str(category), int(form_rank)): Group(int(n), int(anonymous or 0), int(value or 0))
                  for category, form_rank, n, anonymous, value in await session.execute(
                      select(t.category, t.form_rank, func.count(), func.sum(case((t.anonymous, 1), else_=0)),
                             func.sum(t.total))
                      .where(t.form_rank.is_not(None)).group_by(t.category, t.form_rank))}
    finally:
        await session.execute(drop)
    return Totals(value=int(row[0]), contributors=int(row[1]), groups=groups, left_out=left_out)


def left_out_row(name: str | None, category: str, form: str, reason: str | None, revoked: bool, version: int,
                 decision_id: int) -> dict[str, Any]:
    """How `HonorRoll.left_out` lists someone a decision keeps out: who, what they would have had,
    why, and in which version it was decided."""
    return {"name": name, "category": category, "form": form, "reason": reason, "revoked": bool(revoked),
            "version": int(version), "decision_id": int(decision_id)}


async def apply_decisions(session: AsyncSession, rule_set: RuleSet) -> list[dict[str, Any]]:
    """The office's decisions about the period's named sponsors (`EntryDecision`), applied to the
    work table before it is ranked, in three statements whatever the roll's size: a sponsor left
    out (excluded, or revoked in an earlier version) loses their form, so has no entry but stays in
    the totals; an edited one takes the name, address and form decided. Returns who was left out
    that would have had an entry (name, category, form, reason, where it was decided)."""
    d = EntryDecision
    t = work.c
    of_period = (d.province_code == rule_set.province_code, d.period_key == rule_set.period_key)
    if await session.scalar(select(d.id).where(*of_period, d.sponsor_id.is_not(None)).limit(1)) is None:
        return []  # nothing decided yet: the work table is left alone
    named_in_a_form = (not_(t.anonymous), t.form_rank.is_not(None))
    excluded = select(d.sponsor_id).where(*of_period, d.sponsor_id.is_not(None), d.excluded_reason.is_not(None))
    rows = await session.execute(
        select(t.name, t.category, t.form_rank, d.excluded_reason, d.revoked, HonorRoll.version, d.id)
        .select_from(work).join(d, (d.sponsor_id == t.sponsor_id) & of_period[0] & of_period[1])
        .join(HonorRoll, HonorRoll.id == d.roll_id)
        .where(*named_in_a_form, d.excluded_reason.is_not(None)).order_by(t.form_rank, t.category, t.name))
    left_out = [left_out_row(name, str(category), FORM_ORDER[int(form_rank) - 1].value, reason, revoked, version,
                             decision_id)
                for name, category, form_rank, reason, revoked, version, decision_id in rows]
    if left_out:
        await session.execute(update(work).where(*named_in_a_form, t.sponsor_id.in_(excluded))
                              .values(form_rank=null()))

    def decided(column):  # type: ignore[no-untyped-def]
        return select(column).where(*of_period, d.sponsor_id == t.sponsor_id).scalar_subquery()

    decided_rank = case(*((d.form == form, i + 1) for i, form in enumerate(FORM_ORDER)), else_=null())
    edited = select(d.sponsor_id).where(*of_period, d.sponsor_id.is_not(None), d.excluded_reason.is_(None),
                                        (d.name.is_not(None)) | (d.address.is_not(None)) | (d.form.is_not(None)))
    await session.execute(
        update(work).where(*named_in_a_form, t.sponsor_id.in_(edited))
        .values(name=func.coalesce(decided(d.name), t.name), address=func.coalesce(decided(d.address), t.address),
                form_rank=func.coalesce(decided(decided_rank), t.form_rank)))
    return left_out


async def give_codes(session: AsyncSession, roll_id: int) -> None:
    """A fresh random certificate code for every named entry of the roll (one UPDATE)."""
    await session.execute(
        update(RollEntry).where(RollEntry.roll_id == roll_id, RollEntry.anonymous.is_(False), RollEntry.code.is_(None))
        .values(code=random_code()).execution_options(synchronize_session=False))
