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

The LPs have many optimal vertices; which one HiGHS returns depends on the exact model and the
exact sequence of solves and changes, and the allocations follow from it. Speed-ups that keep
results byte-identical must keep that sequence (the same arrays passed, the same changes
before each solve, the same options); another solver path gives another, equally optimal,
allocation.
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
SMALL_MATRIX_VALUE = 1e-9  # HiGHS's default: a coefficient this small is no entry


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
    model = _Model(agg, fixed_items, targets)
    if not model.communes:
        return ContinuousPlan({}, {}, levels)
    if targets is None:
        model.water_fill(levels)
    else:
        model.approach(levels)
    model.minimise_money()
    lot_flow, fund_flow = model.flows()
    return ContinuousPlan(lot_flow, fund_flow, levels)


class _Model:
    """The LP of the module docstring, kept in one HiGHS instance and modified in place."""

    def __init__(
        self,
        agg: Aggregate,
        fixed_items: dict[tuple[int, int], int] | None,
        targets: dict[str, float] | None = None,
    ) -> None:
        self.agg = agg
        groups = agg.groups
        n_g = len(groups)
        commune_of = [grp.commune for grp in groups]
        lot_li: list[int] = []
        lot_g: list[int] = []
        for li, lc in enumerate(agg.lot_classes):
            lot_li += [li] * len(lc.groups)
            lot_g += lc.groups
        # Money that may buy any item kind only needs a commune: its split over the commune's
        # groups is free, so one column per (class, commune) and a commune value cap suffice.
        money_fi: list[int] = []  # (fund class, group): item-restricted
        money_g: list[int] = []
        self.pool_arcs: list[tuple[int, str]] = []  # (fund class, commune): any item kind
        for fi, fc in enumerate(agg.fund_classes):
            if fc.items is None:
                self.pool_arcs += [(fi, c) for c in sorted({commune_of[g] for g in fc.groups})]
            else:
                money_fi += [fi] * len(fc.groups)
                money_g += fc.groups
        self.lot_li = np.array(lot_li, dtype=np.int64)
        self.lot_g = np.array(lot_g, dtype=np.int64)
        self.money_fi = np.array(money_fi, dtype=np.int64)
        self.money_g = np.array(money_g, dtype=np.int64)
        self.n_lot, self.n_money = len(lot_g), len(money_g)
        served = np.unique(np.concatenate([self.lot_g, self.money_g]))
        communes = sorted({commune_of[g] for g in served.tolist()} | {c for _, c in self.pool_arcs})
        self.communes = communes
        if not communes:
            return

        # Rows: class capacities, group caps, commune caps, level rows, link rows.
        n_lc, n_fc, n_c = len(agg.lot_classes), len(agg.fund_classes), len(communes)
        grow = n_lc + n_fc
        cap0, lvl0, link0 = grow + n_g, grow + n_g + n_c, grow + n_g + 2 * n_c
        self.lvl0, self.link0 = lvl0, link0
        n_row = grow + n_g + 3 * n_c
        position = {c: i for i, c in enumerate(communes)}
        g_pos = np.array([position.get(c, -1) for c in commune_of], dtype=np.int64)
        wv = np.array([agg.weights[c] * agg.open_values[c] / SCALE for c in communes])
        unit = np.array([grp.unit_value / SCALE for grp in groups])
        every = np.arange(n_c, dtype=np.int64)

        # Columns: t, z_c (one level per commune), lot arcs, item-restricted money, pool money.
        # t: -1 in every link row (z_c - t = 0); the second pass starts where `approach` wants
        # it: z_c - s * target_c >= 0, where a zero coefficient is no entry at all (as HiGHS
        # drops it).
        if targets is None:
            t_rows, t_vals = link0 + every, np.full(n_c, -1.0)
        else:
            t_vals = np.array([-targets[c] for c in communes])
            keep = np.abs(t_vals) > SMALL_MATRIX_VALUE
            t_rows, t_vals = (link0 + every)[keep], t_vals[keep]
        # z_c: level row (-1) and link row (+1)
        z_rows = np.stack([lvl0 + every, link0 + every], axis=1).ravel()
        z_vals = np.tile([-1.0, 1.0], n_c)
        lc_pos = g_pos[self.lot_g]
        lot_unit = unit[self.lot_g]
        lot_rows = np.stack([self.lot_li, grow + self.lot_g, cap0 + lc_pos, lvl0 + lc_pos], axis=1).ravel()
        lot_vals = np.stack([np.ones(self.n_lot), lot_unit, lot_unit, lot_unit / wv[lc_pos]], axis=1).ravel()
        mc_pos = g_pos[self.money_g]
        money_rows = np.stack([n_lc + self.money_fi, grow + self.money_g, cap0 + mc_pos, lvl0 + mc_pos], axis=1)
        money_vals = np.stack(
            [np.ones(self.n_money), np.ones(self.n_money), np.ones(self.n_money), 1.0 / wv[mc_pos]], axis=1
        )
        pool_fi = np.array([fi for fi, _ in self.pool_arcs], dtype=np.int64)
        pc_pos = np.array([position[c] for _, c in self.pool_arcs], dtype=np.int64)
        n_pool = len(self.pool_arcs)
        pool_rows = np.stack([n_lc + pool_fi, cap0 + pc_pos, lvl0 + pc_pos], axis=1)
        pool_vals = np.stack([np.ones(n_pool), np.ones(n_pool), 1.0 / wv[pc_pos]], axis=1)
        index = np.concatenate([t_rows, z_rows, lot_rows, money_rows.ravel(), pool_rows.ravel()])
        value = np.concatenate([t_vals, z_vals, lot_vals, money_vals.ravel(), pool_vals.ravel()])
        lengths = np.concatenate(
            [[len(t_rows)], np.full(n_c, 2), np.full(self.n_lot, 4), np.full(self.n_money, 4), np.full(n_pool, 3)]
        )
        starts = np.concatenate([[0], np.cumsum(lengths)])

        self.base = 1 + n_c  # first arc column
        self.n_col = self.base + self.n_lot + self.n_money + n_pool
        row_lower = np.full(n_row, -INF)
        row_upper = np.full(n_row, INF)
        row_upper[:n_lc] = [lc.quantity for lc in agg.lot_classes]
        row_upper[n_lc:grow] = [fc.amount / SCALE for fc in agg.fund_classes]
        row_upper[grow : grow + n_g] = [grp.value / SCALE for grp in groups]
        row_upper[cap0:lvl0] = [agg.open_values[c] / SCALE for c in communes]
        row_lower[lvl0:] = 0.0  # level rows A_c/(w_c V_c) - z_c >= 0
        if targets is None:
            row_upper[link0:] = 0.0  # link rows z_c - t = 0
        col_lower, col_upper = np.zeros(self.n_col), np.full(self.n_col, INF)
        if targets is not None:
            col_upper[0] = 1.0  # t plays the share s of the targets
            col_upper[1 : self.base] = [targets[c] for c in communes]
        # arcs whose value can no longer change (held items, arcs fixed at 0 by reduced cost)
        self.fixed = np.zeros(self.n_col - self.base, dtype=bool)
        if fixed_items is not None:
            held = np.zeros(self.n_lot)
            if fixed_items:
                keys = self.lot_li * n_g + self.lot_g  # ascending: classes in order, groups ascending
                arcs = np.array(list(fixed_items), dtype=np.int64).reshape(-1, 2)
                wanted = arcs[:, 0] * n_g + arcs[:, 1]
                at = np.minimum(np.searchsorted(keys, wanted), max(self.n_lot - 1, 0))
                found = keys[at] == wanted if self.n_lot else np.zeros(len(wanted), dtype=bool)
                held[at[found]] = np.array(list(fixed_items.values()), dtype=float)[found]
            col_lower[self.base : self.base + self.n_lot] = held
            col_upper[self.base : self.base + self.n_lot] = held
            self.fixed[: self.n_lot] = True
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_col, n_row
        lp.col_cost_ = np.concatenate([[1.0], np.zeros(self.n_col - 1)])
        lp.col_lower_, lp.col_upper_ = col_lower, col_upper  # HiGHS copies: assign whole arrays
        lp.row_lower_, lp.row_upper_ = row_lower, row_upper
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = starts.astype(np.int32)
        lp.a_matrix_.index_ = index.astype(np.int32)
        lp.a_matrix_.value_ = value
        self.solver = _new_solver()
        self.solver.passModel(lp)

    # Each step below leaves the previous basis valid, so every solve starts from it.

    def water_fill(self, levels: dict[str, float]) -> None:
        solver, communes, n_c = self.solver, self.communes, len(self.communes)
        inv_weight = np.array([1.0 / self.agg.weights[c] for c in communes])
        active = np.ones(n_c, dtype=bool)
        while active.any():
            t_cap = float(inv_weight[active].min())
            solver.changeColBounds(0, 0.0, t_cap)
            _run(solver)
            solution = solver.getSolution()
            t_star = min(max(solution.col_value[0], 0.0), t_cap)
            binding = np.abs(np.asarray(solution.row_dual)[self.lvl0 : self.lvl0 + n_c])
            frozen = active & ((inv_weight <= t_star + 1e-12) | (binding > DUAL_TOL))
            if not frozen.any():  # numerical corner: freeze the most binding one (first by id)
                frozen[int(np.argmax(np.where(active, binding, -1.0)))] = True
            level = max(t_star - LEVEL_SLACK, 0.0)
            rows = (self.link0 + np.flatnonzero(frozen)).astype(np.int32)
            for row in rows.tolist():
                # z_c - t = 0 becomes z_c = t*: the row stays tight and no pivot is needed
                solver.changeCoeff(row, 0, 0.0)
            solver.changeRowsBounds(rows.size, rows, np.full(rows.size, level), np.full(rows.size, level))
            for i in np.flatnonzero(frozen).tolist():
                levels[communes[i]] = t_star
            active &= ~frozen
            if active.any():
                self._fix_dead_arcs(solution)

    def _fix_dead_arcs(self, solution: highspy.HighsSolution) -> None:
        """Every later solution is also optimal for the LP just solved, so by complementary
        slackness a free arc with a non-zero reduced cost (at its lower bound, 0) carries
        nothing in any of them: fix it there for good."""
        reduced = np.abs(np.asarray(solution.col_dual)[self.base :])
        dead = np.flatnonzero((reduced > RC_TOL) & ~self.fixed)
        if dead.size:
            self.fixed[dead] = True
            zeros = np.zeros(dead.size)
            cols = (dead + self.base).astype(np.int32)
            self.solver.changeColsBounds(dead.size, cols, zeros, zeros)

    def approach(self, levels: dict[str, float]) -> None:
        """The largest share s of its target that every commune reaches (t plays s: link
        rows are z_c - s * target_c >= 0, as the model was built with ``targets``), then the
        most in total with s held."""
        solver, n_c = self.solver, len(self.communes)
        _run(solver)
        share = solver.getSolution().col_value[0]
        solver.changeColBounds(0, max(share - LEVEL_SLACK, 0.0), 1.0)
        # t's cost 1 -> 0, every z_c's 0 -> 1
        solver.changeColsCost(n_c + 1, np.arange(n_c + 1, dtype=np.int32), np.concatenate([[0.0], np.ones(n_c)]))
        _run(solver)
        reached = solver.getSolution().col_value[1 : self.base]
        for c, x in zip(self.communes, reached, strict=True):
            levels[c] = x
        lower = np.array([max(x - LEVEL_SLACK, 0.0) for x in reached])
        solver.changeColsBounds(n_c, np.arange(1, self.base, dtype=np.int32), lower, np.full(n_c, INF))

    def minimise_money(self) -> None:
        """With every level held, spend as little money as possible (in-kind before money)."""
        if not (self.n_money or self.pool_arcs):
            return
        solver, n_col = self.solver, self.n_col
        solver.changeColBounds(0, 0.0, 0.0)
        solver.changeObjectiveSense(highspy.ObjSense.kMinimize)
        first_money = self.base + self.n_lot
        costs = np.concatenate([np.zeros(first_money), np.ones(n_col - first_money)])
        solver.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), costs)
        _run(solver)

    def flows(self) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
        """Items per (lot class, group) and VND per (fund class, group); pool money is spread
        over its commune's groups in group order, into the value room they have left."""
        groups = self.agg.groups
        col = np.asarray(self.solver.getSolution().col_value)
        base, n_lot, n_money = self.base, self.n_lot, self.n_money
        x = col[base : base + n_lot]
        on = np.flatnonzero(x > 1e-9)
        lot_g, x = self.lot_g[on], x[on]
        lot_flow = dict(zip(zip(self.lot_li[on].tolist(), lot_g.tolist(), strict=True), x.tolist(), strict=True))
        # The room left in each group: its value less what went in, subtracted in arc order
        # (ufunc.at applies repeated indices one after the other).
        room = np.array([float(grp.value) for grp in groups])
        unit = np.array([float(grp.unit_value) for grp in groups])
        np.subtract.at(room, lot_g, x * unit[lot_g])
        y = col[base + n_lot : base + n_lot + n_money] * SCALE
        on = np.flatnonzero(y > 1e-6)
        money_g, y = self.money_g[on], y[on]
        fund_flow = dict(zip(zip(self.money_fi[on].tolist(), money_g.tolist(), strict=True), y.tolist(), strict=True))
        np.subtract.at(room, money_g, y)
        left = room.tolist()
        groups_of: dict[str, list[int]] = {}
        for g, grp in enumerate(groups):
            groups_of.setdefault(grp.commune, []).append(g)
        pool = col[base + n_lot + n_money :] * SCALE
        for (fi, c), m in zip(self.pool_arcs, pool.tolist(), strict=True):
            if m <= 1e-6:  # nothing of it could be taken below
                continue
            for g in groups_of[c]:
                take = min(m, max(left[g], 0.0))  # the class allows c and every item kind
                if take > 1e-6:
                    fund_flow[(fi, g)] = fund_flow.get((fi, g), 0.0) + take
                    left[g] -= take
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
