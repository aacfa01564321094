"""Baseline policies the application may offer besides leximin.

* ``fcfs`` (first come, first served): needs in the order of the instance file; each takes
  whole items from the lots that may serve it, in file order, then money from the funds that
  may serve it, in file order, until it is full or nothing is left for it. Depends on the
  order of the file by definition.
* ``priority``: communes by decreasing weight (ties by id); each commune's needs by id are
  filled completely, lots by id first, then funds by id, before the next commune gets anything.
* ``proportional``: every class of identical supply (see :mod:`.aggregate`) is shared among
  the need groups it may serve *in proportion to their remaining open value*, capped at each
  group's room (what a cap cuts off is shared again among the others). Lot classes go first
  (in-kind before money), then fund classes; within each, classes restricted to fewer groups
  go first, ties by signature. Items are whole (floors, then the largest remainders); money is
  whole VND. A commune thus receives, from every pool that may reach it, a share of that pool
  equal to its share of the open value the pool could serve; weights are ignored.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator

import numpy as np

from .aggregate import Aggregate
from .model import Allocation, Fund, Instance, Lot, Need, merge_allocations
from .rounding import split_to_members


class _Greedy:
    """Remaining supply and room, with indexes to find the supply that may serve a need."""

    def __init__(self, instance: Instance, lots: list[Lot], funds: list[Fund]) -> None:
        self.lot_left = {lot.id: lot.quantity for lot in lots}
        self.fund_left = {f.id: f.amount for f in funds}
        self.lines: list[Allocation] = []
        # Supply in the given order, indexed by what a need can match on.
        self.lots_any: dict[str, list[tuple[int, Lot]]] = defaultdict(list)
        self.lots_at: dict[tuple[str, str], list[tuple[int, Lot]]] = defaultdict(list)
        for pos, lot in enumerate(lots):
            if lot.communes is None:
                self.lots_any[lot.item].append((pos, lot))
            else:
                for c in lot.communes:
                    self.lots_at[(c, lot.item)].append((pos, lot))
        self.funds_any: list[tuple[int, Fund]] = []
        self.funds_item: dict[str, list[tuple[int, Fund]]] = defaultdict(list)
        self.funds_at: dict[str, list[tuple[int, Fund]]] = defaultdict(list)
        for pos, fund in enumerate(funds):
            if fund.communes is not None:
                for c in fund.communes:
                    self.funds_at[c].append((pos, fund))
            elif fund.items is not None:
                for i in fund.items:
                    self.funds_item[i].append((pos, fund))
            else:
                self.funds_any.append((pos, fund))

    @staticmethod
    def _live(lists: Iterable[list], left: dict[str, int]) -> Iterator:
        """Supply with something left, merged in the given order.

        Supply is used in order, so exhausted entries gather at the front of each list: they
        are dropped from there, which keeps every scan short without rebuilding lists.
        """
        for lst in lists:
            drop = 0
            while drop < len(lst) and left[lst[drop][1].id] == 0:
                drop += 1
            del lst[:drop]
        for _, supply in heapq.merge(*lists, key=lambda e: e[0]):
            if left[supply.id] > 0:
                yield supply

    def fill(self, need: Need) -> None:
        items = 0
        lot_lists = [self.lots_any[need.item], self.lots_at[(need.commune, need.item)]]
        for lot in self._live(lot_lists, self.lot_left):
            take = min(self.lot_left[lot.id], need.quantity - items)
            if take <= 0:
                break
            self.lines.append(Allocation(need.id, "lot", lot.id, take))
            self.lot_left[lot.id] -= take
            items += take
        room = (need.quantity - items) * need.unit_value
        fund_lists = [self.funds_any, self.funds_item[need.item], self.funds_at[need.commune]]
        for fund in self._live(fund_lists, self.fund_left):
            if room <= 0:
                break
            if not fund.serves(need):
                continue
            take = min(self.fund_left[fund.id], room)
            self.lines.append(Allocation(need.id, "fund", fund.id, take))
            self.fund_left[fund.id] -= take
            room -= take


def fcfs(instance: Instance) -> tuple[Allocation, ...]:
    state = _Greedy(instance, list(instance.lots), list(instance.funds))
    for need in instance.needs:
        state.fill(need)
    return merge_allocations(state.lines)


def priority(instance: Instance) -> tuple[Allocation, ...]:
    state = _Greedy(
        instance,
        sorted(instance.lots, key=lambda x: x.id),
        sorted(instance.funds, key=lambda x: x.id),
    )
    rank = {c.id: (-c.weight, c.id) for c in instance.communes}
    for need in sorted(instance.needs, key=lambda n: (rank[n.commune], n.id)):
        state.fill(need)
    return merge_allocations(state.lines)


def _share(total: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Whole units proportional to ``weights``, each at most its cap, at most ``total``."""
    out = np.zeros(len(weights), dtype=np.int64)
    left = min(total, int(caps.sum()))
    while left > 0:
        open_ = (caps - out) > 0
        w = np.where(open_, weights, 0.0)
        if w.sum() <= 0:
            break
        exact = np.minimum(left * w / w.sum(), caps - out)
        whole = np.floor(exact + 1e-9).astype(np.int64)
        out += whole
        left -= int(whole.sum())
        if whole.sum() == 0:  # hand out the last units by largest remainder
            for i in np.lexsort((np.arange(len(w)), -(exact - whole)))[:left]:
                if open_[i] and out[i] < caps[i]:
                    out[i] += 1
                    left -= 1
            break
    return out


def proportional(instance: Instance, agg: Aggregate) -> tuple[Allocation, ...]:
    groups = agg.groups
    unit = np.array([g.unit_value for g in groups], dtype=np.int64)
    qty = np.array([g.quantity for g in groups], dtype=np.int64)
    g_items = np.zeros(len(groups), dtype=np.int64)
    g_money = np.zeros(len(groups), dtype=np.int64)
    items: dict[tuple[int, int], int] = {}
    money: dict[tuple[int, int], int] = {}
    for li in sorted(range(len(agg.lot_classes)), key=lambda i: len(agg.lot_classes[i].groups)):
        reach = np.array(agg.lot_classes[li].groups, dtype=np.int64)
        if reach.size == 0:
            continue
        caps = qty[reach] - g_items[reach]
        share = _share(agg.lot_classes[li].quantity, (caps * unit[reach]).astype(float), caps)
        g_items[reach] += share
        items.update({(li, int(g)): int(k) for g, k in zip(reach, share, strict=True) if k})
    for fi in sorted(range(len(agg.fund_classes)), key=lambda i: len(agg.fund_classes[i].groups)):
        reach = np.array(agg.fund_classes[fi].groups, dtype=np.int64)
        if reach.size == 0:
            continue
        caps = qty[reach] * unit[reach] - g_items[reach] * unit[reach] - g_money[reach]
        share = _share(agg.fund_classes[fi].amount, caps.astype(float), caps)
        g_money[reach] += share
        money.update({(fi, int(g)): int(m) for g, m in zip(reach, share, strict=True) if m})
    return split_to_members(agg, items, money)
