"""Every imported bank statement line, for the officers' list (``/officer/statements/lines``): what
became of each (matched to a pledge's payment, waiting for review, held, dismissed), the note, the
pledge it paid, and the totals per status. Matched and dismissed lines leave the statements page's
queue; here they stay findable, by the bank's transaction reference, the pledge code, words of the
description or the line's number, so the money on the province's account can be reconciled with
the bank's own statement."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from donations.held_money import settled_by_line
from donations.models import Payment, Pledge, StatementLine, StatementLineStatus

PER_PAGE = 50


@dataclass(frozen=True)
class LineFilters:
    status: StatementLineStatus | None = None
    q: str = ""  # part of the bank's reference, the pledge code or the description
    line: int | None = None  # one line, by its number
    since: dt.date | None = None  # booked on, both days included
    until: dt.date | None = None
    page: int = 1


@dataclass(frozen=True)
class LineRow:
    line: StatementLine
    paid_reference: str | None  # the pledge whose payment the line confirmed
    paid_amount: int | None  # what that payment counts (less than the line: an excess is held)
    settled: int = 0  # held money of the line refunded or reassigned since (donations.held_money)

    @property
    def held(self) -> int:
        """What of the line is held (its excess over the payment, or all of a held line)."""
        if self.line.status == StatementLineStatus.HELD:
            return self.line.amount
        if self.line.status == StatementLineStatus.MATCHED and self.paid_amount is not None:
            return self.line.amount - self.paid_amount
        return 0

    @property
    def still_held(self) -> int:
        return self.held - self.settled


@dataclass(frozen=True)
class StatusTotal:
    status: StatementLineStatus
    count: int
    amount: int


@dataclass(frozen=True)
class LinesPage:
    rows: list[LineRow]
    total: int
    totals: list[StatusTotal]

    @property
    def amount(self) -> int:
        return sum(t.amount for t in self.totals)


def _conditions(filters: LineFilters, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if with_status and filters.status is not None:
        conditions.append(StatementLine.status == filters.status)
    if filters.line is not None:
        conditions.append(StatementLine.id == filters.line)
    text = filters.q.strip()
    if text:
        conditions.append(or_(StatementLine.reference.contains(text.upper(), autoescape=True),
                              func.lower(StatementLine.bank_reference).contains(text.lower(), autoescape=True),
                              func.lower(StatementLine.description).contains(text.lower(), autoescape=True),
                              StatementLine.description.contains(text, autoescape=True)))
    if filters.since:
        conditions.append(StatementLine.booked_on >= filters.since)
    if filters.until:
        conditions.append(StatementLine.booked_on <= filters.until)
    return conditions


async def statement_lines(session: AsyncSession, filters: LineFilters) -> LinesPage:
    """One page of the lines the filters select, the latest booked first, and the totals per status
    of the lines the other filters select (all statuses, so the buckets add up to what came in)."""
    conditions = _conditions(filters)
    total = await session.scalar(select(func.count()).select_from(StatementLine).where(*conditions)) or 0
    settled = settled_by_line()
    result = await session.execute(
        select(StatementLine, Pledge.reference, Payment.amount, func.coalesce(settled.c.total, 0))
        .outerjoin(Payment, Payment.id == StatementLine.payment_id)
        .outerjoin(Pledge, Pledge.id == Payment.pledge_id)
        .outerjoin(settled, settled.c.line_id == StatementLine.id)
        .where(*conditions)
        .order_by(StatementLine.booked_on.desc(), StatementLine.id.desc())
        .limit(PER_PAGE).offset((filters.page - 1) * PER_PAGE))
    rows = [LineRow(line, reference, amount, int(done)) for line, reference, amount, done in result]
    by_status = dict(((status, (count, amount)) for status, count, amount in await session.execute(
        select(StatementLine.status, func.count(), func.sum(StatementLine.amount))
        .where(*_conditions(filters, with_status=False)).group_by(StatementLine.status))))
    totals = [StatusTotal(s, *(int(v or 0) for v in by_status.get(s, (0, 0)))) for s in StatementLineStatus]
    return LinesPage(rows, total, totals)
