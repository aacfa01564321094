"""The matching adapter: database rows → a matching-v1 instance → Allocation rows.

The engine (:mod:`donations.matching`) is pure; this module is the only place where it meets the
database (DESIGN convention 7).

Choices, documented here because they decide what "remaining" means:

- A need's open quantity is ``quantity - pledged_quantity``: items already pledged directly to the
  need (paid or not) are taken by ``donations.services`` and must not be filled twice. A committed
  run therefore raises both ``pledged_quantity`` and ``allocated_quantity``.
- Pool supply is every money pledge PAID (funds) and every in-kind pledge RECEIVED (lots) given
  to the province's pool or to one of its communes, less what earlier runs already drew from it
  (computed from ``Allocation`` rows, no extra column). A pledge fully drawn becomes ALLOCATED.
- Money buys whole items: a fund's amount for a need is rounded down to whole items
  (``unit_value`` each); the change a fund leaves at several needs buys more whole items where the
  remainders are largest, never beyond what a need lacks, and only what is still left stays in the
  fund for a later run. Preview and commit apply the same rounding, so what the officer sees is
  what is written.
- The instance's fingerprint (sha256 of its canonical JSON) is shown with the preview and checked
  again at commit: any payment, receipt or need change in between refuses the commit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.models import User
from app.errors import IllegalTransition
from app.geography.models import Commune
from app.i18n import _
from donations import services
from donations.matching import POLICIES, Result, parse_instance, solve
from donations.models import Allocation, LedgerEntry, LedgerKind, Pledge, PledgeKind, PledgeStatus, Target
from needs.models import Need, NeedStatus


@dataclass
class Situation:
    """An instance and the rows it was built from (ids as in the instance: N…, L…, F…)."""

    instance: dict[str, Any]
    fingerprint: str
    communes: dict[str, Commune] = field(default_factory=dict)
    needs: dict[str, Need] = field(default_factory=dict)
    pledges: dict[str, Pledge] = field(default_factory=dict)
    # Every open need of the province (also those already full), for coverage before/after.
    all_needs: list[Need] = field(default_factory=list)


@dataclass(frozen=True)
class Line:
    """One allocation as it will be written: ``quantity`` whole items of ``need`` from ``pledge``."""

    need_key: str
    source_key: str
    quantity: int
    amount: int  # VND drawn from a fund; 0 for a lot
    value: int


def fingerprint(instance: dict[str, Any]) -> str:
    text = json.dumps(instance, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def _drawn(session: AsyncSession, pledge_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(items, VND) already drawn from each pledge by committed runs."""
    if not pledge_ids:
        return {}
    rows = await session.execute(
        select(Allocation.pledge_id, func.sum(Allocation.quantity), func.sum(Allocation.amount))
        .where(Allocation.pledge_id.in_(pledge_ids)).group_by(Allocation.pledge_id)
    )
    return {pid: (int(q or 0), int(a or 0)) for pid, q, a in rows}


def _source(pledge: Pledge, by_code: dict[int, Commune], drawn: tuple[int, int]) -> tuple[str, dict[str, Any] | None]:
    """A pooled pledge as the engine's fund (``F<id>``) or lot (``L<id>``), less what earlier runs
    drew from it; None when nothing is left or it cannot reach any of the province's communes.
    A gift not yet recorded has no id: it is ``F0`` or ``L0``."""
    if pledge.target == Target.COMMUNE:
        if pledge.commune_code not in by_code:
            return "", None  # another province's commune
        allowed: list[str] | None = [by_code[pledge.commune_code].matching_id]  # type: ignore[index]
    elif pledge.allowed_communes:
        allowed = [by_code[c].matching_id for c in sorted(pledge.allowed_communes) if c in by_code]
        if not allowed:
            return "", None
    else:
        allowed = None
    items_drawn, vnd_drawn = drawn
    if pledge.kind == PledgeKind.MONEY:
        key = f"F{pledge.id or 0}"
        left = pledge.amount - vnd_drawn
        items = sorted(pledge.allowed_items) if pledge.allowed_items and pledge.target == Target.POOL else None
        return key, {"id": key, "amount": left, "communes": allowed, "items": items} if left > 0 else None
    key = f"L{pledge.id or 0}"
    left = pledge.quantity - items_drawn
    if left <= 0 or not pledge.item_kind_key:
        return key, None
    return key, {"id": key, "item": pledge.item_kind_key, "quantity": left, "communes": allowed}


