"""Every change to honor rolls: checked, written, audited (rule sets: `rules`; nominations:
`nominations`).
Services never commit; the request (or the command) owns the transaction.

A roll's life: draft → submitted → approved (decision number, date, signer) → published. A draft
can be generated again (with the period's newest rules) and its entries edited; a submitted roll
can go back to draft. Published is final: a snapshot with its sha256 is kept, and a correction is a
new version (with a change note) that goes through the same steps and, once published, supersedes
the old one. Entries of a published roll can only be revoked, with a reason shown publicly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app import audit
from app.auth.models import User
from app.db import insert_once, utcnow
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.i18n import VN_TZ, _, format_date, format_document_date
from app.outbox import OutboxMessage, notify
from app.text import fold
from recognition import generation, nominations, rules
from recognition.models import (
    DEPARTMENT_DECISION_FIELDS,
    FORM_ORDER,
    ROLL_STATUS_LABELS,
    Category,
    CommendationForm,
    EntryDecision,
    EntrySource,
    HonorRoll,
    RollEntry,
    RollStatus,
    RuleSet,
)
from recognition.schemas import ApproveIn, CorrectionIn, EntryEditIn, RevokeIn

S = RollStatus
ALLOWED: dict[RollStatus, frozenset[RollStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.APPROVED, S.DRAFT}),
    S.APPROVED: frozenset({S.PUBLISHED, S.DRAFT}),
    S.PUBLISHED: frozenset(),
}


def published_is_final() -> IllegalTransition:
    return IllegalTransition(_(
        "A published roll cannot be changed. Make a correction: it becomes a new version with a change note."))


def _move(session: AsyncSession, actor: User | None, roll: HonorRoll, to: RollStatus, action: str,
          after: dict[str, Any] | None = None) -> None:
    if to not in ALLOWED[roll.status]:
        if roll.status == S.PUBLISHED:
            raise published_is_final()
        if to == roll.status:  # a second click
            raise IllegalTransition(_("This roll is already %(status)s.", status=_(ROLL_STATUS_LABELS[to]).lower()))
        raise IllegalTransition(_(
            "This roll is %(status)s: it cannot become %(target)s.",
            status=_(ROLL_STATUS_LABELS[roll.status]).lower(), target=_(ROLL_STATUS_LABELS[to]).lower()))
    before = roll.status
    roll.status = to
    audit.record(session, actor_id=actor.id if actor else None, action=action, entity_type="honor_roll",
                 entity_id=roll.id, before={"status": before.value}, after={"status": to.value, **(after or {})})


# --- generating a roll ----------------------------------------------------------------------------


async def get_roll(session: AsyncSession, roll_id: int, *, for_update: bool = False) -> HonorRoll:
    query = select(HonorRoll).where(HonorRoll.id == roll_id)
    if for_update:
        query = query.with_for_update()
    roll = await session.scalar(query)
    if roll is None:
        raise NotFound(_("No such honor roll."))
    return roll


async def rolls(session: AsyncSession, province_code: int) -> list[HonorRoll]:
    return list(await session.scalars(
        select(HonorRoll).where(HonorRoll.province_code == province_code)
        .order_by(HonorRoll.period_key.desc(), HonorRoll.version.desc())))


async def _fill(session: AsyncSession, roll: HonorRoll, rule_set: RuleSet, *, fresh: bool) -> None:
    """Compute the roll's entries and figures from the period's contributions and nominations (a
    draft generated again first loses its entries; a fresh roll has none), honouring the period's
    decisions (`EntryDecision`: edits carried over, exclusions and revocations left out, listed in
    `roll.left_out`). One function for generating again and for a correction."""
    roll.rule_set_id = rule_set.id
    if not fresh:
        await session.execute(delete(RollEntry).where(RollEntry.roll_id == roll.id))
    totals = await generation.insert_donor_entries(session, rule_set, roll.id)
    counts = {key: group.count for key, group in totals.groups.items()}
    nominated: dict[tuple[str, int], int] = {}
    left_out = list(totals.left_out)
    decisions = {d.nomination_id: (d, version) for d, version in await session.execute(
        select(EntryDecision, HonorRoll.version).join(HonorRoll, HonorRoll.id == EntryDecision.roll_id).where(
            EntryDecision.province_code == roll.province_code, EntryDecision.period_key == roll.period_key,
            EntryDecision.nomination_id.is_not(None)))}
    open_ones = await nominations.in_province(session, roll.province_code, roll.period_key, withdrawn=False)
    for nomination in sorted(open_ones, key=lambda n: n.id):
        category, form = nomination.nominee_kind.category, nomination.form
        name, address = nomination.nominee_name, nomination.address
        decision, decided_in = decisions.get(nomination.id, (None, 0))
        if decision is not None and decision.excluded_reason is not None:
            left_out.append(generation.left_out_row(name, category.value, form.value, decision.excluded_reason,
                                                    decision.revoked, decided_in, decision.id))
            continue
        if decision is not None:  # what the office edited, as `generation.apply_decisions` does for donors
            name = decision.name if decision.name is not None else name
            address = decision.address if decision.address is not None else address
            form = decision.form if decision.form is not None else form
        rank = counts.get((category.value, form.rank), 0) + 1
        counts[(category.value, form.rank)] = rank
        nominated[(category.value, form.rank)] = nominated.get((category.value, form.rank), 0) + 1
        session.add(RollEntry(
            roll_id=roll.id, source=EntrySource.NOMINATION, category=category, form=form, form_rank=form.rank,
            rank=rank, nomination_id=nomination.id, anonymous=False, name=name,
            address=address, value=0, gift_count=0, first_at=nomination.created_at,
            work=nomination.work))
    await session.flush()
    # What `summary` would read back from the entries, from the generation's own figures.
    roll.summary = [
        {"category": category, "form": FORM_ORDER[form_rank - 1].value, "count": n,
         "named": n - (group.anonymous if group else 0), "anonymous": group.anonymous if group else 0,
         "nominated": nominated.get((category, form_rank), 0), "value": group.value if group else 0}
        for (category, form_rank), n in sorted(counts.items(), key=lambda item: (item[0][1], item[0][0]))
        for group in [totals.groups.get((category, form_rank))]]
    roll.total_value, roll.contributor_count = totals.value, totals.contributors
    roll.anonymous_count = sum(row["anonymous"] for row in roll.summary)
    roll.left_out = left_out
    roll.generated_at = utcnow()


async def summary(session: AsyncSession, roll_id: int) -> list[dict[str, Any]]:
    """Per category and form: named entries, anonymous sponsors, nominations, value (in SQL)."""
    anonymous = func.sum(case((RollEntry.anonymous, 1), else_=0))
    nominated = func.sum(case((RollEntry.source == EntrySource.NOMINATION, 1), else_=0))
    rows = await session.execute(
        select(RollEntry.category, RollEntry.form, RollEntry.form_rank, func.count(), anonymous, nominated,
               func.sum(RollEntry.value))
        .where(RollEntry.roll_id == roll_id)
        .group_by(RollEntry.category, RollEntry.form, RollEntry.form_rank)
        .order_by(RollEntry.form_rank, RollEntry.category))
    return [{"category": Category(c).value, "form": CommendationForm(f).value, "count": int(n),
             "named": int(n) - int(a or 0), "anonymous": int(a or 0), "nominated": int(m or 0), "value": int(v or 0)}
            for c, f, _r, n, a, m, v in rows]


async def generate(session: AsyncSession, actor: User | None, province_code: int, period_key: str) -> HonorRoll:
    """The period's roll with its newest rules: a new draft, or the open draft computed again."""
    rule_set = await rules.require_rules(session, province_code, period_key)
    versions = list(await session.scalars(
        select(HonorRoll).where(HonorRoll.province_code == province_code, HonorRoll.period_key == period_key)
        .order_by(HonorRoll.version.desc()).with_for_update()))
    latest = versions[0] if versions else None
    if latest is not None and latest.status in (S.SUBMITTED, S.APPROVED):
        raise IllegalTransition(_("This period's roll is under approval: return it to draft to generate it again."))
    if latest is not None and latest.status == S.PUBLISHED:
        raise IllegalTransition(_(
            "This period already has a published roll. Make a correction: it becomes a new version with a change "
            "note."))
    roll = latest or HonorRoll(province_code=province_code, period_key=period_key, version=1,
                               rule_set_id=rule_set.id, status=S.DRAFT)
    if latest is None:
        await insert_once(session, roll, _(
            "This period's roll was generated by someone else at the same moment: open it from the list of rolls."))
    roll.generated_by_id = actor.id if actor else None
    await _fill(session, roll, rule_set, fresh=latest is None)
    audit.record(session, actor_id=roll.generated_by_id, action="recognition.roll_generated",
                 entity_type="honor_roll", entity_id=roll.id, summary=f"{period_key} v{roll.version}",
                 after={"rule_set_id": rule_set.id, "rule_set_version": rule_set.version,
                        "total_value": roll.total_value, "entries": sum(r["count"] for r in roll.summary)})
    return roll


