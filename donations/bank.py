"""Bank transfers reconciled from statement CSVs, payments an officer records by hand, and goods
an officer receives at the hub.

DESIGN convention 6: a bank-transfer pledge stays awaiting payment until its money shows up on an
imported statement line. Lines are deduplicated by checksum (importing a file twice changes
nothing), matched by the pledge's reference code and its amount. An exact match confirms the
pledge's bank-transfer payment; every other credit line (short or over payment, unknown or
missing reference, pledge no longer awaiting payment) waits in a review queue for an officer,
who matches it to a pledge, holds it, or dismisses it with a note.

Every đồng accounted for: the ledger and the receipt never state money that did not arrive.

- A **short** payment matched by an officer is confirmed **for the amount that arrived**: the
  pledge's amount (what the ledger, the receipt, the sponsor's pages and the honor roll count)
  becomes that amount, and the audit row ``pledge.short_payment`` keeps what was pledged and the
  shortfall. A money pledge to a need then funds the whole items the money pays for; the items no
  longer funded go back to the need (others may pledge them). A transfer that does not pay for one
  item of the need cannot be matched to it: hold it.
- An **over** payment is confirmed for the pledge's amount (what the sponsor chose to give); the
  excess is written in the line's note and in the audit row, and listed with the money held (below).
  So is the remainder of a short transfer to a need that pays for no whole item.
- Money for a pledge that no longer awaits payment (canceled, expired, already paid), or with no
  pledge at all, can be **held**: the line is recorded as money received awaiting a refund or a
  reassignment (status ``held``, the officer's note, an audit row). A line that is not money for
  the province at all is **dismissed** with a note.

Money held (a held line, an excess, a remainder) is listed on the statements page until an officer
settles it, refunded or reassigned to a pledge awaiting payment: see ``donations.held_money``.

Goods at the hub: the officer enters the quantity that really arrived and the value per item
accepted (the pledge's by default, within the catalogue's bounds, ``services.unit_value_bounds``);
fewer items or another value need a note. The pledge then counts the accepted figures (the ledger,
the receipt, later deliveries), the audit row ``pledge.accept_goods`` keeps the pledged ones, and
items missing from a gift to a need go back to that need.

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
from donations.deliveries import NOTE_MAX
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
from needs.models import ItemKind

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


async def bank_payment(session: AsyncSession, pledge: Pledge) -> Payment:
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
            bank_reference=line.bank_reference,
            reference=code,
            imported_by_id=actor.id,
        )
        if reason is None and pledge is not None:
            payment = await bank_payment(session, pledge)
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


async def _review_line(session: AsyncSession, line_id: int, status: StatementLineStatus = L.REVIEW,
                       wrong_status: str | None = None) -> StatementLine:
    """The line, locked, if it is in `status` (404 if there is none, 409 otherwise)."""
    line = await session.get(StatementLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound(_("No such statement line."))
    if line.status != status:
        raise IllegalTransition(wrong_status or _("This statement line has already been resolved."))
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
    """An officer matches a review line to a pledge awaiting payment. A short payment is confirmed
    for the amount received (the pledge counts that), an over payment for the pledge's amount; the
    line's note and the audit keep the difference (see the module's doc)."""
    services.require_officer(actor)
    line = await _review_line(session, line_id)
    code = reference.strip().upper()
    try:
        pledge = await services.get_pledge(session, code, for_update=True)
    except NotFound:
        raise ValidationFailed({"reference": _("No pledge has this reference code.")}) from None
    if pledge.kind != PledgeKind.MONEY or pledge.status != PledgeStatus.AWAITING_PAYMENT:
        raise ValidationFailed({"reference": _("This pledge is not awaiting payment.")})
    difference = line.amount - pledge.amount
    quantity = pledge.quantity
    if difference < 0 and pledge.need_id is not None:  # the money funds fewer whole items
        quantity = line.amount // pledge.unit_value
        if quantity == 0:
            raise ValidationFailed({"reference": _(
                "%(paid)s does not pay for one item of this need (%(price)s): hold the money instead.",
                paid=format_vnd(line.amount), price=format_vnd(pledge.unit_value))})
    payment = await bank_payment(session, pledge)
    if difference < 0:
        # To a need, the whole items the money pays for; what pays for no item is held (listed
        # with the held money, like an over payment's excess), so no đồng is booked for nothing.
        counted = quantity * pledge.unit_value if pledge.need_id is not None else line.amount
        await _count_what_arrived(session, actor, pledge, payment, counted, quantity)
    await services.confirm_payment(session, payment, actor_id=actor.id)
    note = _("Matched by an officer to %(ref)s.", ref=pledge.reference)
    if difference < 0:
        note += " " + _("Confirmed for the amount received; %(short)s less than pledged.",
                        short=format_vnd(-difference))
    elif difference:
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


async def _count_what_arrived(session: AsyncSession, actor: User, pledge: Pledge, payment: Payment,
                              received: int, quantity: int) -> None:
    """A short payment: the pledge (and its payment) count what arrived; the audit keeps the rest."""
    before = {"amount": pledge.amount, "quantity": pledge.quantity}
    if pledge.need_id is not None:
        await services.give_back_items(session, pledge.need_id, pledge.quantity - quantity)
    pledge.amount, pledge.quantity, payment.amount = received, quantity, received
    audit.record(
        session,
        actor_id=actor.id,
        action="pledge.short_payment",
        entity_type="pledge",
        entity_id=pledge.id,
        summary=_("Short payment: %(paid)s received, %(due)s pledged.",
                  paid=format_vnd(received), due=format_vnd(before["amount"])),
        before=before,
        after={"amount": received, "quantity": quantity, "shortfall": before["amount"] - received},
    )


async def hold_line(session: AsyncSession, actor: User, line_id: int, note: str) -> StatementLine:
    """An officer records a review line as money received that waits for a refund or a
    reassignment (a canceled or expired pledge's money, an unknown sender), saying what to do."""
    return await _resolve(session, actor, line_id, note, L.HELD, "statement_line.hold",
                          _("Say whose money this is and what should be done with it."))


async def dismiss_line(
    session: AsyncSession, actor: User, line_id: int, note: str
) -> StatementLine:
    """An officer sets a review line aside (not a pledge's money), saying why."""
    return await _resolve(session, actor, line_id, note, L.DISMISSED, "statement_line.dismiss",
                          _("Say why this line is dismissed."))


async def reopen_line(session: AsyncSession, actor: User, line_id: int, note: str) -> StatementLine:
    """A line dismissed by mistake (it was a pledge's money after all) goes back to the review
    queue, to be matched or held, with the officer's reason; the dismissal stays in the audit."""
    return await _resolve(session, actor, line_id, note, L.REVIEW, "statement_line.reopen",
                          _("Say why this line goes back to review."), from_status=L.DISMISSED,
                          wrong_status=_("Only a dismissed line can go back to review."))


async def _resolve(session: AsyncSession, actor: User, line_id: int, note: str, to: StatementLineStatus,
                   action: str, missing_note: str, *, from_status: StatementLineStatus = L.REVIEW,
                   wrong_status: str | None = None) -> StatementLine:
    services.require_officer(actor)
    note = note.strip()
    if not note:
        raise ValidationFailed({"note": missing_note})
    line = await _review_line(session, line_id, from_status, wrong_status)
    before = {"status": line.status.value, "note": line.note}
    line.status, line.note = to, note
    audit.record(
        session,
        actor_id=actor.id,
        action=action,
        entity_type="statement_line",
        entity_id=line.id,
        summary=note,
        before=before,
        after={"status": line.status.value, "amount": line.amount},
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


async def receive_at_hub(session: AsyncSession, actor: User, pledge: Pledge, quantity: int | None,
                         unit_value: int | None, note: str | None = None) -> Pledge:
    """An officer confirms that the items of an in-kind pledge arrived at the hub: how many really
    arrived (1 to the pledged quantity) and the value accepted per item (see the module's doc)."""
    services.require_officer(actor)
    if pledge.kind == PledgeKind.MONEY:
        raise IllegalTransition(_("This pledge is money, not items."))
    if pledge.status != PledgeStatus.AWAITING_DELIVERY:
        raise IllegalTransition(_("This pledge is not waiting for its items."))
    kind = await session.get(ItemKind, pledge.item_kind_key)
    assert kind is not None
    errors: dict[str, str] = {}
    if quantity is None or not 1 <= quantity <= pledge.quantity:
        errors["quantity"] = _("Enter how many arrived: from 1 to %(n)s.", n=pledge.quantity)
    # A gift to a need is valued at the need's price, which an officer approved: kept as it is, it
    # is not checked again; any other value stays within the catalogue's bounds.
    if unit_value is None or unit_value != pledge.unit_value or pledge.need_id is None:
        try:
            services.check_unit_value(unit_value, kind.default_unit_value)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    note = (note or "").strip()
    changed = (quantity, unit_value) != (pledge.quantity, pledge.unit_value)
    if len(note) > NOTE_MAX:
        errors["note"] = _("Must be at most %(n)s characters.", n=NOTE_MAX)
    elif changed and not note and not errors:
        errors["note"] = _("Fewer items or another value than pledged: say why.")
    if errors:
        raise ValidationFailed(errors)
    assert quantity is not None and unit_value is not None
    if changed:
        before = {"quantity": pledge.quantity, "unit_value": pledge.unit_value, "value": pledge.value}
        if pledge.need_id is not None:
            await services.give_back_items(session, pledge.need_id, pledge.quantity - quantity)
        pledge.quantity, pledge.unit_value = quantity, unit_value
        audit.record(
            session,
            actor_id=actor.id,
            action="pledge.accept_goods",
            entity_type="pledge",
            entity_id=pledge.id,
            summary=note,
            before=before,
            after={"quantity": quantity, "unit_value": unit_value, "value": pledge.value,
                   "missing": before["quantity"] - quantity},
        )
    return await services.receive_in_kind(session, actor, pledge)
