"""Collapse the instance into classes before any optimisation.

* A **need group** joins the needs of one commune with the same item kind and unit value:
  they are interchangeable for every objective, so the solver sees one node per group.
* A **lot class** joins lots with the same (item, allowed communes) signature; a **fund
  class** joins funds with the same (allowed communes, allowed items) signature. Members of a
  class can serve exactly the same groups, so their capacities simply add up. Unrestricted
  supply (the bulk of a real instance) becomes one class per item kind plus one fund class.
* An **arc** is a (class, group) pair the class may serve.

Everything is ordered by ids, never by the order of the input file, so that the models built
from it (and hence the results) do not depend on how the instance lists its records.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter

from .model import Fund, Instance, Lot, Need


@dataclass(slots=True)
class Group:
    commune: str
    item: str
    unit_value: int
    needs: list[Need]  # sorted by id
    quantity: int = field(init=False)  # sum of the needs' quantities (computed once: read often)
    value: int = field(init=False)  # quantity * unit_value

    def __post_init__(self) -> None:
        self.quantity = sum(n.quantity for n in self.needs)
        self.value = self.quantity * self.unit_value


@dataclass(slots=True)
class LotClass:
    item: str
    communes: frozenset[str] | None
    lots: list[Lot]  # sorted by id
    groups: list[int]  # indices of the groups it may serve, ascending
    quantity: int = field(init=False)

    def __post_init__(self) -> None:
        self.quantity = sum(lot.quantity for lot in self.lots)


@dataclass(slots=True)
class FundClass:
    communes: frozenset[str] | None
    items: frozenset[str] | None
    funds: list[Fund]
    groups: list[int]
    amount: int = field(init=False)

    def __post_init__(self) -> None:
        self.amount = sum(f.amount for f in self.funds)


@dataclass(slots=True)
class Aggregate:
    groups: list[Group]
    lot_classes: list[LotClass]
    fund_classes: list[FundClass]
    weights: dict[str, float]
    open_values: dict[str, int]  # V_c, communes with open needs only


_by_id = attrgetter("id")


def _signature(values: frozenset[str] | None) -> tuple[int, tuple[str, ...]]:
    return (0, ()) if values is None else (1, tuple(sorted(values)))


def aggregate(instance: Instance) -> Aggregate:
    by_key: dict[tuple[str, str, int], list[Need]] = defaultdict(list)
    for need in sorted(instance.needs, key=_by_id):
        by_key[(need.commune, need.item, need.unit_value)].append(need)
    groups = [Group(c, i, u, needs) for (c, i, u), needs in sorted(by_key.items())]

    by_item: dict[str, list[int]] = defaultdict(list)
    by_commune_item: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_commune: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        by_item[group.item].append(index)
        by_commune_item[(group.commune, group.item)].append(index)
        by_commune[group.commune].append(index)

    lot_members: dict[tuple, list[Lot]] = defaultdict(list)
    for lot in sorted(instance.lots, key=_by_id):
        lot_members[(lot.item, _signature(lot.communes))].append(lot)
    lot_classes = []
    for (item, _), lots in sorted(lot_members.items()):
        communes = lots[0].communes
        if communes is None:
            reach = list(by_item.get(item, []))
        else:
            reach = sorted(g for c in communes for g in by_commune_item.get((c, item), []))
        lot_classes.append(LotClass(item, communes, lots, reach))

    fund_members: dict[tuple, list[Fund]] = defaultdict(list)
    for fund in sorted(instance.funds, key=_by_id):
        fund_members[(_signature(fund.communes), _signature(fund.items))].append(fund)
    fund_classes = []
    for _, funds in sorted(fund_members.items()):
        communes, items = funds[0].communes, funds[0].items
        if communes is None:
            candidates = range(len(groups))
        else:
            candidates = sorted(g for c in communes for g in by_commune.get(c, []))
        reach = [g for g in candidates if items is None or groups[g].item in items]
        fund_classes.append(FundClass(communes, items, funds, reach))

    return Aggregate(
        groups=groups,
        lot_classes=lot_classes,
        fund_classes=fund_classes,
        weights={c.id: c.weight for c in instance.communes},
        open_values=instance.open_values(),
    )
