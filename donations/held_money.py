"""Money held on the province's account that is no pledge's, and its settlement.

Held money (``donations.bank``) is money that arrived but pays for no pledge: a statement line
held in full (a canceled or expired pledge's money, an unknown sender), an over payment's excess
(a matched line whose amount exceeds its payment's), or the remainder of a short transfer to a need
that paid for no whole item (matched the same way: the payment counts the whole items, the line
the whole transfer). It never enters the ledger. It stays listed on the statements page until an
officer settles it, in part or in full, in one of two ways:

- **Refunded**: the money went back to the sender. The officer records the amount (at most what
  is still held; the rest stays held), the day the bank sent it (neither in the future nor before
  the money arrived) and a note (the bank's transfer reference). Nothing enters the ledger: the
  money was never counted as a gift.
- **Reassigned**: with the sender's agreement, the money pays a pledge awaiting bank-transfer
  payment, named by its reference code, whose amount the money still held covers. The pledge's
  bank-transfer payment is confirmed exactly as an exact statement match confirms it
  (``bank.bank_payment`` then ``services.confirm_payment``: a receipt number, one ledger entry of
  the pledge's amount, a gift to a need allocated to it), and the settlement records the line the
  money came from, the pledge and the payment. Whatever the pledge does not take stays held.

Why a reassignment pays an existing pledge rather than making a new pool pledge: a held line has
no known sponsor (often it has no pledge at all), so the platform cannot name a donor for the
receipt by itself; the sender, once agreed, pledges as anyone does (or already has), and the held
money pays that pledge for its exact amount. The receipt and the ledger then state an amount that
arrived, once: what is held drops by the same amount the ledger gains (a line's money is always
the payment it matched, plus its settlements, plus what is still held).

Still held = what was held less the sum of the line's settlements (``HeldMoneySettlement``); a
line settled in full leaves the list (its status stays ``held`` or ``matched``, its history is in
the settlements). Each settlement locks its statement line (``with_for_update()``) and carries the
number the page showed it (the line's first settlement is 1, the next 2 ...), unique per line: a
form sent twice, or two officers settling the same money at once, writes one settlement and
answers the other with 409 — PostgreSQL by the row lock (the second sees the first's settlement),
SQLite, which has no row locks, by the unique number.

Services never commit; each settlement writes an audit row (``held_money.refund`` or
``held_money.reassign``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app import audit
from app.auth.models import User
from app.db import insert_once
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.i18n import VN_TZ, _, format_date, format_vnd
from donations import bank, services
from donations.deliveries import NOTE_MAX
from donations.models import (
    HeldMoneySettlement,
    Payment,
    Pledge,
    PledgeKind,
    PledgeStatus,
    SettlementKind,
    StatementLine,
    StatementLineStatus,
)

L = StatementLineStatus


@dataclass(frozen=True)
class HeldMoney:
    """Money on the account that is no pledge's: a held line in full, an over payment's excess or a
    short transfer's remainder (``amount``), less what was settled since (``settled``)."""

    line: StatementLine
    amount: int
    settled: int = 0
    times_settled: int = 0

    @property
    def left(self) -> int:
        """What is still held."""
        return self.amount - self.settled

    @property
    def next_number(self) -> int:
        """The number the next settlement of this line takes (see the module's doc)."""
        return self.times_settled + 1


def settled_by_line():  # type: ignore[no-untyped-def]
    """Per statement line with settlements: their total (``total``) and how many (``count``)."""
    return (
        select(HeldMoneySettlement.line_id, func.sum(HeldMoneySettlement.amount).label("total"),
               func.count().label("count"))
        .group_by(HeldMoneySettlement.line_id)
        .subquery()
    )


def _held(*, still_held_only: bool = False) -> Select[tuple[StatementLine, int, int, int]]:
    settled = settled_by_line()
    held = StatementLine.amount - func.coalesce(Payment.amount, 0)
    query = (
        select(StatementLine, held, func.coalesce(settled.c.total, 0), func.coalesce(settled.c.count, 0))
        .outerjoin(Payment, Payment.id == StatementLine.payment_id)
        .outerjoin(settled, settled.c.line_id == StatementLine.id)
        .where(or_(StatementLine.status == L.HELD,
                   and_(StatementLine.status == L.MATCHED, StatementLine.amount > Payment.amount)))
    )
    return query.where(held > func.coalesce(settled.c.total, 0)) if still_held_only else query


async def held_money(session: AsyncSession) -> list[HeldMoney]:
    """Everything still held, oldest first (lines settled in full are left out by the query)."""
    query = _held(still_held_only=True).order_by(StatementLine.booked_on, StatementLine.id)
    return [HeldMoney(line, amount, settled, count) for line, amount, settled, count in await session.execute(query)]


async def settlements(session: AsyncSession) -> list[HeldMoneySettlement]:
    """Every settlement, the latest first, with its line, pledge and officer."""
    return list(await session.scalars(
        select(HeldMoneySettlement)
        .options(selectinload(HeldMoneySettlement.line), selectinload(HeldMoneySettlement.pledge),
                 selectinload(HeldMoneySettlement.actor))
        .order_by(HeldMoneySettlement.created_at.desc(), HeldMoneySettlement.id.desc())))