async def gather(session: AsyncSession, province_code: int, *, lock: bool = False) -> Situation:
    """Read the province's open needs and pooled supply into a matching-v1 instance."""
    communes = list(await session.scalars(
        select(Commune).where(Commune.province_code == province_code).order_by(Commune.code)))
    by_code = {c.code: c for c in communes}
    need_query = (select(Need).where(Need.province_code == province_code, Need.status == NeedStatus.OPEN)
                  .order_by(Need.id))
    pledge_query = (
        select(Pledge)
        .where(Pledge.target.in_([Target.POOL, Target.COMMUNE]),
               ((Pledge.kind == PledgeKind.MONEY) & (Pledge.status == PledgeStatus.PAID))
               | ((Pledge.kind != PledgeKind.MONEY) & (Pledge.status == PledgeStatus.RECEIVED)))
        .order_by(Pledge.id)
    )
    if lock:
        need_query, pledge_query = need_query.with_for_update(), pledge_query.with_for_update()
    all_needs = list(await session.scalars(need_query))
    pledges = list(await session.scalars(pledge_query))
    drawn = await _drawn(session, [p.id for p in pledges])

    situation = Situation(instance={}, fingerprint="", all_needs=all_needs)
    need_rows: list[dict[str, Any]] = []
    for need in all_needs:
        if need.remaining <= 0:
            continue
        key = f"N{need.id}"
        situation.needs[key] = need
        need_rows.append({"id": key, "commune": by_code[need.commune_code].matching_id,
                          "item": need.item_kind_key, "quantity": need.remaining, "unit_value": need.unit_value})

    lots: list[dict[str, Any]] = []
    funds: list[dict[str, Any]] = []
    for pledge in pledges:
        key, source = _source(pledge, by_code, drawn.get(pledge.id, (0, 0)))
        if source is not None:
            (funds if key.startswith("F") else lots).append(source)
            situation.pledges[key] = pledge

    situation.communes = {c.matching_id: c for c in communes}
    situation.instance = {
        "version": 1,
        "communes": [{"id": c.matching_id, "weight": float(c.priority_weight)} for c in communes],
        "needs": need_rows,
        "lots": lots,
        "funds": funds,
    }
    situation.fingerprint = fingerprint(situation.instance)
    return situation


async def build_instance(session: AsyncSession, province_code: int) -> tuple[dict[str, Any], str]:
    """The instance for the engine and its fingerprint (the snapshot a preview carries)."""
    situation = await gather(session, province_code)
    return situation.instance, situation.fingerprint


def run(situation: Situation, policy: str) -> tuple[Result, list[Line]]:
    """Solve the situation under ``policy`` and turn the result into whole-item lines."""
    if policy not in POLICIES:
        raise ValueError(policy)
    result = solve(parse_instance(situation.instance), policy)
    needs = {n["id"]: n for n in situation.instance["needs"]}
    items: dict[tuple[str, str], int] = {}  # (need, source) → whole items
    room = {key: need["quantity"] for key, need in needs.items()}  # items each need may still take
    change: dict[str, int] = {}  # VND a fund gave this run that did not make a whole item
    remainders: list[tuple[int, str, str]] = []
    for a in result.allocations:
        unit_value = needs[a.need]["unit_value"]
        quantity = a.units if a.kind == "lot" else a.units // unit_value
        items[a.need, a.source] = items.get((a.need, a.source), 0) + quantity
        room[a.need] -= quantity
        if a.kind == "fund" and a.units % unit_value:
            change[a.source] = change.get(a.source, 0) + a.units % unit_value
            remainders.append((a.units % unit_value, a.need, a.source))
    # Money buys whole items. A fund's change from several needs may add up to more items: give
    # them where the engine meant the most money (largest remainder first), never beyond a need.
    for _remainder, need_key, source in sorted(remainders, key=lambda r: (-r[0], r[1], r[2])):
        unit_value = needs[need_key]["unit_value"]
        if change[source] >= unit_value and room[need_key] > 0:
            items[need_key, source] += 1
            room[need_key] -= 1
            change[source] -= unit_value
    lines: list[Line] = []
    for (need_key, source), quantity in items.items():
        if quantity > 0:
            value = quantity * needs[need_key]["unit_value"]
            lines.append(Line(need_key, source, quantity, value if source.startswith("F") else 0, value))
    return result, lines


