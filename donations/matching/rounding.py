"""From the continuous plan to whole items and whole VND, then down to lots, funds and needs.

1. **Items, per lot class:** floor every arc, then hand the class's remaining whole items (up
   to the floor of its continuous total) to the arcs with the largest fractional parts, ties by
   group order, while the group has item room. Each (class, group) arc moves by less than one
   item, which is the contract's rounding tolerance. (:func:`round_items`)
   The caller then runs the water-filling again with these whole items held fixed, so that
   money, which is divisible to the VND, makes up for the rounding where funds allow.
2. **Money, per fund class:** nearest whole VND, clipped to what the group still has room for.
3. **In-kind first, again:** where a group receives money while a lot class that may serve it
   still has items, whole items replace the same value of money.
4. **Top-up:** a commune left below its continuous value by rounding gets leftover items, then
   leftover money it may receive, up to that value (communes with the lowest ``r`` first).
5. **Split classes into members:** each arc's items go to the class's lots in id order and to
   the group's needs in id order; money likewise fills each need's remaining value room.
"""

from __future__ import annotations

import math
from collections import defaultdict

from .aggregate import Aggregate
from .leximin import ContinuousPlan
from .model import Allocation

EPS = 1e-6


def round_items(agg: Aggregate, plan: ContinuousPlan) -> dict[tuple[int, int], int]:
    """Step 1: whole items per (lot class, group) arc."""
    groups = agg.groups
    g_items = [0] * len(groups)
    lot_left = [lc.quantity for lc in agg.lot_classes]
    items: dict[tuple[int, int], int] = defaultdict(int)
    by_class: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (li, g), x in sorted(plan.lot_flow.items()):
        by_class[li].append((g, x))
    for li, arcs in sorted(by_class.items()):
        target = min(lot_left[li], math.floor(sum(x for _, x in arcs) + EPS))
        for g, x in arcs:
            k = min(math.floor(x + EPS), groups[g].quantity - g_items[g], target)
            items[(li, g)] += k
            g_items[g] += k
            target -= k
            lot_left[li] -= k
        for g, x in sorted(arcs, key=lambda a: (-(a[1] - math.floor(a[1] + EPS)), a[0])):
            if target <= 0:
                break
            if g_items[g] < groups[g].quantity and x - math.floor(x + EPS) > EPS:
                items[(li, g)] += 1
                g_items[g] += 1
                lot_left[li] -= 1
                target -= 1
    return {arc: k for arc, k in items.items() if k > 0}