async def correct(session: AsyncSession, actor: User | None, roll: HonorRoll, data: CorrectionIn) -> HonorRoll:
    """A new version of a published roll, computed again with the period's newest rules."""
    if not roll.is_current:
        raise IllegalTransition(_("Only the current published version of a roll can be corrected."))
    pending = await session.scalar(select(HonorRoll.id).where(HonorRoll.supersedes_id == roll.id))
    if pending is not None:
        raise IllegalTransition(_("A correction of this roll is already in progress."))
    rule_set = await rules.latest_rule_set(session, roll.province_code, roll.period_key)
    assert rule_set is not None
    new = HonorRoll(province_code=roll.province_code, period_key=roll.period_key, version=roll.version + 1,
                    rule_set_id=rule_set.id, status=S.DRAFT, supersedes_id=roll.id, change_note=data.change_note,
                    generated_by_id=actor.id if actor else None)
    await insert_once(session, new, _("A correction of this roll is already in progress."))
    await _fill(session, new, rule_set, fresh=True)
    audit.record(session, actor_id=new.generated_by_id, action="recognition.roll_corrected", entity_type="honor_roll",
                 entity_id=new.id, summary=data.change_note, before={"roll_id": roll.id, "version": roll.version},
                 after={"version": new.version})
    return new


