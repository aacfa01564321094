"""Continuous weighted leximin (water-filling) over the aggregated instance.

Why an LP and not a max-flow: a lot's items are worth the unit value of the need they go to,
and needs of one item kind carry different unit values (catalogue price points, declared
values), so a lot class sending items to several groups is a flow *with gains*. Cut conditions
are then not sufficient (one item worth 10 in A and 20 in B cannot meet demands of 8 in A and
10 in B, 0.8 + 0.5 items, although every cut passes), so each level is an LP -- but a small
one, on classes, not records.

The model (VND counted in millions, ``SCALE``, to keep coefficients near 1):

* ``x[L,g] >= 0`` items of lot class L to need group g (same kind, commune allowed);
* ``y[F,g] >= 0`` money of an item-restricted fund class F to group g;
* ``m[F,c] >= 0`` money of an item-unrestricted fund class to commune c: such money can fill
  any need of c, so only a commune cap is needed -- one column per commune instead of one per
  group for the big unrestricted pool;
* rows: class capacities; group caps ``u_g * sum_L x[L,g] + sum_F y[F,g] <= v_g``; commune caps
  (all value into c <= V_c); level rows ``A_c / (w_c V_c) - z_c >= 0``; link rows
  ``z_c - t = 0`` while c is active.

Progressive filling: maximise ``t`` (at most the smallest ``1/w_c`` among active communes,
where the next one becomes full). At the optimum ``t*``, freeze every active commune that is
full and every active commune whose level row has a non-zero dual: with optimal duals
``y_c >= 0``, ``sum_c y_c * A_c/(w_c V_c) <= t* * sum_c y_c`` holds for every allocation that
keeps the frozen levels, so a commune with ``y_c > 0`` cannot rise above ``t*`` without another
falling below it (the classic leximin argument). Each round freezes at least one commune.
Freezing turns the link row into ``z_c = t*`` (no pivot needed), and every later
solution is still optimal for the earlier round's LP, so by complementary slackness free arcs
with a non-zero reduced cost are fixed at 0 for good. The first solve of a model uses interior
point + crossover (a vertex, so the duals are basic); re-solves use the primal simplex from the
previous basis, which stays feasible after each change. Communes no supply may reach stay at 0.

Finally, with every level held, the objective becomes "minimise the money spent" (the
contract's second goal: in-kind before money).

A second pass (``fixed_items`` + ``targets``) runs after whole items are chosen
(:mod:`.rounding`): items are held, and money is re-optimised towards the first pass's levels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import highspy
import numpy as np

from .aggregate import Aggregate

SCALE = 1_000_000.0  # VND per model unit
INF = highspy.kHighsInf
LEVEL_SLACK = 1e-9  # frozen levels are kept as lower bounds less this (numerical safety)
DUAL_TOL = 1e-9
RC_TOL = 1e-7


@dataclass(slots=True)
class ContinuousPlan:
    lot_flow: dict[tuple[int, int], float]  # (lot class, group) -> items
    fund_flow: dict[tuple[int, int], float]  # (fund class, group) -> VND
    levels: dict[str, float]  # r_c for every commune with an open need


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """HiGHS prints a banner on C-level stdout when created; keep stdout for the result."""
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _new_solver() -> highspy.Highs:
    with _quiet_stdout():
        solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("random_seed", 0)
    solver.setOptionValue("threads", 1)
    # First solve of a model: interior point, then crossover to a vertex (basic duals are what
    # the freezing test reads); measured ~3x faster than the dual simplex from scratch here.
    solver.setOptionValue("solver", "ipm")
    return solver


def solve_leximin(
    agg: Aggregate,
    fixed_items: dict[tuple[int, int], int] | None = None,
    targets: dict[str, float] | None = None,
) -> ContinuousPlan:
    """Water-filling levels, then the flow that reaches them with the least money.

    Second pass (after whole items were chosen): with ``fixed_items`` every lot arc carries
    exactly that many items (0 when absent) and only money moves; with ``targets`` (the first
    pass's levels) two LPs bring communes back towards their target levels as money allows
    (first the largest common share of its target that every commune reaches, then the largest
    sum of levels, each capped at its target) instead of running the rounds again.
    """
    levels = {c: 0.0 for c in agg.open_values}
    model = _Model(agg, fixed_items)
    if not model.communes:
        return ContinuousPlan({}, {}, levels)
    if targets is None:
        model.water_fill(levels)
    else:
        model.approach(targets, levels)
    model.minimise_money()
    lot_flow, fund_flow = model.flows()
    return ContinuousPlan(lot_flow, fund_flow, levels)


class _Model:
    """The LP of the module docstring, kept in one HiGHS instance and modified in place."""

    def __init__(self, agg: Aggregate, fixed_items: dict[tuple[int, int], int] | None) -> None:
        self.agg = agg
        groups = agg.groups
        commune_of = [grp.commune for grp in groups]
        self.lot_arcs = [(li, g) for li, lc in enumerate(agg.lot_classes) for g in lc.groups]
        # Money that may buy any item kind only needs a commune: its split over the commune's
        # groups is free, so one column per (class, commune) and a commune value cap suffice.
        self.money_arcs: list[tuple[int, int]] = []  # (fund class, group): item-restricted
        self.pool_arcs: list[tuple[int, str]] = []  # (fund class, commune): any item kind
        for fi, fc in enumerate(agg.fund_classes):
            if fc.items is None:
                self.pool_arcs += [(fi, c) for c in sorted({commune_of[g] for g in fc.groups})]
            else:
                self.money_arcs += [(fi, g) for g in fc.groups]
        communes = sorted(
            {commune_of[g] for _, g in self.lot_arcs}
            | {commune_of[g] for _, g in self.money_arcs}
            | {c for _, c in self.pool_arcs}
        )
        self.communes = communes
        if not communes:
            return

        # Rows: class capacities, group caps, commune caps, level rows, link rows.
        n_lc, n_fc, n_g, n_c = (
            len(agg.lot_classes),
            len(agg.fund_classes),
            len(groups),
            len(communes),
        )
        grow = n_lc + n_fc
        cap_row = {c: grow + n_g + i for i, c in enumerate(communes)}
        self.lvl_row = {c: grow + n_g + n_c + i for i, c in enumerate(communes)}
        self.link_row = {c: grow + n_g + 2 * n_c + i for i, c in enumerate(communes)}
        n_row = grow + n_g + 3 * n_c
        wv = {c: agg.weights[c] * agg.open_values[c] / SCALE for c in communes}
        unit = [grp.unit_value / SCALE for grp in groups]

        # Columns: t, z_c (one level per commune), lot arcs, item-restricted money, pool money.
        index: list[int] = [self.link_row[c] for c in communes]
        value: list[float] = [-1.0] * n_c
        starts = [0, len(index)]
        for c in communes:  # z_c: level row (-1) and link row z_c - t = 0 while active
            index += [self.lvl_row[c], self.link_row[c]]
            value += [-1.0, 1.0]
            starts.append(len(index))
        for li, g in self.lot_arcs:
            c = commune_of[g]
            index += [li, grow + g, cap_row[c], self.lvl_row[c]]
            value += [1.0, unit[g], unit[g], unit[g] / wv[c]]
            starts.append(len(index))
        for fi, g in self.money_arcs:
            c = commune_of[g]
            index += [n_lc + fi, grow + g, cap_row[c], self.lvl_row[c]]
            value += [1.0, 1.0, 1.0, 1.0 / wv[c]]
            starts.append(len(index))
        for fi, c in self.pool_arcs:
            index += [n_lc + fi, cap_row[c], self.lvl_row[c]]
            value += [1.0, 1.0, 1.0 / wv[c]]
            starts.append(len(index))

        self.zcol = {c: 1 + i for i, c in enumerate(communes)}
        self.base = 1 + n_c  # first arc column
        self.n_col = self.base + len(self.lot_arcs) + len(self.money_arcs) + len(self.pool_arcs)
        row_lower = np.full(n_row, -INF)
        row_upper = np.full(n_row, INF)
        row_upper[:n_lc] = [lc.quantity for lc in agg.lot_classes]
        row_upper[n_lc:grow] = [fc.amount / SCALE for fc in agg.fund_classes]
        row_upper[grow : grow + n_g] = [grp.value / SCALE for grp in groups]
        row_upper[grow + n_g : grow + n_g + n_c] = [agg.open_values[c] / SCALE for c in communes]
        row_lower[grow + n_g + n_c :] = 0.0  # level rows A_c/(w_c V_c) - z_c >= 0
        row_upper[grow + n_g + 2 * n_c :] = 0.0  # link rows z_c - t = 0
        col_lower, col_upper = np.zeros(self.n_col), np.full(self.n_col, INF)
        # arcs whose value can no longer change (held items, arcs fixed at 0 by reduced cost)
        self.fixed = np.zeros(self.n_col - self.base, dtype=bool)
        if fixed_items is not None:
            held = np.array([float(fixed_items.get(arc, 0)) for arc in self.lot_arcs])
            col_lower[self.base : self.base + len(self.lot_arcs)] = held
            col_upper[self.base : self.base + len(self.lot_arcs)] = held
            self.fixed[: len(self.lot_arcs)] = True
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_col, n_row
        lp.col_cost_ = np.concatenate([[1.0], np.zeros(self.n_col - 1)])
        lp.col_lower_, lp.col_upper_ = col_lower, col_upper  # HiGHS copies: assign whole arrays
        lp.row_lower_, lp.row_upper_ = row_lower, row_upper
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(value)
        self.solver = _new_solver()
        self.solver.passModel(lp)

    # Each step below leaves the previous basis valid, so every solve starts from it.

    def water_fill(self, levels: dict[str, float]) -> None:
        solver, weights = self.solver, self.agg.weights
        active = set(self.communes)
        while active:
            t_cap = min(1.0 / weights[c] for c in active)
            solver.changeColBounds(0, 0.0, t_cap)
            _run(solver)
            t_star = min(max(solver.getSolution().col_value[0], 0.0), t_cap)
            duals = solver.getSolution().row_dual
            frozen = {c for c in active if 1.0 / weights[c] <= t_star + 1e-12}
            frozen |= {c for c in active if abs(duals[self.lvl_row[c]]) > DUAL_TOL}
            if not frozen:  # numerical corner: freeze the most binding one
                frozen = {max(sorted(active), key=lambda c: abs(duals[self.lvl_row[c]]))}
            level = max(t_star - LEVEL_SLACK, 0.0)
            for c in sorted(frozen):
                levels[c] = t_star
                # z_c - t = 0 becomes z_c = t*: the row stays tight and no pivot is needed
                solver.changeCoeff(self.link_row[c], 0, 0.0)
                solver.changeRowBounds(self.link_row[c], level, level)
            active -= frozen
            if active:
                self._fix_dead_arcs()

    def _fix_dead_arcs(self) -> None:
        """Every later solution is also optimal for the LP just solved, so by complementary
        slackness a free arc with a non-zero reduced cost (at its lower bound, 0) carries
        nothing in any of them: fix it there for good."""
        reduced = np.abs(np.asarray(self.solver.getSolution().col_dual)[self.base :])
        dead = np.flatnonzero((reduced > RC_TOL) & ~self.fixed)
        if dead.size:
            self.fixed[dead] = True
            zeros = np.zeros(dead.size)
            cols = (dead + self.base).astype(np.int32)
            self.solver.changeColsBounds(dead.size, cols, zeros, zeros)

    def approach(self, targets: dict[str, float], levels: dict[str, float]) -> None:
        """The largest share s of its target that every commune reaches (t plays s: link
        rows become z_c - s * target_c >= 0), then the most in total with s held."""
        solver = self.solver
        solver.changeColBounds(0, 0.0, 1.0)
        for c in self.communes:
            solver.changeCoeff(self.link_row[c], 0, -targets[c])
            solver.changeRowBounds(self.link_row[c], 0.0, INF)
            solver.changeColBounds(self.zcol[c], 0.0, targets[c])
        _run(solver)
        share = solver.getSolution().col_value[0]
        solver.changeColBounds(0, max(share - LEVEL_SLACK, 0.0), 1.0)
        solver.changeColCost(0, 0.0)
        for c in self.communes:
            solver.changeColCost(self.zcol[c], 1.0)
        _run(solver)
        reached = solver.getSolution().col_value
        for c in self.communes:
            levels[c] = reached[self.zcol[c]]
            solver.changeColBounds(self.zcol[c], max(levels[c] - LEVEL_SLACK, 0.0), INF)

    def minimise_money(self) -> None:
        """With every level held, spend as little money as possible (in-kind before money)."""
        if not (self.money_arcs or self.pool_arcs):
            return
        solver, n_col = self.solver, self.n_col
        solver.changeColBounds(0, 0.0, 0.0)
        solver.changeObjectiveSense(highspy.ObjSense.kMinimize)
        first_money = self.base + len(self.lot_arcs)
        costs = np.concatenate([np.zeros(first_money), np.ones(n_col - first_money)])
        solver.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), costs)
        _run(solver)

    def flows(self) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
        """Items per (lot class, group) and VND per (fund class, group); pool money is spread
        over its commune's groups in group order, into the value room they have left."""
        groups = self.agg.groups
        col = np.asarray(self.solver.getSolution().col_value)
        base, n_lot = self.base, len(self.lot_arcs)
        lot_flow = {
            a: float(col[base + i]) for i, a in enumerate(self.lot_arcs) if col[base + i] > 1e-9
        }
        fund_flow: dict[tuple[int, int], float] = {}
        room = [float(grp.value) for grp in groups]
        for (_, g), x in lot_flow.items():
            room[g] -= x * groups[g].unit_value
        for i, (fi, g) in enumerate(self.money_arcs):
            y = float(col[base + n_lot + i]) * SCALE
            if y > 1e-6:
                fund_flow[(fi, g)] = y
                room[g] -= y
        groups_of: dict[str, list[int]] = {}
        for g, grp in enumerate(groups):
            groups_of.setdefault(grp.commune, []).append(g)
        first_pool = base + n_lot + len(self.money_arcs)
        for i, (fi, c) in enumerate(self.pool_arcs):
            m = float(col[first_pool + i]) * SCALE
            for g in groups_of[c]:
                take = min(m, max(room[g], 0.0))  # the class allows c and every item kind
                if take > 1e-6:
                    fund_flow[(fi, g)] = fund_flow.get((fi, g), 0.0) + take
                    room[g] -= take
                    m -= take
        return lot_flow, fund_flow


def _run(solver: highspy.Highs) -> None:
    solver.run()
    # Every later change (freezing, a higher cap on t, a new objective) leaves the current
    # point feasible, so the primal simplex restarts from it in few iterations, where the dual
    # simplex was measured to take thousands.
    solver.setOptionValue("solver", "simplex")
    solver.setOptionValue("simplex_strategy", 4)
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS ended with status {solver.modelStatusToString(status)}")
