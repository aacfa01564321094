"""Independent checker of the contract's hard rules, written apart from the engine.

It reads the raw instance and result documents (plain dicts) and uses nothing from
``donations.matching``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def check_result(instance: dict[str, Any], result: dict[str, Any]) -> dict[str, float]:
    """Assert rules 1-4; return the coverage of every commune with an open need."""
    assert result["version"] == 1
    needs = {n["id"]: n for n in instance["needs"]}
    lots = {x["id"]: x for x in instance["lots"]}
    funds = {f["id"]: f for f in instance["funds"]}
    drawn_lot: dict[str, int] = defaultdict(int)
    drawn_fund: dict[str, int] = defaultdict(int)
    given: dict[str, int] = defaultdict(int)
    for a in result["allocations"]:
        need = needs[a["need"]]
        assert ("lot" in a) != ("fund" in a), a
        if "lot" in a:
            q = a["quantity"]
            assert type(q) is int and q > 0, a  # rule 1
            lot = lots[a["lot"]]
            assert lot["item"] == need["item"], a  # rule 4
            assert lot["communes"] is None or need["commune"] in lot["communes"], a
            drawn_lot[lot["id"]] += q
            given[need["id"]] += q * need["unit_value"]
        else:
            m = a["amount"]
            assert type(m) is int and m > 0, a  # rule 1
            fund = funds[a["fund"]]
            assert fund["communes"] is None or need["commune"] in fund["communes"], a  # rule 4
            assert fund["items"] is None or need["item"] in fund["items"], a
            drawn_fund[fund["id"]] += m
            given[need["id"]] += m
    for lid, q in drawn_lot.items():  # rule 2
        assert q <= lots[lid]["quantity"], (lid, q)
    for fid, m in drawn_fund.items():
        assert m <= funds[fid]["amount"], (fid, m)
    for nid, v in given.items():  # rule 3
        assert v <= needs[nid]["quantity"] * needs[nid]["unit_value"], (nid, v)

    open_value: dict[str, int] = defaultdict(int)
    allocated: dict[str, int] = defaultdict(int)
    for need in instance["needs"]:
        open_value[need["commune"]] += need["quantity"] * need["unit_value"]
        allocated[need["commune"]] += given.get(need["id"], 0)
    return {c: allocated[c] / open_value[c] for c in open_value}


def fund_spent(result: dict[str, Any]) -> int:
    return sum(a["amount"] for a in result["allocations"] if "fund" in a)