# --- the workflow ---------------------------------------------------------------------------------


def submit(session: AsyncSession, actor: User | None, roll: HonorRoll) -> None:
    _move(session, actor, roll, S.SUBMITTED, "recognition.roll_submitted")


def return_to_draft(session: AsyncSession, actor: User | None, roll: HonorRoll) -> None:
    """Back to draft, from submitted or from approved (not yet published): an approval's decision
    is withdrawn with it (the audit row keeps what it was), to be given again."""
    withdrawn = ({"withdrawn_decision": roll.decision.as_json(),
                  "withdrawn_department_decision": roll.department_decision.as_json()}
                 if roll.status == S.APPROVED else {})
    _move(session, actor, roll, S.DRAFT, "recognition.roll_returned", withdrawn)
    roll.decision_number = roll.decision_date = roll.signer = None
    roll.department_decision_number = roll.department_decision_date = roll.department_signer = None


async def approve(session: AsyncSession, actor: User | None, roll: HonorRoll, data: ApproveIn) -> None:
    """Record the decisions: the roll's (the People's Committee's, for its Certificates of Merit)
    and, when the roll has any of the Department's forms, the Department's. A date can be neither
    before the period starts nor in the future (Vietnam's calendar)."""
    if roll.status != S.SUBMITTED:
        _move(session, actor, roll, S.APPROVED, "recognition.roll_approved")  # raises
    rule_set = await session.get(RuleSet, roll.rule_set_id)
    assert rule_set is not None
    errors = _decision_date_errors("decision_date", data.decision_date, rule_set)
    department = roll.has_department_forms
    if department:
        for field in DEPARTMENT_DECISION_FIELDS:
            if not getattr(data, field):
                errors[field] = _("The Department's decision is needed: this roll has its forms.")
        if data.department_decision_date:
            errors.update(_decision_date_errors("department_decision_date", data.department_decision_date, rule_set))
    if errors:
        raise ValidationFailed(errors)
    given = {"decision_number": data.decision_number, "decision_date": data.decision_date, "signer": data.signer,
             **{field: getattr(data, field) if department else None for field in DEPARTMENT_DECISION_FIELDS}}
    _move(session, actor, roll, S.APPROVED, "recognition.roll_approved",
          {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in given.items() if v is not None})
    for field, value in given.items():
        setattr(roll, field, value)


