"""Parse and validate a contract instance into the typed model.

Every defect raises :class:`InstanceError` with one line naming the offending record and field,
for example ``needs[3] (id 'N4'): quantity must be an integer > 0, got -2``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

from .model import CONTRACT_VERSION, Commune, Fund, Instance, InstanceError, Lot, Need

T = TypeVar("T")


def load_instance(text: str | bytes) -> Instance:
    """Parse JSON text and validate it."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InstanceError(f"malformed JSON: {exc}") from None
    return parse_instance(data)


def parse_instance(data: Any) -> Instance:
    """Validate an already-decoded JSON document."""
    if not isinstance(data, dict):
        raise InstanceError("instance must be a JSON object")
    version = data.get("version")
    if type(version) is not int or version != CONTRACT_VERSION:
        raise InstanceError(f"unsupported version {version!r}: expected {CONTRACT_VERSION}")
    communes = _records(data, "communes", _commune, _fast_commune)
    known = {c.id for c in communes}
    needs = _records(data, "needs", lambda r, w: _need(r, w, known), lambda r, i: _fast_need(r, i, known))
    lots = _records(data, "lots", lambda r, w: _lot(r, w, known), lambda r, i: _fast_lot(r, i, known))
    funds = _records(data, "funds", lambda r, w: _fund(r, w, known), lambda r, i: _fast_fund(r, i, known))
    return Instance(communes=communes, needs=needs, lots=lots, funds=funds)


def _records(
    data: dict[str, Any],
    key: str,
    build: Callable[[dict[str, Any], str], T],
    fast: Callable[[dict[str, Any], str], T | None],
) -> tuple[T, ...]:
    """The records under ``key``. ``fast`` builds a record it can vouch for with a few exact
    type tests and returns None otherwise; ``build`` then checks that record field by field
    and names what is wrong (national instances: ~60,000 records, nearly all clean)."""
    raw = data.get(key)
    if not isinstance(raw, list):
        raise InstanceError(f"'{key}' must be a list")
    seen: set[str] = set()
    out: list[T] = []
    for index, record in enumerate(raw):
        if type(record) is dict:
            ident = record.get("id")
            if type(ident) is str and ident and ident not in seen:
                built = fast(record, ident)
                if built is not None:
                    seen.add(ident)
                    out.append(built)
                    continue
        where = f"{key}[{index}]"
        if not isinstance(record, dict):
            raise InstanceError(f"{where} must be an object")
        ident = record.get("id")
        if not isinstance(ident, str) or not ident:
            raise InstanceError(f"{where}: id must be a non-empty string")
        where = f"{where} (id {ident!r})"
        if ident in seen:
            raise InstanceError(f"{where}: duplicate id in '{key}'")
        seen.add(ident)
        out.append(build(record, where))
    return tuple(out)


# The fast builders accept a subset of what the checked builders below accept, and build the
# same objects from it; anything else (a missing field, a str subclass, a huge int ...) goes to
# the checked builders.


def _fast_commune(record: dict[str, Any], ident: str) -> Commune | None:
    weight = record.get("weight")
    kind = type(weight)
    if (kind is float and 0.0 < weight < math.inf) or (kind is int and 0 < weight <= 2**53):
        return Commune(id=ident, weight=float(weight))
    return None


def _fast_need(record: dict[str, Any], ident: str, known: set[str]) -> Need | None:
    commune, item = record.get("commune"), record.get("item")
    quantity, unit_value = record.get("quantity"), record.get("unit_value")
    if (
        type(commune) is str
        and commune in known
        and type(item) is str
        and item
        and type(quantity) is int
        and quantity > 0
        and type(unit_value) is int
        and unit_value > 0
    ):
        return Need(id=ident, commune=commune, item=item, quantity=quantity, unit_value=unit_value)
    return None


_NOT_FAST: Any = object()


def _fast_communes(record: dict[str, Any], known: set[str]) -> Any:
    """The allowed communes, or _NOT_FAST."""
    value = record.get("communes", _NOT_FAST)
    if value is None:
        return None
    if type(value) is not list:
        return _NOT_FAST
    try:
        allowed = frozenset(value)
    except TypeError:
        return _NOT_FAST
    # only strings (or what equals one: str subclasses, accepted as well below) are in known
    return allowed if allowed <= known else _NOT_FAST


def _fast_lot(record: dict[str, Any], ident: str, known: set[str]) -> Lot | None:
    item, quantity = record.get("item"), record.get("quantity")
    if type(item) is str and item and type(quantity) is int and quantity > 0:
        communes = _fast_communes(record, known)
        if communes is not _NOT_FAST:
            return Lot(id=ident, item=item, quantity=quantity, communes=communes)
    return None


def _fast_fund(record: dict[str, Any], ident: str, known: set[str]) -> Fund | None:
    amount, items = record.get("amount"), record.get("items", _NOT_FAST)
    if type(amount) is not int or amount <= 0:
        return None
    if items is not None:
        if type(items) is not list or not all(type(i) is str and i for i in items):
            return None
        items = frozenset(items)
    communes = _fast_communes(record, known)
    if communes is _NOT_FAST:
        return None
    return Fund(id=ident, amount=amount, communes=communes, items=items)


def _commune(record: dict[str, Any], where: str) -> Commune:
    weight = _field(record, "weight", where)
    if type(weight) not in (int, float) or not math.isfinite(weight) or weight <= 0:
        raise InstanceError(f"{where}: weight must be a number > 0, got {weight!r}")
    return Commune(id=record["id"], weight=float(weight))


def _need(record: dict[str, Any], where: str, known: set[str]) -> Need:
    commune = _commune_ref(_field(record, "commune", where), where, known)
    return Need(
        id=record["id"],
        commune=commune,
        item=_item(_field(record, "item", where), where),
        quantity=_positive_int(record, "quantity", where),
        unit_value=_positive_int(record, "unit_value", where),
    )


def _lot(record: dict[str, Any], where: str, known: set[str]) -> Lot:
    return Lot(
        id=record["id"],
        item=_item(_field(record, "item", where), where),
        quantity=_positive_int(record, "quantity", where),
        communes=_commune_list(record, where, known),
    )


def _fund(record: dict[str, Any], where: str, known: set[str]) -> Fund:
    items = _field(record, "items", where)
    if items is not None:
        if not isinstance(items, list):
            raise InstanceError(f"{where}: items must be null or a list of item kinds")
        items = frozenset(_item(i, where) for i in items)
    return Fund(
        id=record["id"],
        amount=_positive_int(record, "amount", where),
        communes=_commune_list(record, where, known),
        items=items,
    )


def _field(record: dict[str, Any], name: str, where: str) -> Any:
    if name not in record:
        raise InstanceError(f"{where}: missing field '{name}'")
    return record[name]


def _positive_int(record: dict[str, Any], name: str, where: str) -> int:
    value = _field(record, name, where)
    if type(value) is not int or value <= 0:
        raise InstanceError(f"{where}: {name} must be an integer > 0, got {value!r}")
    return value


def _item(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InstanceError(f"{where}: item kind must be a non-empty string, got {value!r}")
    return value


def _commune_ref(value: Any, where: str, known: set[str]) -> str:
    if not isinstance(value, str):
        raise InstanceError(f"{where}: commune id must be a string, got {value!r}")
    if value not in known:
        raise InstanceError(f"{where}: unknown commune {value!r}")
    return value


def _commune_list(record: dict[str, Any], where: str, known: set[str]) -> frozenset[str] | None:
    value = _field(record, "communes", where)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InstanceError(f"{where}: communes must be null or a list of commune ids")
    return frozenset(_commune_ref(c, where, known) for c in value)