@dataclass(frozen=True)
class CommuneFigures:
    commune: Commune
    open_value: int  # value of its open needs
    before: int  # value already covered (pledged) before this run
    added: int  # value this run adds
    remaining: int  # open value the engine saw (needs less what was already pledged)

    @property
    def coverage_before(self) -> float:
        return self.before / self.open_value if self.open_value else 0.0

    @property
    def coverage_after(self) -> float:
        return min(1.0, (self.before + self.added) / self.open_value) if self.open_value else 0.0

    @property
    def level(self) -> float:
        """The engine's r: share of the remaining open value this run covers, over the weight."""
        return self.added / self.remaining / self.commune.priority_weight if self.remaining else 0.0


def figures(situation: Situation, lines: list[Line]) -> dict[str, CommuneFigures]:
    """Per commune with an open need: its coverage before and after the lines."""
    by_code = {c.code: c.matching_id for c in situation.communes.values()}
    commune_of = {n["id"]: n["commune"] for n in situation.instance["needs"]}
    totals: dict[str, list[int]] = {}
    for need in situation.all_needs:
        entry = totals.setdefault(by_code[need.commune_code], [0, 0, 0, 0])
        entry[0] += need.value
        entry[1] += min(need.pledged_quantity, need.quantity) * need.unit_value
        entry[3] += need.remaining * need.unit_value
    for line in lines:
        totals[commune_of[line.need_key]][2] += line.value
    return {cid: CommuneFigures(situation.communes[cid], *values) for cid, values in sorted(totals.items())}


async def commit_allocations(session: AsyncSession, actor: User, province_code: int, policy: str,
                             snapshot: str) -> str:
    """Re-read the situation (rows locked), refuse if it changed since the preview, else write the
    run: Allocation rows, ALLOCATION ledger entries, need progress, pledges fully drawn → ALLOCATED.
    The engine is deterministic, so the same instance gives the lines the officer previewed.
    Returns the run id. Never commits (the request does, in one transaction)."""
    situation = await gather(session, province_code, lock=True)
    if situation.fingerprint != snapshot:
        raise IllegalTransition(_("The situation changed since the preview (a payment or a need): preview again."))
    _result, lines = run(situation, policy)
    if not lines:
        raise IllegalTransition(_("Nothing to allocate: no pooled supply can reach an open need."))
    run_id = secrets.token_hex(8)
    used: dict[str, list[int]] = {}
    for line in lines:
        need = situation.needs[line.need_key]
        pledge = situation.pledges[line.source_key]
        session.add(Allocation(run_id=run_id, policy=policy, pledge_id=pledge.id, need_id=need.id,
                               commune_code=need.commune_code, quantity=line.quantity, amount=line.amount,
                               value=line.value, created_by_id=actor.id))
        session.add(LedgerEntry(kind=LedgerKind.ALLOCATION, pledge_id=pledge.id, amount=line.value,
                                quantity=line.quantity, need_id=need.id, commune_code=need.commune_code))
        await session.execute(
            update(Need).where(Need.id == need.id)
            .values(pledged_quantity=Need.pledged_quantity + line.quantity,
                    allocated_quantity=Need.allocated_quantity + line.quantity)
            .execution_options(synchronize_session=False))
        entry = used.setdefault(line.source_key, [0, 0])
        entry[0] += line.quantity
        entry[1] += line.amount
    supply = {s["id"]: s for s in (*situation.instance["lots"], *situation.instance["funds"])}
    for key, (items, vnd) in used.items():
        left = supply[key]["amount"] - vnd if key.startswith("F") else supply[key]["quantity"] - items
        if left <= 0:
            services.move_pledge(session, actor.id, situation.pledges[key], PledgeStatus.ALLOCATED, "pledge.allocate",
                                 summary=f"matching run {run_id}")
    audit.record(session, actor_id=actor.id, action="matching.commit", entity_type="matching_run", entity_id=run_id,
                 after={"policy": policy, "lines": len(lines), "value": sum(line.value for line in lines),
                        "snapshot": snapshot})
    await session.flush()
    return run_id