def _decision_date_errors(field: str, day: dt.date, rule_set: RuleSet) -> dict[str, str]:
    if day > dt.datetime.now(VN_TZ).date():
        return {field: _("A decision cannot be dated in the future.")}
    if day < rule_set.period_start:
        return {field: _("A decision cannot be dated before the period starts (%(date)s).",
                         date=format_date(rule_set.period_start))}
    return {}


async def entries(session: AsyncSession, roll_id: int, *, named_only: bool = False,
                  limit: int | None = None, offset: int = 0) -> list[RollEntry]:
    """The roll's entries in its order: highest form first, collectives, then by rank."""
    query = select(RollEntry).where(RollEntry.roll_id == roll_id)
    if named_only:
        query = query.where(RollEntry.anonymous.is_(False))
    query = query.order_by(RollEntry.form_rank, RollEntry.category, RollEntry.rank).limit(limit).offset(offset)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


def snapshot_of(roll: HonorRoll, rule_set: RuleSet, rows: list[RollEntry]) -> dict[str, Any]:
    """What was published, as plain JSON (named entries; anonymous ones only counted)."""
    return {
        "province_code": roll.province_code, "period": roll.period_key, "version": roll.version,
        "period_start": rule_set.period_start.isoformat(), "period_end": rule_set.period_end.isoformat(),
        "rule_set": {"id": rule_set.id, "version": rule_set.version, "thresholds": rule_set.thresholds,
                     "count_money": rule_set.count_money, "count_books": rule_set.count_books,
                     "count_equipment": rule_set.count_equipment},
        "decision": roll.decision.as_json(),
        **({"department_decision": roll.department_decision.as_json()} if roll.has_department_decision else {}),
        "change_note": roll.change_note, "supersedes_id": roll.supersedes_id,
        "totals": {"value": roll.total_value, "contributors": roll.contributor_count,
                   "anonymous": roll.anonymous_count},
        "summary": roll.summary,
        "entries": [{"form": e.form.value, "category": e.category.value, "rank": e.rank, "source": e.source.value,
                     "name": e.name, "address": e.address, "value": e.value, "work": e.work, "code": e.code}
                    for e in rows if not e.anonymous],
    }


