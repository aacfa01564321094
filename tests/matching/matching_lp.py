"""Reference continuous leximin, computed the textbook way with plain HiGHS LPs (tests only).

One variable per allowed (lot, need) pair (items) and per allowed (fund, need) pair (VND); no
aggregation. Level by level: maximise the common level ``t`` of the active communes; then, for
each active commune, a separate LP asks whether it can rise above ``t`` while every other
commune keeps its level; the ones that cannot are frozen. Finally the least money that keeps
every level. Written independently of the engine (which freezes by dual values on classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highspy

TOL = 1e-7


@dataclass
class Reference:
    levels: dict[str, float]  # r_c for communes with an open need
    min_money: float  # least fund money at those levels


class _Model:
    def __init__(self, inst: dict[str, Any]) -> None:
        self.inst = inst
        self.weight = {c["id"]: float(c["weight"]) for c in inst["communes"]}
        self.open: dict[str, int] = {}
        for n in inst["needs"]:
            self.open[n["commune"]] = (
                self.open.get(n["commune"], 0) + n["quantity"] * n["unit_value"]
            )
        self.pairs: list[tuple[str, dict, dict]] = []  # (kind, supply, need)
        for n in inst["needs"]:
            for lot in inst["lots"]:
                if lot["item"] == n["item"] and (
                    lot["communes"] is None or n["commune"] in lot["communes"]
                ):
                    self.pairs.append(("lot", lot, n))
            for f in inst["funds"]:
                if (f["communes"] is None or n["commune"] in f["communes"]) and (
                    f["items"] is None or n["item"] in f["items"]
                ):
                    self.pairs.append(("fund", f, n))

    def solve(
        self,
        objective: dict[str, float] | None,
        floors: dict[str, float],
        t_cap: float | None,
        active: set[str],
        money_cost: bool = False,
    ) -> tuple[float, float]:
        """Maximise ``t`` (or one commune's level, or minus money); returns (objective, money)."""
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        xs = []
        for kind, supply, need in self.pairs:
            scale = need["unit_value"] if kind == "lot" else 1.0
            xs.append((h.addVariable(lb=0.0), kind, supply, need, scale))
        t = h.addVariable(lb=0.0, ub=t_cap if t_cap is not None else highspy.kHighsInf)
        by_supply: dict[tuple[str, str], list] = {}
        by_need: dict[str, list] = {}
        by_commune: dict[str, list] = {}
        for var, kind, supply, need, scale in xs:
            by_supply.setdefault((kind, supply["id"]), []).append(var)
            by_need.setdefault(need["id"], []).append((var, scale))
            by_commune.setdefault(need["commune"], []).append((var, scale))
        for (kind, sid), vs in by_supply.items():
            rec = next(s for s in self.inst["lots" if kind == "lot" else "funds"] if s["id"] == sid)
            h.addConstr(sum(vs) <= rec["quantity" if kind == "lot" else "amount"])
        for n in self.inst["needs"]:
            if n["id"] in by_need:
                h.addConstr(
                    sum(s * v for v, s in by_need[n["id"]]) <= n["quantity"] * n["unit_value"]
                )
        level = {}
        for c, terms in by_commune.items():
            level[c] = sum(s * v for v, s in terms) * (1.0 / (self.weight[c] * self.open[c]))
            if c in active and objective is None:
                h.addConstr(level[c] - t >= 0)
            elif c in floors:
                h.addConstr(level[c] >= floors[c] - TOL)
        if money_cost:
            money_vars = [v for v, kind, *_ in xs if kind == "fund"]
            if not money_vars:
                return 0.0, 0.0
            h.minimize(sum(money_vars))
            return h.getObjectiveValue(), h.getObjectiveValue()
        if objective is None:
            h.maximize(t)
            return h.getSolution().col_value[-1], 0.0
        (c,) = objective
        h.maximize(level[c])
        return h.getObjectiveValue(), 0.0


def reference_leximin(inst: dict[str, Any]) -> Reference:
    m = _Model(inst)
    reachable = {n["commune"] for _, _, n in m.pairs}
    levels = {c: 0.0 for c in m.open}
    floors: dict[str, float] = {}
    active = set(reachable)
    while active:
        cap = min(1.0 / m.weight[c] for c in active)
        t, _ = m.solve(None, floors, cap, active)
        t = min(t, cap)
        frozen = {c for c in active if 1.0 / m.weight[c] <= t + TOL}
        for c in sorted(active - frozen):
            others = {d: (t if d in active else floors[d]) for d in reachable if d != c}
            best, _ = m.solve({c: 1.0}, others, None, set())
            if best <= t + 1e-6:
                frozen.add(c)
        if not frozen:
            frozen = set(active)  # cannot happen for a correct LP; keeps the loop finite
        for c in frozen:
            levels[c] = floors[c] = t
        active -= frozen
    money, _ = m.solve(None, floors, None, set(), money_cost=True)
    return Reference(levels=levels, min_money=money)
