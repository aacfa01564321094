"""Hand-made cases, the worked example and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from matching_checker import check_result, fund_spent

from donations.matching import InstanceError, load_instance, parse_instance, solve

CONTRACTS = Path("/work/shared/contracts")
if not CONTRACTS.exists():  # a checkout with shared/ beside the repository
    CONTRACTS = Path(__file__).resolve().parents[3] / "shared" / "contracts"
EXAMPLE = CONTRACTS / "matching-v1-example.json"
EXAMPLE_RESULT = CONTRACTS / "matching-v1-example-result.json"
REPO = Path(__file__).resolve().parents[2]


def run(inst: dict[str, Any], policy: str = "leximin") -> tuple[dict[str, Any], dict[str, float]]:
    solved = solve(parse_instance(inst), policy)
    text = solved.to_json()
    # to_json writes the JSON itself for speed: exactly what the json module would write
    assert text == json.dumps(solved.to_dict(), ensure_ascii=False, indent=1) + "\n"
    result = json.loads(text)
    return result, check_result(inst, result)


def instance(communes, needs, lots=(), funds=()) -> dict[str, Any]:
    return {
        "version": 1,
        "communes": [{"id": c, "weight": w} for c, w in communes],
        "needs": [
            {"id": i, "commune": c, "item": k, "quantity": q, "unit_value": u}
            for i, c, k, q, u in needs
        ],
        "lots": [{"id": i, "item": k, "quantity": q, "communes": cs} for i, k, q, cs in lots],
        "funds": [{"id": i, "amount": a, "communes": cs, "items": it} for i, a, cs, it in funds],
    }


def test_worked_example_gives_the_contract_result() -> None:
    inst = json.loads(EXAMPLE.read_text())
    result, coverage = run(inst)
    assert result["allocations"] == json.loads(EXAMPLE_RESULT.read_text())["allocations"]
    assert coverage == {"A": 0.5, "B": 0.5, "C": 0.6}


def test_indivisible_computer_goes_whole_to_one_commune() -> None:
    inst = instance(
        [("A", 1.0), ("B", 1.0)],
        [
            ("N1", "A", "equipment/computer", 1, 12_000_000),
            ("N2", "B", "equipment/computer", 1, 12_000_000),
        ],
        lots=[("L1", "equipment/computer", 1, None)],
    )
    result, coverage = run(inst)
    assert len(result["allocations"]) == 1 and result["allocations"][0]["quantity"] == 1
    assert sorted(coverage.values()) == [0.0, 1.0]


def test_money_makes_up_for_an_item_that_cannot_be_split() -> None:
    computers = [
        ("N1", "A", "equipment/computer", 1, 12_000_000),
        ("N2", "B", "equipment/computer", 1, 12_000_000),
    ]
    lot = [("L1", "equipment/computer", 1, None)]
    result, coverage = run(
        instance([("A", 1.0), ("B", 1.0)], computers, lot, [("F1", 6_000_000, None, None)])
    )
    # Continuous optimum: 0.75 each. Whole: the computer to one, all the money to the other.
    assert sorted(coverage.values()) == [0.5, 1.0]
    assert fund_spent(result) == 6_000_000
    result, coverage = run(
        instance([("A", 1.0), ("B", 1.0)], computers, lot, [("F1", 50_000_000, None, None)])
    )
    assert coverage == {"A": 1.0, "B": 1.0}
    assert fund_spent(result) == 12_000_000


def test_earmarked_supply_stays_where_the_donor_wants() -> None:
    inst = instance(
        [("A", 1.0), ("B", 2.0)],
        [("N1", "A", "book/law", 10, 50_000), ("N2", "B", "book/law", 10, 50_000)],
        lots=[("L1", "book/law", 10, ["A"])],
        funds=[("F1", 200_000, ["B"], ["book/law"]), ("F2", 100_000, None, ["book/children"])],
    )
    result, coverage = run(inst)
    assert {(a["need"], a.get("lot") or a.get("fund")) for a in result["allocations"]} == {
        ("N1", "L1"),
        ("N2", "F1"),
    }
    assert coverage == {"A": 1.0, "B": 0.4}


def test_in_kind_before_money() -> None:
    inst = instance(
        [("A", 1.0)],
        [("N1", "A", "book/children", 10, 30_000)],
        lots=[("L1", "book/children", 6, None)],
        funds=[("F1", 1_000_000, None, None)],
    )
    result, coverage = run(inst)
    assert coverage == {"A": 1.0}
    assert fund_spent(result) == 4 * 30_000


def test_unreachable_commune_gets_zero_without_crashing() -> None:
    inst = instance(
        [("A", 1.0), ("B", 1.5), ("Z", 2.0)],
        [
            ("N1", "A", "book/law", 5, 40_000),
            ("N2", "B", "book/law", 5, 40_000),
            ("N3", "B", "x", 1, 9),
        ],
        lots=[("L1", "book/law", 4, ["A", "B"])],
    )
    result, coverage = run(inst)
    assert "Z" not in coverage  # no open need: left out
    assert coverage["A"] > 0 and coverage["B"] > 0
    inst["needs"].append(
        {
            "id": "N9",
            "commune": "Z",
            "item": "equipment/computer",
            "quantity": 1,
            "unit_value": 9_000_000,
        }
    )
    result, coverage = run(inst)
    assert coverage["Z"] == 0.0


@pytest.mark.parametrize("policy", ["leximin", "proportional", "priority", "fcfs"])
def test_json_of_empty_and_unusual_results_is_the_json_module_s(policy: str) -> None:
    cases = [
        instance([("A", 1.0)], []),  # no need: no allocation, no commune in the summary
        instance([("A", 1.0)], [("N1", "A", "book/law", 5, 40_000)]),  # nothing to give
        instance(  # ids that need escaping, non-ASCII ids, a weight that gives a long float
            [('Xã "Ba"\\\n', 3.0), ("Phường Đông", 0.7)],
            [
                ("N\u00e9", 'Xã "Ba"\\\n', "sách/thiếu nhi", 7, 33_333),
                ("N\t2", "Phường Đông", "sách/thiếu nhi", 3, 10_001),
            ],
            lots=[("L\u2028", "sách/thiếu nhi", 4, None)],
            funds=[("F/1", 12_345, None, None)],
        ),
    ]
    for inst in cases:
        run(inst, policy)


def test_supply_larger_than_needs_fills_everything_and_leaves_the_rest() -> None:
    inst = instance(
        [("A", 1.0), ("B", 1.25)],
        [("N1", "A", "book/children", 7, 35_000), ("N2", "B", "equipment/bookshelf", 2, 2_400_000)],
        lots=[("L1", "book/children", 50, None), ("L2", "equipment/bookshelf", 1, None)],
        funds=[("F1", 90_000_000, None, None)],
    )
    result, coverage = run(inst)
    assert coverage == {"A": 1.0, "B": 1.0}
    assert fund_spent(result) == 2_400_000  # the second bookshelf only
    assert sum(a["quantity"] for a in result["allocations"] if "lot" in a) == 8


def test_same_output_twice_and_whatever_the_record_order() -> None:
    inst = instance(
        [("A", 1.0), ("B", 1.5), ("C", 1.0)],
        [
            ("N1", "A", "book/children", 33, 35_000),
            ("N2", "B", "book/children", 21, 45_000),
            ("N3", "C", "book/children", 17, 35_000),
            ("N4", "C", "book/law", 9, 110_000),
        ],
        lots=[("L1", "book/children", 31, None), ("L2", "book/children", 7, ["C", "B"])],
        funds=[("F1", 777_777, None, None), ("F2", 123_457, ["A"], None)],
    )
    first = solve(parse_instance(inst)).to_json()
    assert solve(parse_instance(inst)).to_json() == first
    for key in ("communes", "needs", "lots", "funds"):
        inst[key].reverse()
    assert solve(parse_instance(inst)).to_json() == first


@pytest.mark.parametrize("policy", ["proportional", "priority", "fcfs"])
def test_other_policies_keep_the_hard_rules(policy: str) -> None:
    inst = json.loads(EXAMPLE.read_text())
    result, coverage = run(inst, policy)
    assert result["summary"]["policy"] == policy
    assert sum(coverage.values()) > 0


def test_priority_fills_the_heaviest_commune_first() -> None:
    inst = instance(
        [("A", 1.0), ("B", 2.0)],
        [("N1", "A", "book/law", 10, 50_000), ("N2", "B", "book/law", 10, 50_000)],
        lots=[("L1", "book/law", 12, None)],
    )
    _, coverage = run(inst, "priority")
    assert coverage == {"A": 0.2, "B": 1.0}


def test_proportional_shares_by_open_value() -> None:
    inst = instance(
        [("A", 1.0), ("B", 2.0)],
        [("N1", "A", "book/law", 30, 50_000), ("N2", "B", "book/law", 10, 50_000)],
        lots=[("L1", "book/law", 20, None)],
    )
    _, coverage = run(inst, "proportional")
    assert coverage == {"A": 0.5, "B": 0.5}


# ---------------------------------------------------------------- validation and CLI

GOOD = json.loads(EXAMPLE.read_text()) if EXAMPLE.exists() else {}


def broken(path: str, value: Any) -> dict[str, Any]:
    inst = json.loads(json.dumps(GOOD))
    key, index, field = path.split(".")
    inst[key][int(index)][field] = value
    return inst


BAD = {
    "unknown commune": (broken("needs.0.commune", "NOPE"), "unknown commune 'NOPE'"),
    "unknown lot commune": (broken("lots.0.communes", ["A", "X"]), "unknown commune 'X'"),
    "negative quantity": (broken("needs.1.quantity", -3), "quantity must be an integer > 0"),
    "non-integer quantity": (broken("lots.0.quantity", 2.5), "quantity must be an integer > 0"),
    "zero amount": (broken("funds.0.amount", 0), "amount must be an integer > 0"),
    "string unit value": (broken("needs.0.unit_value", "10000"), "unit_value must be"),
    "boolean quantity": (broken("needs.0.quantity", True), "quantity must be"),
    "zero weight": (broken("communes.0.weight", 0), "weight must be a number > 0"),
    "duplicate need id": (broken("needs.1.id", "N1"), "duplicate id"),
    "duplicate commune id": (broken("communes.1.id", "A"), "duplicate id"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_invalid_instances_raise_one_line(name: str) -> None:
    inst, message = BAD[name]
    with pytest.raises(InstanceError) as info:
        parse_instance(inst)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_fast_validation_builds_what_the_checked_builders_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from donations.matching import validate

    class Name(str):
        pass

    inst = instance(
        [("A", 1), ("B", 2.5), (Name("C"), 2**60)],  # an int weight, a str subclass, a huge int
        [("N1", "A", "book/law", 5, 40_000), ("N2", Name("B"), "book/law", 2, 1), ("N3", "C", "x", 1, 9)],
        lots=[("L1", "book/law", 4, ["A", Name("B")]), ("L2", "x", 1, None), ("L3", "x", 2, [])],
        funds=[("F1", 10, None, ["book/law"]), ("F2", 5, ["C"], None), ("F3", 7, None, None)],
    )
    fast = parse_instance(inst)
    for name in ("_fast_commune", "_fast_need", "_fast_lot", "_fast_fund"):
        monkeypatch.setattr(validate, name, lambda *args: None)
    checked = parse_instance(inst)
    assert fast == checked
    assert [type(c.id) for c in fast.communes] == [type(c.id) for c in checked.communes]


def test_wrong_version_and_malformed_json() -> None:
    with pytest.raises(InstanceError, match="version"):
        parse_instance({**GOOD, "version": 2})
    with pytest.raises(InstanceError, match="malformed JSON"):
        load_instance("{not json")
    with pytest.raises(InstanceError, match="'lots' must be a list"):
        parse_instance({**GOOD, "lots": {}})


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "donations.matching", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_cli_prints_the_example_result() -> None:
    done = cli(str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    expected = json.loads(EXAMPLE_RESULT.read_text())["allocations"]
    assert json.loads(done.stdout)["allocations"] == expected
    assert cli(str(EXAMPLE)).stdout == done.stdout  # byte for byte


def test_cli_writes_the_output_file_and_accepts_a_policy(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = cli(str(EXAMPLE), "-o", str(out), "--policy", "fcfs")
    assert done.returncode == 0 and done.stdout == ""
    check_result(GOOD, json.loads(out.read_text()))


@pytest.mark.parametrize(
    "name",
    [
        "unknown commune",
        "negative quantity",
        "non-integer quantity",
        "duplicate need id",
        "malformed",
    ],
)
def test_cli_rejects_bad_instances(tmp_path: Path, name: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        '{"version": 1, "communes": [' if name == "malformed" else json.dumps(BAD[name][0])
    )
    done = cli(str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("invalid instance: ")