def canonical(snapshot: dict[str, Any]) -> bytes:
    """The snapshot as the bytes its hash is taken of (and that `/honor-rolls/{id}/snapshot.json`
    serves): keys sorted, no spaces, UTF-8."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(snapshot)).hexdigest()


async def publish(session: AsyncSession, actor: User | None, roll: HonorRoll, *, site: str = "") -> None:
    """Publish an approved roll: certificate codes, the snapshot and its hash; a correction supersedes
    the version it corrects; every named sponsor is told where their certificate is (`site`: the
    address the verification links start with)."""
    if roll.status == S.APPROVED and not roll.decision_number:
        raise ValidationFailed({"decision_number": _("A roll is approved with a decision number.")})
    rule_set = await session.get(RuleSet, roll.rule_set_id)
    assert rule_set is not None
    if roll.status == S.APPROVED:
        await refuse_left_out_entries(session, roll)
    _move(session, actor, roll, S.PUBLISHED, "recognition.roll_published")
    await generation.give_codes(session, roll.id)
    rows = await entries(session, roll.id)
    for entry in rows:  # the public search ignores diacritics
        if entry.name:
            entry.name_folded = fold(entry.name)
    roll.snapshot = snapshot_of(roll, rule_set, rows)
    roll.content_hash = content_hash(roll.snapshot)
    roll.published_at = utcnow()
    if roll.supersedes_id is not None:
        await session.execute(update(HonorRoll).where(HonorRoll.id == roll.supersedes_id)
                              .values(superseded_by_id=roll.id).execution_options(synchronize_session=False))
    audit.record(session, actor_id=actor.id if actor else None, action="recognition.roll_hashed",
                 entity_type="honor_roll", entity_id=roll.id, after={"content_hash": roll.content_hash})
    await notify_commended(session, roll, site)


async def notify_commended(session: AsyncSession, roll: HonorRoll, site: str) -> None:
    """A message to every sponsor named in a roll just published: their form, the decision, and the
    verification address of their certificate (one INSERT ... SELECT into the outbox). A correction
    tells them too: their certificate has a new code."""
    if roll.supersedes_id is None:
        subject = _("You are commended in the honor roll %(period)s", period=roll.period_key)
    else:
        subject = _("The honor roll %(period)s was corrected (version %(version)s): your certificate",
                    period=roll.period_key, version=roll.version)
    verify = _("Your certificate, which anyone can verify:")

    def line(form: CommendationForm) -> str:  # the form and the decision that awarded it
        d = roll.decision_for(form)
        decision = _("Decision No. %(number)s of %(date)s, signed by %(signer)s.", number=d.number,
                     date=format_document_date(d.date), signer=d.signer)
        return f"{_(form.label)}. {decision}\n{verify} {site.rstrip('/')}/verify/"

    body = case(*((RollEntry.form == f, literal(line(f))) for f in FORM_ORDER)) + RollEntry.code
    await session.execute(insert(OutboxMessage).from_select(
        ["recipient_id", "topic", "subject", "body", "created_at"],
        select(RollEntry.sponsor_id, literal("recognition.commended"), literal(subject), body,
               literal(utcnow(), OutboxMessage.__table__.c.created_at.type))
        .where(RollEntry.roll_id == roll.id, RollEntry.sponsor_id.is_not(None), RollEntry.code.is_not(None))))


# --- entries --------------------------------------------------------------------------------------


async def get_entry(session: AsyncSession, roll: HonorRoll, entry_id: int) -> RollEntry:
    entry = await session.get(RollEntry, entry_id)
    if entry is None or entry.roll_id != roll.id:
        raise NotFound(_("No such entry."))
    return entry


def require_draft(roll: HonorRoll) -> None:
    """Only a draft is edited; a published roll never."""
    if roll.status == S.PUBLISHED:
        raise published_is_final()
    if roll.status != S.DRAFT:
        raise IllegalTransition(_("Only a draft roll can be edited: return it to draft first."))


def require_editable(roll: HonorRoll, entry: RollEntry) -> None:
    """Only a draft's named entries are edited."""
    require_draft(roll)
    if entry.anonymous:
        raise IllegalTransition(_("An anonymous sponsor stays anonymous."))


def same_person(model: type[EntryDecision] | type[RollEntry], entry: RollEntry) -> ColumnElement[bool]:
    """Rows (of `model`) about the same sponsor as `entry`, or the same nomination."""
    if entry.sponsor_id is not None:
        return model.sponsor_id == entry.sponsor_id
    return model.nomination_id == entry.nomination_id


async def decision_about(session: AsyncSession, actor: User | None, roll: HonorRoll,
                         entry: RollEntry) -> EntryDecision:
    """The period's decision about an entry's sponsor (or nomination), new if there is none yet;
    marked as decided now, by `actor`, in `roll`."""
    decision = await session.scalar(select(EntryDecision).where(same_person(EntryDecision, entry),
        EntryDecision.province_code == roll.province_code, EntryDecision.period_key == roll.period_key))
    if decision is None:
        decision = EntryDecision(
            province_code=roll.province_code, period_key=roll.period_key, sponsor_id=entry.sponsor_id,
            nomination_id=entry.nomination_id if entry.sponsor_id is None else None, revoked=False, roll_id=roll.id)
        await insert_once(session, decision, _("Someone else changed this entry at the same moment: reload the page."))
    decision.roll_id, decision.updated_at = roll.id, utcnow()
    decision.updated_by_id = actor.id if actor else None
    return decision


async def _close_gap(session: AsyncSession, roll_id: int, category: Category, form_rank: int, rank: int) -> None:
    """The entries ranked after one that left their group move up one place (one UPDATE)."""
    await session.execute(
        update(RollEntry).where(RollEntry.roll_id == roll_id, RollEntry.category == category,
                                RollEntry.form_rank == form_rank, RollEntry.rank > rank)
        .values(rank=RollEntry.rank - 1).execution_options(synchronize_session=False))


