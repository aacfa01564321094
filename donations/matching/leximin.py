"""Continuous weighted leximin (water-filling) over the aggregated instance.

The model, on the classes of :mod:`.aggregate` (VND are counted in millions, ``S``, to keep
coefficients near 1):

* ``x[L,g] >= 0`` items of lot class L sent to need group g (same item kind, commune allowed);
* ``y[F,g] >= 0`` money of fund class F sent to group g (commune and item kind allowed);
* class capacities ``sum_g x[L,g] <= Q_L`` and ``sum_g y[F,g] <= M_F``;
* group capacity ``u_g * sum_L x[L,g] + sum_F y[F,g] <= v_g`` (no need gets more than its
  open value; lot items are worth the unit value of the need they go to, so this is a flow
  with gains, i.e. a small LP rather than a plain max-flow);
* commune row ``A_c / (w_c V_c) - t >= 0`` for every *active* commune, ``A_c / (w_c V_c) >=
  r_c`` for a frozen one.

Progressive filling: maximise ``t`` (bounded above by the smallest ``1/w_c`` among active
communes, where the next one becomes full). At the optimum ``t*``, freeze every active commune
that is full (``1/w_c <= t*``) and every active commune whose row has a non-zero dual value:
the optimal duals ``y_c >= 0`` satisfy ``sum_c y_c * (A_c/(w_c V_c)) <= t* * sum_c y_c`` for
every allocation that respects the frozen levels, so a commune with ``y_c > 0`` cannot rise
above ``t*`` without another active one falling below it (the classic leximin argument).
Each round freezes at least one commune; frozen rows keep ``r_c = t*`` as a lower bound, the
model is modified in place and HiGHS restarts from the previous basis, so later rounds cost a
few simplex iterations each. Communes that no supply may reach are frozen at 0 up front.

Finally, with every level fixed, the objective becomes "minimise the money spent" (the
contract's second goal: in-kind before money).
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
LEVEL_SLACK = 1e-9  # frozen levels are kept as lower bounds less this (numerical safety)
DUAL_TOL = 1e-9


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
    return solver


def solve_leximin(agg: Aggregate) -> ContinuousPlan:
    """Water-filling levels, then the flow that reaches them with the least money."""
    groups = agg.groups
    lot_arcs = [(li, g) for li, lc in enumerate(agg.lot_classes) for g in lc.groups]
    fund_arcs = [(fi, g) for fi, fc in enumerate(agg.fund_classes) for g in fc.groups]
    reached = sorted({g for _, g in lot_arcs} | {g for _, g in fund_arcs})
    communes = sorted({groups[g].commune for g in reached})
    levels = {c: 0.0 for c in agg.open_values}
    if not communes:
        return ContinuousPlan({}, {}, levels)

    n_lc, n_fc, n_g = len(agg.lot_classes), len(agg.fund_classes), len(groups)
    crow = {c: n_lc + n_fc + n_g + i for i, c in enumerate(communes)}
    n_row = n_lc + n_fc + n_g + len(communes)
    wv = {c: agg.weights[c] * agg.open_values[c] / SCALE for c in communes}
    unit = np.array([grp.unit_value / SCALE for grp in groups])
    commune_of = [grp.commune for grp in groups]

    # Column-wise matrix: t, then lot arcs, then fund arcs.
    starts = [0]
    index: list[int] = [crow[c] for c in communes]
    value: list[float] = [-1.0] * len(communes)
    starts.append(len(index))
    for li, g in lot_arcs:
        c = commune_of[g]  # reached, hence a row of its own
        index += [li, n_lc + n_fc + g, crow[c]]
        value += [1.0, unit[g], unit[g] / wv[c]]
        starts.append(len(index))
    for fi, g in fund_arcs:
        c = commune_of[g]
        index += [n_lc + fi, n_lc + n_fc + g, crow[c]]
        value += [1.0, 1.0, 1.0 / wv[c]]
        starts.append(len(index))

    inf = highspy.kHighsInf
    n_col = 1 + len(lot_arcs) + len(fund_arcs)
    row_upper = (
        [float(lc.quantity) for lc in agg.lot_classes]
        + [fc.amount / SCALE for fc in agg.fund_classes]
        + [grp.value / SCALE for grp in groups]
        + [inf] * len(communes)
    )
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_col, n_row
    lp.col_cost_ = np.array([1.0] + [0.0] * (n_col - 1))
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.full(n_col, inf)
    lp.row_lower_ = np.array([-inf] * (n_row - len(communes)) + [0.0] * len(communes))
    lp.row_upper_ = np.array(row_upper)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)

    solver = _new_solver()
    solver.passModel(lp)

    active = set(communes)
    while active:
        t_cap = min(1.0 / agg.weights[c] for c in active)
        solver.changeColBounds(0, 0.0, t_cap)
        _run(solver)
        t_star = min(max(solver.getSolution().col_value[0], 0.0), t_cap)
        duals = solver.getSolution().row_dual
        frozen = {c for c in active if 1.0 / agg.weights[c] <= t_star + 1e-12}
        frozen |= {c for c in active if abs(duals[crow[c]]) > DUAL_TOL}
        if not frozen:  # numerical corner: freeze the most binding one
            frozen = {max(sorted(active), key=lambda c: abs(duals[crow[c]]))}
        for c in sorted(frozen):
            levels[c] = t_star
            solver.changeCoeff(crow[c], 0, 0.0)
            solver.changeRowBounds(crow[c], max(t_star - LEVEL_SLACK, 0.0), inf)
        active -= frozen

    if fund_arcs:
        solver.changeColBounds(0, 0.0, 0.0)
        solver.changeObjectiveSense(highspy.ObjSense.kMinimize)
        costs = np.array([0.0] * (1 + len(lot_arcs)) + [1.0] * len(fund_arcs))
        solver.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), costs)
        _run(solver)

    col = np.asarray(solver.getSolution().col_value)
    lot_flow = {arc: float(col[1 + i]) for i, arc in enumerate(lot_arcs) if col[1 + i] > 1e-9}
    base = 1 + len(lot_arcs)
    fund_flow = {
        arc: float(col[base + i]) * SCALE
        for i, arc in enumerate(fund_arcs)
        if col[base + i] > 1e-12
    }
    return ContinuousPlan(lot_flow, fund_flow, levels)


def _run(solver: highspy.Highs) -> None:
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS ended with status {solver.modelStatusToString(status)}")
