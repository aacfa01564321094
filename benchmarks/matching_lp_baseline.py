"""One level of the matching problem as a plain LP in HiGHS (the benchmark's yardstick).

Variables: items for every allowed (lot, need) pair, VND for every allowed (fund, need) pair,
and the level ``t``. Rows: lot and fund capacities, need caps (rule 3), and for every commune
that some supply may reach ``A_c - t * w_c * V_c >= 0``. Maximise ``t``. No aggregation, no
warm start: what a direct model of the contract gives for a single water-filling level.

    python benchmarks/matching_lp_baseline.py INSTANCE.json [TIME_LIMIT_S] [--merge]

prints one JSON line: build and solve seconds, size, status, t. With ``--merge``, lots with the
same (item, communes) and funds with the same (communes, items) are first added up into one
record each: the same plain model on a much smaller instance, as a second, runnable yardstick
when the first does not fit in memory.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict

import highspy
import numpy as np

SCALE = 1e6


def merge_identical(inst: dict) -> dict:
    def key(values: list[str] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(sorted(values))

    lots: dict[tuple, dict] = {}
    for lot in inst["lots"]:
        k = (lot["item"], key(lot["communes"]))
        if k in lots:
            lots[k]["quantity"] += lot["quantity"]
        else:
            lots[k] = dict(lot)
    funds: dict[tuple, dict] = {}
    for fund in inst["funds"]:
        k = (key(fund["communes"]), key(fund["items"]))
        if k in funds:
            funds[k]["amount"] += fund["amount"]
        else:
            funds[k] = dict(fund)
    return {**inst, "lots": list(lots.values()), "funds": list(funds.values())}


def build_and_solve(path: str, time_limit: float, merge: bool = False) -> dict[str, object]:
    start = time.perf_counter()
    inst = json.loads(open(path, "rb").read())
    if merge:
        inst = merge_identical(inst)
    needs = inst["needs"]
    weight = {c["id"]: float(c["weight"]) for c in inst["communes"]}
    n_lot, n_fund, n_need = len(inst["lots"]), len(inst["funds"]), len(needs)
    commune_ids = sorted({n["commune"] for n in needs})
    crow_of = {c: n_lot + n_fund + n_need + i for i, c in enumerate(commune_ids)}
    unit = np.array([n["unit_value"] / SCALE for n in needs])
    need_crow = np.array([crow_of[n["commune"]] for n in needs], dtype=np.int32)
    by_item: dict[str, list[int]] = defaultdict(list)
    by_commune: dict[str, list[int]] = defaultdict(list)
    for j, n in enumerate(needs):
        by_item[n["item"]].append(j)
        by_commune[n["commune"]].append(j)
    item_of = np.array([n["item"] for n in needs])

    blocks_idx, blocks_val, counts = [], [], []
    reached = np.zeros(n_need, dtype=bool)

    def add(row: int, cols: np.ndarray, coef: np.ndarray) -> None:
        k = len(cols)
        idx = np.empty((k, 3), dtype=np.int32)
        idx[:, 0], idx[:, 1], idx[:, 2] = row, n_lot + n_fund + cols, need_crow[cols]
        val = np.empty((k, 3))
        val[:, 0], val[:, 1], val[:, 2] = 1.0, coef, coef
        blocks_idx.append(idx.ravel())
        blocks_val.append(val.ravel())
        counts.append(k)
        reached[cols] = True

    for i, lot in enumerate(inst["lots"]):
        if lot["communes"] is None:
            cols = np.array(by_item.get(lot["item"], []), dtype=np.int64)
        else:
            allowed = [j for c in lot["communes"] for j in by_commune.get(c, [])]
            cols = np.array([j for j in allowed if needs[j]["item"] == lot["item"]], dtype=np.int64)
        add(i, cols, unit[cols])
    for i, fund in enumerate(inst["funds"]):
        if fund["communes"] is None:
            cols = np.arange(n_need)
        else:
            cols = np.array(sorted(j for c in fund["communes"] for j in by_commune.get(c, [])), dtype=np.int64)
        if fund["items"] is not None and len(cols):
            cols = cols[np.isin(item_of[cols], fund["items"])]
        add(n_lot + i, cols, np.ones(len(cols)))

    reached_communes = sorted({needs[j]["commune"] for j in np.flatnonzero(reached)})
    open_value: dict[str, float] = defaultdict(float)
    for n in needs:
        open_value[n["commune"]] += n["quantity"] * n["unit_value"] / SCALE
    n_row = n_lot + n_fund + n_need + len(commune_ids)
    t_idx = np.array([crow_of[c] for c in reached_communes], dtype=np.int32)
    t_val = np.array([-weight[c] * open_value[c] for c in reached_communes])
    index = np.concatenate([t_idx, *blocks_idx])
    value = np.concatenate([t_val, *blocks_val])
    n_col = 1 + sum(counts)
    # every pair column has exactly three entries (its supply, its need, its commune)
    starts = np.concatenate([[0], len(t_idx) + 3 * np.arange(n_col, dtype=np.int64)]).astype(np.int32)
    blocks_idx.clear()  # free the pieces before HiGHS copies the matrix
    blocks_val.clear()

    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_col, n_row
    lp.col_cost_ = np.concatenate([[1.0], np.zeros(n_col - 1)])
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.full(n_col, inf)
    row_lower = np.full(n_row, -inf)
    row_upper = np.full(n_row, inf)
    row_upper[:n_lot] = [lot["quantity"] for lot in inst["lots"]]
    row_upper[n_lot : n_lot + n_fund] = [f["amount"] / SCALE for f in inst["funds"]]
    row_upper[n_lot + n_fund : n_lot + n_fund + n_need] = [n["quantity"] * n["unit_value"] / SCALE for n in needs]
    row_lower[t_idx] = 0.0
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    if h.passModel(lp) != highspy.HighsStatus.kOk:
        raise RuntimeError("HiGHS refused the model")
    built = time.perf_counter()
    h.run()
    solved = time.perf_counter()
    status = h.modelStatusToString(h.getModelStatus())
    return {
        "columns": int(n_col),
        "rows": int(n_row),
        "nonzeros": int(len(index)),
        "build_s": round(built - start, 2),
        "solve_s": round(solved - built, 2),
        "status": status,
        "t": h.getSolution().col_value[0] if status == "Optimal" else None,
    }


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--merge"]
    limit = float(args[1]) if len(args) > 1 else 1800.0
    print(json.dumps(build_and_solve(args[0], limit, merge="--merge" in sys.argv)))