async def edit_entry(session: AsyncSession, actor: User | None, roll: HonorRoll, entry: RollEntry,
                     data: EntryEditIn) -> None:
    """Edit a draft's entry. The change is a decision of the office about that sponsor or
    nomination: the versions of the period generated afterwards (generating again, corrections)
    carry it, for the fields that changed."""
    require_editable(roll, entry)
    before = {"name": entry.name, "address": entry.address, "form": entry.form.value}
    after = {"name": data.name, "address": data.address or "", "form": data.form.value}
    changed = [field for field in after if after[field] != before[field]]
    if not changed:
        return
    if data.form != entry.form:
        last = await session.scalar(select(func.max(RollEntry.rank)).where(
            RollEntry.roll_id == roll.id, RollEntry.category == entry.category, RollEntry.form_rank == data.form.rank))
        await _close_gap(session, roll.id, entry.category, entry.form_rank, entry.rank)
        entry.form, entry.form_rank, entry.rank = data.form, data.form.rank, (last or 0) + 1
    entry.name, entry.address = data.name, data.address or ""
    decision = await decision_about(session, actor, roll, entry)
    for field in changed:
        setattr(decision, field, getattr(entry, field))
    await session.flush()
    roll.summary = await summary(session, roll.id)
    audit.record(session, actor_id=actor.id if actor else None, action="recognition.entry_edited",
                 entity_type="honor_roll_entry", entity_id=entry.id,
                 before={field: before[field] for field in changed}, after={field: after[field] for field in changed})


async def exclude_entry(session: AsyncSession, actor: User | None, roll: HonorRoll, entry: RollEntry,
                        data: RevokeIn) -> None:
    """Take a named entry out of a draft, with a reason: the versions of the period generated
    afterwards leave that sponsor or nomination out too, and list them with the reason."""
    require_editable(roll, entry)
    decision = await decision_about(session, actor, roll, entry)
    decision.excluded_reason, decision.revoked = data.reason, False
    roll.left_out = [*roll.left_out, generation.left_out_row(
        entry.name, entry.category.value, entry.form.value, data.reason, False, roll.version, decision.id)]
    audit.record(session, actor_id=decision.updated_by_id, action="recognition.entry_excluded",
                 entity_type="honor_roll", entity_id=roll.id, summary=data.reason,
                 before={"entry_id": entry.id, "name": entry.name, "form": entry.form.value,
                         "sponsor_id": entry.sponsor_id, "nomination_id": entry.nomination_id},
                 after={"excluded": True, "reason": data.reason})
    await session.delete(entry)
    await session.flush()
    await _close_gap(session, roll.id, entry.category, entry.form_rank, entry.rank)
    roll.summary = await summary(session, roll.id)


async def include_again(session: AsyncSession, actor: User | None, roll: HonorRoll, decision_id: int) -> None:
    """Lift the exclusion (or the revocation's) of someone a draft left out, audited, and generate the
    draft again: they are back in it and in the versions after (a published version keeps its
    revocation)."""
    require_draft(roll)
    decision = await session.get(EntryDecision, decision_id, with_for_update=True)
    if (decision is None or decision.excluded_reason is None or decision.province_code != roll.province_code
            or decision.period_key != roll.period_key):
        raise NotFound(_("No such entry."))
    before = {"reason": decision.excluded_reason, "revoked": decision.revoked, "sponsor_id": decision.sponsor_id,
              "nomination_id": decision.nomination_id}
    decision.excluded_reason, decision.revoked, decision.roll_id = None, False, roll.id
    decision.updated_at, decision.updated_by_id = utcnow(), actor.id if actor else None
    audit.record(session, actor_id=decision.updated_by_id, action="recognition.entry_included_again",
                 entity_type="honor_roll", entity_id=roll.id, before=before, after={"excluded": False})
    await generate(session, actor, roll.province_code, roll.period_key)


async def refuse_left_out_entries(session: AsyncSession, roll: HonorRoll) -> None:
    """A roll is not published with someone the period's decisions leave out (revoked, or excluded,
    after it was generated): it goes back to draft and is generated again first."""
    d = EntryDecision
    of_period = (d.province_code == roll.province_code, d.period_key == roll.period_key,
                 d.excluded_reason.is_not(None))
    names = list(await session.scalars(
        select(RollEntry.name).where(RollEntry.roll_id == roll.id, RollEntry.anonymous.is_(False),
                                     (RollEntry.sponsor_id.in_(select(d.sponsor_id).where(*of_period)))
                                     | (RollEntry.nomination_id.in_(select(d.nomination_id).where(*of_period))))
        .limit(5)))
    if names:
        raise IllegalTransition(_(
            "This roll still lists someone left out since it was generated (%(names)s): return it to draft and "
            "generate it again.", names=", ".join(n or "" for n in names)))