def settled_meanwhile() -> str:
    return _("This money was settled meanwhile (the form was perhaps sent twice): "
             "reload the page and check what is still held.")


async def _held_line(session: AsyncSession, line_id: int, number: int | None) -> HeldMoney:
    """The line's held money, the line locked; 409 when none is left or the form is out of date."""
    line = await session.get(StatementLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound(_("No such statement line."))
    row = (await session.execute(_held().where(StatementLine.id == line_id))).one_or_none()
    held = HeldMoney(line, *row[1:]) if row is not None else None
    if held is None or held.left <= 0:
        raise IllegalTransition(_("No money is held on this statement line."))
    if number != held.next_number:
        raise IllegalTransition(settled_meanwhile())
    return held


def _note_error(note: str, missing: str) -> dict[str, str]:
    if not note:
        return {"note": missing}
    if len(note) > NOTE_MAX:
        return {"note": _("Must be at most %(n)s characters.", n=NOTE_MAX)}
    return {}


def today() -> dt.date:
    """Today in Vietnam."""
    return dt.datetime.now(VN_TZ).date()


async def refund(session: AsyncSession, actor: User, line_id: int, number: int | None, amount: int | None,
                 day: dt.date | None, note: str) -> HeldMoneySettlement:
    """An officer records that held money was paid back: ``amount`` (at most what is still held)
    on ``day`` (neither in the future nor before the money arrived), with a note. ``amount`` or
    ``day`` None: not a whole number, not a date."""
    services.require_officer(actor)
    held = await _held_line(session, line_id, number)
    note = note.strip()
    errors = _note_error(note, _("Say how the money was paid back, e.g. the bank's transfer reference."))
    if amount is None:
        errors["amount"] = _("Enter the amount in whole đồng, e.g. 150000.")
    elif amount <= 0:
        errors["amount"] = _("Must be more than %(n)s.", n=format_vnd(0))
    elif amount > held.left:
        errors["amount"] = _("At most %(held)s of this money is still held.", held=format_vnd(held.left))
    if day is None:
        errors["day"] = _("Enter a valid date.")
    elif day > today():
        errors["day"] = _("A refund cannot be dated in the future.")
    elif day < held.line.booked_on:
        errors["day"] = _("A refund cannot be dated before the money arrived (%(date)s).",
                          date=format_date(held.line.booked_on))
    if errors:
        raise ValidationFailed(errors)
    assert amount is not None and day is not None
    return await _settle(session, actor, held, number, SettlementKind.REFUND, amount, day, note)


async def reassign(session: AsyncSession, actor: User, line_id: int, number: int | None, reference: str,
                   note: str) -> Payment:
    """With the sender's agreement, held money pays the pledge with this reference code: it must
    await a bank-transfer payment of at most what is still held. Confirmed as an exact statement
    match is (see the module's doc); the rest stays held."""
    services.require_officer(actor)
    held = await _held_line(session, line_id, number)
    note = note.strip()
    errors = _note_error(note, _("Say how the sender agreed, e.g. their letter or call and its date."))
    code = reference.strip().upper()
    pledge: Pledge | None = None
    if not code:
        errors["reference"] = _("This field is required.")
    else:
        try:
            pledge = await services.get_pledge(session, code, for_update=True)
        except NotFound:
            errors["reference"] = _("No pledge has this reference code.")
    if pledge is not None:
        if pledge.kind != PledgeKind.MONEY or pledge.status != PledgeStatus.AWAITING_PAYMENT:
            errors["reference"] = _("This pledge is not awaiting payment.")
        elif pledge.amount > held.left:
            errors["reference"] = _("This pledge is for %(due)s: only %(held)s of this money is still held.",
                                    due=format_vnd(pledge.amount), held=format_vnd(held.left))
    if errors:
        raise ValidationFailed(errors)
    assert pledge is not None
    payment = await bank.bank_payment(session, pledge)
    await services.confirm_payment(session, payment, actor_id=actor.id)
    await _settle(session, actor, held, number, SettlementKind.REASSIGN, payment.amount, today(), note,
                  pledge, payment)
    return payment


async def _settle(session: AsyncSession, actor: User, held: HeldMoney, number: int | None, kind: SettlementKind,
                  amount: int, day: dt.date, note: str, pledge: Pledge | None = None,
                  payment: Payment | None = None) -> HeldMoneySettlement:
    assert number is not None
    after = {"kind": kind.value, "number": number, "amount": amount, "day": day.isoformat(),
             "held": held.left - amount}
    if pledge is not None and payment is not None:
        after.update(reference=pledge.reference, payment_id=payment.id, receipt_number=payment.receipt_number)
    audit.record(
        session,
        actor_id=actor.id,
        action=f"held_money.{kind.value}",
        entity_type="statement_line",
        entity_id=held.line.id,
        summary=note,
        before={"held": held.left},
        after=after,
    )
    # Written before the settlement's savepoint: on SQLite a savepoint opened before the
    # transaction's first write would be committed on its own when released.
    await session.flush()
    row = HeldMoneySettlement(line_id=held.line.id, number=number, kind=kind, amount=amount, day=day, note=note,
                              pledge_id=pledge.id if pledge else None, payment_id=payment.id if payment else None,
                              actor_id=actor.id)
    await insert_once(session, row, settled_meanwhile())  # the number taken: a concurrent submission (SQLite)
    return row