@dataclass(frozen=True)
class GiftLine:
    """Where part of a prospective gift would go."""

    need: Need
    commune: Commune
    quantity: int
    value: int


@dataclass(frozen=True)
class GiftPreview:
    lines: list[GiftLine]
    unused: int  # VND (money) or items (in kind) no open need can take today: they wait in the pool
    lowest_before: float  # lowest commune coverage after a run without the gift
    lowest_after: float  # ... and with it

    @property
    def communes(self) -> int:
        return len({line.commune.code for line in self.lines})


def _lowest(situation: Situation, lines: list[Line]) -> float:
    coverages = [f.coverage_after for f in figures(situation, lines).values()]
    return min(coverages, default=0.0)


# Lowest coverage after a run without any new gift, by state of the province: every sponsor's
# preview of the same state needs it, and it takes as long as the run with the gift.
_LOWEST_WITHOUT: OrderedDict[str, float] = OrderedDict()


def _lowest_without(situation: Situation) -> float:
    state = hashlib.sha256(situation.fingerprint.encode())
    for need in situation.all_needs:  # full needs are not in the instance but count for coverage
        state.update(f"{need.id}:{need.quantity}:{need.pledged_quantity}:{need.unit_value};".encode())
    key = state.hexdigest()
    if key not in _LOWEST_WITHOUT:
        _LOWEST_WITHOUT[key] = _lowest(situation, run(situation, "leximin")[1])
        while len(_LOWEST_WITHOUT) > 16:
            _LOWEST_WITHOUT.popitem(last=False)
    return _LOWEST_WITHOUT[key]


async def gift_preview(session: AsyncSession, province_code: int, gift: Pledge) -> GiftPreview:
    """Where would my gift go: the fair-share engine run on today's open needs and pooled supply
    plus ``gift`` (a checked pledge not yet recorded, see ``services.build_pledge``). Nothing is
    written; what a later committed run decides may differ as needs and gifts change."""
    situation = await gather(session, province_code)
    lowest_before = _lowest_without(situation)
    by_code = {c.code: c for c in situation.communes.values()}
    key, source = _source(gift, by_code, (0, 0))
    if source is None:
        return GiftPreview([], _amount(gift), lowest_before, lowest_before)
    situation.instance[("funds" if key.startswith("F") else "lots")].append(source)
    situation.pledges[key] = gift
    _result, with_gift = run(situation, "leximin")
    mine = [line for line in with_gift if line.source_key == key]
    lines = [GiftLine(situation.needs[line.need_key], by_code[situation.needs[line.need_key].commune_code],
                      line.quantity, line.value) for line in mine]
    lines.sort(key=lambda line: (line.commune.name_folded, -line.value))
    used = sum(line.amount for line in mine) if gift.kind == PledgeKind.MONEY else sum(line.quantity for line in mine)
    return GiftPreview(lines, _amount(gift) - used, lowest_before, _lowest(situation, with_gift))


def _amount(gift: Pledge) -> int:
    """A gift's size in its own unit: VND for money, items in kind."""
    return gift.amount if gift.kind == PledgeKind.MONEY else gift.quantity