def round_plan(
    agg: Aggregate, plan: ContinuousPlan, whole_items: dict[tuple[int, int], int]
) -> tuple[Allocation, ...]:
    """Steps 2-5, given the whole items and a plan whose money was optimised around them."""
    groups = agg.groups
    items: dict[tuple[int, int], int] = defaultdict(int, whole_items)
    money: dict[tuple[int, int], int] = defaultdict(int)
    g_items = [0] * len(groups)
    g_money = [0] * len(groups)
    lot_left = [lc.quantity for lc in agg.lot_classes]
    fund_left = [fc.amount for fc in agg.fund_classes]
    for (li, g), k in items.items():
        g_items[g] += k
        lot_left[li] -= k

    def room(g: int) -> int:
        return groups[g].value - g_items[g] * groups[g].unit_value - g_money[g]

    # 2. money
    for (fi, g), y in sorted(plan.fund_flow.items()):
        m = min(round(y), room(g), fund_left[fi])  # nearest VND: LP noise is far below 1
        if m > 0:
            money[(fi, g)] += m
            g_money[g] += m
            fund_left[fi] -= m

    lot_classes_of: dict[int, list[int]] = defaultdict(list)
    for li, lc in enumerate(agg.lot_classes):
        for g in lc.groups:
            lot_classes_of[g].append(li)
    fund_classes_of: dict[int, list[int]] = defaultdict(list)
    for fi, fc in enumerate(agg.fund_classes):
        for g in fc.groups:
            fund_classes_of[g].append(fi)

    # 3. whole items replace money
    for g in range(len(groups)):
        u = groups[g].unit_value
        for li in lot_classes_of[g]:
            k = min(lot_left[li], g_money[g] // u, groups[g].quantity - g_items[g])
            if k <= 0:
                continue
            items[(li, g)] += k
            g_items[g] += k
            lot_left[li] -= k
            release = k * u
            for fi in reversed(fund_classes_of[g]):
                take = min(release, money.get((fi, g), 0))
                if take:
                    money[(fi, g)] -= take
                    g_money[g] -= take
                    fund_left[fi] += take
                    release -= take

    # 4. top-up to the continuous value
    target = defaultdict(float)
    for (_, g), x in plan.lot_flow.items():
        target[groups[g].commune] += x * groups[g].unit_value
    for (_, g), y in plan.fund_flow.items():
        target[groups[g].commune] += y
    value = defaultdict(int)
    groups_of = defaultdict(list)
    for g, grp in enumerate(groups):
        value[grp.commune] += g_items[g] * grp.unit_value + g_money[g]
        groups_of[grp.commune].append(g)

    def order(c: str) -> tuple[float, str]:
        return (value[c] / (agg.open_values[c] * agg.weights[c]), c)

    for c in sorted(target, key=order):
        for g in groups_of[c]:
            u = groups[g].unit_value
            for li in lot_classes_of[g]:
                k = min(lot_left[li], groups[g].quantity - g_items[g])
                k = min(k, max(0, math.floor((target[c] - value[c]) / u + 0.5)))
                if k > 0:
                    items[(li, g)] += k
                    g_items[g] += k
                    lot_left[li] -= k
                    value[c] += k * u
        for g in groups_of[c]:
            for fi in fund_classes_of[g]:
                m = min(fund_left[fi], room(g), round(target[c] - value[c]))
                if m > 0:
                    money[(fi, g)] += m
                    g_money[g] += m
                    fund_left[fi] -= m
                    value[c] += m

    return split_to_members(agg, items, money)


def split_to_members(
    agg: Aggregate, items: dict[tuple[int, int], int], money: dict[tuple[int, int], int]
) -> tuple[Allocation, ...]:
    groups = agg.groups
    # (need id, is money, source id) -> units; sorted, these keys give the result's order
    totals: dict[tuple[str, bool, str], int] = {}
    # Members fill in id order, so one cursor per class and per group is enough.
    lot_left = [[lot.quantity for lot in lc.lots] for lc in agg.lot_classes]
    lot_cursor = [0] * len(agg.lot_classes)
    need_items = [[0] * len(grp.needs) for grp in groups]
    need_cursor = [0] * len(groups)
    for (li, g), k in sorted(items.items()):
        lots, left, at = agg.lot_classes[li].lots, lot_left[li], lot_cursor[li]
        needs, got, to = groups[g].needs, need_items[g], need_cursor[g]
        while k > 0:
            if left[at] == 0:
                at += 1
                continue
            need = needs[to]
            if got[to] == need.quantity:
                to += 1
                continue
            take = min(k, left[at], need.quantity - got[to])
            key = (need.id, False, lots[at].id)
            totals[key] = totals.get(key, 0) + take
            left[at] -= take
            got[to] += take
            k -= take
        lot_cursor[li], need_cursor[g] = at, to

    fund_left = [[f.amount for f in fc.funds] for fc in agg.fund_classes]
    fund_cursor = [0] * len(agg.fund_classes)
    need_room = [
        [n.value - k * n.unit_value for n, k in zip(grp.needs, got, strict=True)]
        for grp, got in zip(groups, need_items, strict=True)
    ]
    need_cursor = [0] * len(groups)
    for (fi, g), m in sorted(money.items()):
        funds, left, at = agg.fund_classes[fi].funds, fund_left[fi], fund_cursor[fi]
        needs, room, to = groups[g].needs, need_room[g], need_cursor[g]
        while m > 0:
            if left[at] == 0:
                at += 1
                continue
            if room[to] == 0:
                to += 1
                continue
            take = min(m, left[at], room[to])
            key = (needs[to].id, True, funds[at].id)
            totals[key] = totals.get(key, 0) + take
            left[at] -= take
            room[to] -= take
            m -= take
        fund_cursor[fi], need_cursor[g] = at, to
    # what merge_allocations would give: lines summed per pair, sorted as Allocation.sort_key
    return tuple(
        Allocation(need, "fund" if is_money else "lot", source, units)
        for (need, is_money, source), units in sorted(totals.items())
        if units > 0
    )
