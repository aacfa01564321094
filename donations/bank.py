"""Bank transfers reconciled from statement CSVs, and payments an officer records by hand.

DESIGN convention 6: a bank-transfer pledge stays awaiting payment until its money shows up on an
imported statement line. Lines are deduplicated by checksum (importing a file twice changes
nothing), matched by the pledge's reference code and its amount. An exact match confirms the
pledge's bank-transfer payment; every other credit line (short or over payment, unknown or
missing reference, pledge no longer awaiting payment) waits in a review queue for an officer,
who matches it to a pledge or dismisses it with a note.

An officer's match confirms the payment **for the pledge's amount** (what the pledge, the ledger
and the receipt show); when the line's amount differs, the difference (short: negative, over:
positive) is written in the line's note and in the audit row, so the bookkeeping can settle it
with the sponsor (a refund of the excess, a reminder for the rest) outside this service.

Services never commit; each change writes an audit row (conventions 1 and 2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.models import User
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.i18n import _, format_vnd
from app.payments.registry import PaymentState
from donations import review_notes, services
from donations.models import (
    Payment,
    Pledge,
    PledgeKind,
    PledgeStatus,
    StatementLine,
    StatementLineStatus,
)
from donations.statements import REFERENCE_CODE_RE, parse_statement
from donations.statements import StatementLine as ParsedLine

BANK_TRANSFER = "bank_transfer"
OFFLINE = "offline"
# Receipt numbers the system issues itself (services.next_receipt_number): never typed by hand.
SYSTEM_RECEIPT_RE = re.compile(r"GLG-\d{4}-\d+", re.IGNORECASE)
_CHUNK = 500  # ids per IN (...) query, well under SQLite's and asyncpg's parameter limits

L = StatementLineStatus


@dataclass(frozen=True)
class ImportResult:
    new_lines: int = 0
    duplicates: int = 0
    matched: int = 0
    review: int = 0
    debits_ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "new_lines": self.new_lines,
            "duplicates": self.duplicates,
            "matched": self.matched,
            "review": self.review,
            "debits_ignored": self.debits_ignored,
        }


def pledge_code(line: ParsedLine) -> str | None:
    """The pledge reference of a line: the one code in its description, else its bank
    reference column when that is a pledge code."""
    if line.reference_code:
        return line.reference_code
    if not line.reference_codes:
        candidate = line.bank_reference.strip().upper()
        if REFERENCE_CODE_RE.fullmatch(candidate):
            return candidate
    return None


async def _existing_checksums(session: AsyncSession, checksums: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(checksums), _CHUNK):
        chunk = checksums[start : start + _CHUNK]
        found.update(
            await session.scalars(
                select(StatementLine.checksum).where(StatementLine.checksum.in_(chunk))
            )
        )
    return found


async def _pledges_by_code(session: AsyncSession, codes: Sequence[str]) -> dict[str, Pledge]:
    pledges: dict[str, Pledge] = {}
    for start in range(0, len(codes), _CHUNK):
        chunk = codes[start : start + _CHUNK]
        rows = await session.scalars(
            select(Pledge).where(Pledge.reference.in_(chunk)).order_by(Pledge.id).with_for_update()
        )
        pledges.update({p.reference: p for p in rows})
    return pledges


def _review_reason(line: ParsedLine, code: str | None, pledge: Pledge | None) -> str | None:
    """Why a line cannot confirm its pledge by itself (coded: see donations.review_notes); None for
    an exact match."""
    if code is None:
        if len(line.reference_codes) > 1:
            return review_notes.coded("several_codes")
        return review_notes.coded("no_code")
    if pledge is None:
        return review_notes.coded("unknown_code", ref=code)
    if pledge.kind != PledgeKind.MONEY or pledge.status != PledgeStatus.AWAITING_PAYMENT:
        return review_notes.coded("not_awaiting", ref=code)
    if line.amount < pledge.amount:
        return review_notes.coded("short", paid=line.amount, due=pledge.amount)
    if line.amount > pledge.amount:
        return review_notes.coded("over", paid=line.amount, due=pledge.amount)
    return None


async def _bank_payment(session: AsyncSession, pledge: Pledge) -> Payment:
    """The pledge's open bank-transfer payment, locked; a new one if it has none."""
    payment = await session.scalar(
        select(Payment)
        .where(
            Payment.pledge_id == pledge.id,
            Payment.provider == BANK_TRANSFER,
            Payment.state.in_([PaymentState.CREATED, PaymentState.PENDING]),
        )
        .order_by(Payment.id)
        .limit(1)
        .with_for_update()
    )
    if payment is None:
        payment = await services.new_payment(session, pledge, BANK_TRANSFER)
    return payment


