"""Typed model of the matching contract (shared/contracts/matching-v1.md).

The instance types are frozen dataclasses built only by :mod:`.validate`, so every object that
reaches the solvers already satisfies the contract's rules on input. The result keeps whole
items and whole VND and serialises deterministically.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _string  # the encoder json.dumps uses

CONTRACT_VERSION = 1


class InstanceError(ValueError):
    """An instance that breaks the contract. ``str(error)`` is one clear line."""


@dataclass(frozen=True, slots=True)
class Commune:
    id: str
    weight: float


@dataclass(frozen=True, slots=True)
class Need:
    id: str
    commune: str
    item: str
    quantity: int
    unit_value: int

    @property
    def value(self) -> int:
        """Open value in VND."""
        return self.quantity * self.unit_value


@dataclass(frozen=True, slots=True)
class Lot:
    id: str
    item: str
    quantity: int
    communes: frozenset[str] | None  # None: may go anywhere

    def serves(self, need: Need) -> bool:
        return need.item == self.item and (self.communes is None or need.commune in self.communes)


@dataclass(frozen=True, slots=True)
class Fund:
    id: str
    amount: int
    communes: frozenset[str] | None
    items: frozenset[str] | None

    def serves(self, need: Need) -> bool:
        return (self.communes is None or need.commune in self.communes) and (
            self.items is None or need.item in self.items
        )


@dataclass(frozen=True, slots=True)
class Instance:
    """A validated instance; the tuples keep the order of the input file."""

    communes: tuple[Commune, ...]
    needs: tuple[Need, ...]
    lots: tuple[Lot, ...]
    funds: tuple[Fund, ...]

    def open_values(self) -> dict[str, int]:
        """V_c for every commune with at least one open need."""
        values: dict[str, int] = {}
        for need in self.needs:
            values[need.commune] = values.get(need.commune, 0) + need.value
        return values


@dataclass(frozen=True, slots=True)
class Allocation:
    """One line of the result: ``quantity`` items of a lot, or ``amount`` VND of a fund."""

    need: str
    kind: str  # "lot" or "fund"
    source: str
    units: int  # items for a lot, VND for a fund

    def sort_key(self) -> tuple[str, int, str]:
        """Need id, then lots before funds (as in the contract's example), then source id."""
        return (self.need, 0 if self.kind == "lot" else 1, self.source)

    def to_dict(self) -> dict[str, str | int]:
        if self.kind == "lot":
            return {"need": self.need, "lot": self.source, "quantity": self.units}
        return {"need": self.need, "fund": self.source, "amount": self.units}


@dataclass(frozen=True, slots=True)
class Result:
    instance: Instance
    policy: str
    allocations: tuple[Allocation, ...] = field(default_factory=tuple)

    def _allocated(self, open_values: dict[str, int]) -> dict[str, int]:
        needs = {need.id: need for need in self.instance.needs}
        values = dict.fromkeys(open_values, 0)
        for a in self.allocations:
            need = needs[a.need]
            values[need.commune] += a.units * need.unit_value if a.kind == "lot" else a.units
        return values

    def coverage(self) -> dict[str, float]:
        open_values = self.instance.open_values()
        allocated = self._allocated(open_values)
        return {c: allocated[c] / open_values[c] for c in open_values}

    def summary(self) -> dict[str, object]:
        weights = {c.id: c.weight for c in self.instance.communes}
        open_values = self.instance.open_values()
        allocated = self._allocated(open_values)
        coverage = {c: allocated[c] / open_values[c] for c in open_values}
        return {
            "policy": self.policy,
            "fund_spent": sum(a.units for a in self.allocations if a.kind == "fund"),
            "items_given": sum(a.units for a in self.allocations if a.kind == "lot"),
            "communes": [
                {
                    "id": c,
                    "open_value": open_values[c],
                    "allocated_value": allocated[c],
                    "coverage": round(coverage[c], 6),
                    "r": round(coverage[c] / weights[c], 6),
                }
                for c in sorted(coverage)
            ],
        }

    def sorted_allocations(self) -> list[Allocation]:
        return sorted(self.allocations, key=Allocation.sort_key)

    def to_dict(self) -> dict[str, object]:
        return {
            "version": CONTRACT_VERSION,
            "allocations": [a.to_dict() for a in self.sorted_allocations()],
            "summary": self.summary(),
        }

    def to_json(self) -> str:
        """Deterministic JSON: same instance and policy, same bytes.

        Exactly ``json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\\n"`` (a test
        holds it to that), written directly: the standard encoder's pure-Python indenting path
        took ~0.3 s for a national result.
        """
        lines = [f'{{\n "version": {CONTRACT_VERSION},\n "allocations": ']
        allocations = self.sorted_allocations()
        if allocations:
            lot = '  {{\n   "need": {},\n   "lot": {},\n   "quantity": {}\n  }}'.format
            fund = '  {{\n   "need": {},\n   "fund": {},\n   "amount": {}\n  }}'.format
            lines.append(
                "[\n"
                + ",\n".join(
                    (lot if a.kind == "lot" else fund)(_string(a.need), _string(a.source), int.__repr__(a.units))
                    for a in allocations
                )
                + "\n ]"
            )
        else:
            lines.append("[]")
        summary = self.summary()
        lines.append(
            f',\n "summary": {{\n  "policy": {_string(summary["policy"])},\n'
            f'  "fund_spent": {summary["fund_spent"]!r},\n  "items_given": {summary["items_given"]!r},\n'
            '  "communes": '
        )
        communes = summary["communes"]
        if communes:
            row = (
                '   {{\n    "id": {},\n    "open_value": {},\n    "allocated_value": {},\n'
                '    "coverage": {},\n    "r": {}\n   }}'
            ).format
            lines.append(
                "[\n"
                + ",\n".join(
                    row(
                        _string(c["id"]),
                        int.__repr__(c["open_value"]),
                        int.__repr__(c["allocated_value"]),
                        _number(c["coverage"]),
                        _number(c["r"]),
                    )
                    for c in communes
                )
                + "\n  ]"
            )
        else:
            lines.append("[]")
        lines.append("\n }\n}\n")
        return "".join(lines)


def _number(x: float) -> str:
    """A float as the json module writes it."""
    return float.__repr__(x) if math.isfinite(x) else json.dumps(x)


def merge_allocations(lines: list[Allocation]) -> tuple[Allocation, ...]:
    """Add up lines for the same (need, source) pair and drop empty ones; sorted."""
    totals: dict[tuple[str, str, str], int] = {}
    for a in lines:
        key = (a.need, a.kind, a.source)
        totals[key] = totals.get(key, 0) + a.units
    merged = [Allocation(n, k, s, u) for (n, k, s), u in totals.items() if u > 0]
    return tuple(sorted(merged, key=Allocation.sort_key))