async def revoke_entry(session: AsyncSession, actor: User | None, roll: HonorRoll, entry: RollEntry,
                       data: RevokeIn) -> None:
    """Revoke a published entry, with a reason shown publicly; the versions of the period generated
    afterwards (a correction) leave that sponsor or nomination out."""
    if roll.status != S.PUBLISHED:
        raise IllegalTransition(_("Only entries of a published roll are revoked; edit a draft instead."))
    if entry.revoked_at is not None:
        raise IllegalTransition(_("This entry is already revoked."))
    entry.revoked_at, entry.revoked_reason = utcnow(), data.reason
    entry.revoked_by_id = actor.id if actor else None
    if not entry.anonymous:
        decision = await decision_about(session, actor, roll, entry)
        decision.excluded_reason, decision.revoked = data.reason, True
    audit.record(session, actor_id=entry.revoked_by_id, action="recognition.entry_revoked",
                 entity_type="honor_roll_entry", entity_id=entry.id, summary=data.reason,
                 after={"revoked": True, "reason": data.reason})
    if entry.sponsor_id is not None:
        notify(session, entry.sponsor_id, "recognition.revoked",
               _("Your commendation in the honor roll %(period)s was revoked", period=roll.period_key),
               _("Reason: %(reason)s", reason=data.reason))


# --- what the public sees -------------------------------------------------------------------------


async def published_rolls(session: AsyncSession, province_code: int | None = None) -> list[HonorRoll]:
    query = select(HonorRoll).where(HonorRoll.status == S.PUBLISHED)
    if province_code is not None:
        query = query.where(HonorRoll.province_code == province_code)
    return list(await session.scalars(query.order_by(HonorRoll.period_key.desc(), HonorRoll.version.desc())))


async def entry_by_code(session: AsyncSession, code: str) -> tuple[RollEntry, HonorRoll]:
    """A certificate's entry, if its roll is published; otherwise it does not exist."""
    row = (await session.execute(
        select(RollEntry, HonorRoll).join(HonorRoll, HonorRoll.id == RollEntry.roll_id)
        .where(RollEntry.code == code, HonorRoll.status == S.PUBLISHED))).first()
    if row is None:
        raise NotFound(_("No certificate has this code."))
    return row[0], row[1]


async def certificates_of(session: AsyncSession, sponsor_id: int) -> list[tuple[RollEntry, HonorRoll]]:
    """A sponsor's certificates: their named entries in the current version of every published roll
    (revoked ones too, with their reason), newest period first."""
    rows = await session.execute(
        select(RollEntry, HonorRoll).join(HonorRoll, HonorRoll.id == RollEntry.roll_id)
        .where(RollEntry.sponsor_id == sponsor_id, RollEntry.code.is_not(None), HonorRoll.status == S.PUBLISHED,
               HonorRoll.superseded_by_id.is_(None))
        .order_by(HonorRoll.period_key.desc(), RollEntry.form_rank).execution_options(populate_existing=True))
    return [(entry, roll) for entry, roll in rows]


async def successor(session: AsyncSession, entry: RollEntry, roll: HonorRoll) -> tuple[HonorRoll | None,
                                                                                       RollEntry | None]:
    """For a certificate of a superseded roll: the newest published version of that roll, and the same
    person's entry in it (the same sponsor, or the same nomination), if the correction kept them."""
    newest = roll
    while newest.superseded_by_id is not None:
        newer = await session.get(HonorRoll, newest.superseded_by_id)
        assert newer is not None
        newest = newer
    if newest is roll:
        return None, None
    counterpart = await session.scalar(select(RollEntry).where(
        RollEntry.roll_id == newest.id, same_person(RollEntry, entry), RollEntry.anonymous.is_(False)).limit(1))
    return newest, counterpart