async def import_statement(session: AsyncSession, actor: User, data: bytes) -> ImportResult:
    """Import a statement CSV. Raises StatementError (nothing written) if it cannot be read."""
    services.require_officer(actor)
    statement = parse_statement(data)  # all or nothing: fails before anything is written
    known = await _existing_checksums(session, [line.checksum for line in statement.lines])
    fresh = [line for line in statement.lines if line.checksum not in known]
    codes = {line.checksum: pledge_code(line) for line in fresh}
    pledges = await _pledges_by_code(session, sorted({c for c in codes.values() if c}))
    matched = review = 0
    for line in fresh:
        code = codes[line.checksum]
        pledge = pledges.get(code) if code else None
        reason = _review_reason(line, code, pledge)
        row = StatementLine(
            checksum=line.checksum,
            booked_on=line.date,
            amount=line.amount,
            description=line.description,
            reference=code,
            imported_by_id=actor.id,
        )
        if reason is None and pledge is not None:
            payment = await _bank_payment(session, pledge)
            await services.confirm_payment(session, payment, actor_id=actor.id)
            row.status, row.payment_id = L.MATCHED, payment.id
            row.note = _("Matched automatically to %(ref)s.", ref=pledge.reference)
            matched += 1
        else:
            row.status, row.note = L.REVIEW, reason or ""
            review += 1
        session.add(row)
        await session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action=f"statement_line.{row.status.value}",
            entity_type="statement_line",
            entity_id=row.id,
            summary=row.note,
            after={
                "status": row.status.value,
                "amount": row.amount,
                "reference": row.reference,
                "payment_id": row.payment_id,
            },
        )
    result = ImportResult(
        new_lines=len(fresh),
        duplicates=len(statement.lines) - len(fresh),
        matched=matched,
        review=review,
        debits_ignored=statement.ignored_debits,
    )
    if not fresh:
        return result  # the same file again: nothing changes, not even the audit trail
    audit.record(
        session,
        actor_id=actor.id,
        action="statement.import",
        entity_type="statement",
        entity_id=statement.layout,
        summary="",
        after=result.as_dict(),
    )
    return result


async def _review_line(session: AsyncSession, line_id: int) -> StatementLine:
    line = await session.get(StatementLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound(_("No such statement line."))
    if line.status != L.REVIEW:
        raise IllegalTransition(_("This statement line has already been resolved."))
    return line


async def review_queue(session: AsyncSession) -> list[StatementLine]:
    return list(
        await session.scalars(
            select(StatementLine)
            .where(StatementLine.status == L.REVIEW)
            .order_by(StatementLine.booked_on, StatementLine.id)
        )
    )


async def match_line(session: AsyncSession, actor: User, line_id: int, reference: str) -> Payment:
    """An officer matches a review line to a pledge awaiting payment. The payment is confirmed
    for the pledge's amount; the line's note keeps any difference (see the module's doc)."""
    services.require_officer(actor)
    line = await _review_line(session, line_id)
    code = reference.strip().upper()
    try:
        pledge = await services.get_pledge(session, code, for_update=True)
    except NotFound:
        raise ValidationFailed({"reference": _("No pledge has this reference code.")}) from None
    if pledge.kind != PledgeKind.MONEY or pledge.status != PledgeStatus.AWAITING_PAYMENT:
        raise ValidationFailed({"reference": _("This pledge is not awaiting payment.")})
    payment = await _bank_payment(session, pledge)
    await services.confirm_payment(session, payment, actor_id=actor.id)
    difference = line.amount - pledge.amount
    note = _("Matched by an officer to %(ref)s.", ref=pledge.reference)
    if difference:
        note += " " + _("Difference from the pledge: %(diff)s.", diff=format_vnd(difference))
    before = {"status": line.status.value, "reference": line.reference}
    line.status, line.payment_id, line.reference, line.note = (
        L.MATCHED,
        payment.id,
        pledge.reference,
        note,
    )
    audit.record(
        session,
        actor_id=actor.id,
        action="statement_line.match",
        entity_type="statement_line",
        entity_id=line.id,
        summary=note,
        before=before,
        after={
            "status": line.status.value,
            "reference": pledge.reference,
            "payment_id": payment.id,
            "difference": difference,
        },
    )
    return payment


async def dismiss_line(
    session: AsyncSession, actor: User, line_id: int, note: str
) -> StatementLine:
    """An officer sets a review line aside (not a pledge's money), saying why."""
    services.require_officer(actor)
    note = note.strip()
    if not note:
        raise ValidationFailed({"note": _("Say why this line is dismissed.")})
    line = await _review_line(session, line_id)
    before = {"status": line.status.value, "note": line.note}
    line.status, line.note = L.DISMISSED, note
    audit.record(
        session,
        actor_id=actor.id,
        action="statement_line.dismiss",
        entity_type="statement_line",
        entity_id=line.id,
        summary=note,
        before=before,
        after={"status": line.status.value},
    )
    return line


async def record_offline_payment(
    session: AsyncSession, actor: User, pledge: Pledge, receipt_number: str
) -> Payment:
    """Cash or a transfer an officer received by hand, with the paper receipt's number."""
    services.require_officer(actor)
    number = receipt_number.strip()
    if SYSTEM_RECEIPT_RE.fullmatch(number):
        raise ValidationFailed(
            {
                "receipt_number": _(
                    "GLG- numbers are issued by the system: enter the paper receipt's number."
                )
            }
        )
    taken = await session.scalar(select(Payment.id).where(Payment.receipt_number == number))
    if taken is not None:
        raise ValidationFailed(
            {"receipt_number": _("Receipt number %(number)s is already recorded.", number=number)}
        )
    payment = await services.new_payment(session, pledge, OFFLINE)
    await services.confirm_payment(session, payment, actor_id=actor.id, receipt_number=number)
    return payment


async def receive_at_hub(session: AsyncSession, actor: User, pledge: Pledge) -> Pledge:
    """An officer confirms that the items of an in-kind pledge arrived at the hub."""
    services.require_officer(actor)
    if pledge.kind == PledgeKind.MONEY:
        raise IllegalTransition(_("This pledge is money, not items."))
    return await services.receive_in_kind(session, actor, pledge)
