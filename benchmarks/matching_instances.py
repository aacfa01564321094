"""Realistic, seeded matching instances over Vietnam's 3,321 communes (post-2025 wards).

Commune ids are ``f"{province_code}-{ward_code}"`` from the pinned ``vietnam-provinces``
package. Northern mountainous and border provinces get weights 1.25-2.0, a few other
communes 1.25, the rest 1.0. Needs are book categories (30,000-150,000 ₫ a copy) and equipment
(1,500,000-15,000,000 ₫ a piece) at catalogue price points; supply is about half of the open
value: lots (in-kind, ~60 % of supply value) and funds (~40 %). Most supply is unrestricted;
some is earmarked to a few communes of one province, to a whole province, or (funds) to books.

    python benchmarks/matching_instances.py national OUT.json
    python benchmarks/matching_instances.py small-supply OUT.json
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from typing import Any

from vietnam_provinces import Ward

# kind: (catalogue price points in VND, typical quantity range of a need)
KINDS: dict[str, tuple[tuple[int, ...], tuple[int, int]]] = {
    "book/children": ((32_000, 35_000, 45_000, 58_000), (30, 300)),
    "book/literature": ((48_000, 65_000, 90_000), (20, 200)),
    "book/agriculture": ((40_000, 55_000, 75_000), (20, 150)),
    "book/science": ((60_000, 85_000, 120_000), (20, 150)),
    "book/law": ((70_000, 110_000, 150_000), (10, 80)),
    "book/ethnic-language": ((30_000, 42_000, 60_000), (20, 200)),
    "book/reference": ((95_000, 130_000, 150_000), (5, 40)),
    "equipment/bookshelf": ((1_500_000, 2_400_000, 3_800_000), (1, 8)),
    "equipment/reading-table": ((1_800_000, 2_900_000), (1, 6)),
    "equipment/computer": ((8_500_000, 12_000_000, 15_000_000), (1, 4)),
    "equipment/projector": ((6_000_000, 9_500_000), (1, 2)),
}
BOOKS = sorted(k for k in KINDS if k.startswith("book/"))
# Northern mountainous / border provinces (post-2025 codes): Cao Bằng, Tuyên Quang, Điện Biên,
# Lai Châu, Sơn La, Lào Cai, Thái Nguyên, Lạng Sơn.
REMOTE_PROVINCES = {4, 8, 11, 12, 14, 15, 19, 20}

SIZES: dict[str, dict[str, int]] = {
    "national": {"needs": 18_000, "lots": 5_000, "funds": 2_000},
    "small-supply": {"needs": 18_000, "lots": 40_000, "funds": 15_000},
}


def generate(size: str, seed: int = 20251001) -> dict[str, Any]:
    spec = SIZES[size]
    rng = random.Random(f"{size}:{seed}")
    wards = sorted(Ward.iter_all(), key=lambda w: (int(w.province_code), int(w.code)))
    communes = []
    by_province: dict[int, list[str]] = defaultdict(list)
    for ward in wards:
        province = int(ward.province_code)
        cid = f"{province}-{int(ward.code)}"
        if province in REMOTE_PROVINCES:
            weight = rng.choice((1.25, 1.5, 1.5, 1.75, 2.0))
        else:
            weight = 1.25 if rng.random() < 0.1 else 1.0
        communes.append({"id": cid, "weight": weight})
        by_province[province].append(cid)
    ids = [c["id"] for c in communes]

    needs = []
    kinds = sorted(KINDS)
    per_commune = spec["needs"] / len(ids)
    n = 0
    for cid in ids:
        count = max(1, round(rng.gauss(per_commune, 1.5)))
        for item in rng.sample(kinds, min(count, len(kinds))):
            prices, (lo, hi) = KINDS[item]
            n += 1
            needs.append(
                {
                    "id": f"N{n:06d}",
                    "commune": cid,
                    "item": item,
                    "quantity": rng.randint(lo, hi),
                    "unit_value": rng.choice(prices),
                }
            )

    value_by_kind: dict[str, int] = defaultdict(int)
    for need in needs:
        value_by_kind[need["item"]] += need["quantity"] * need["unit_value"]
    total_need = sum(value_by_kind.values())
    lot_budget, fund_budget = 0.30 * total_need, 0.20 * total_need

    def earmark() -> list[str] | None:
        roll = rng.random()
        if roll < 0.85:
            return None
        province = rng.choice(sorted(by_province))
        if roll < 0.95:
            return sorted(rng.sample(by_province[province], min(rng.randint(1, 5), len(by_province[province]))))
        return list(by_province[province])

    lots = []
    kind_weights = [value_by_kind[k] for k in kinds]
    mean_lot = lot_budget / spec["lots"]
    for i in range(spec["lots"]):
        value = rng.uniform(0.2, 1.8) * mean_lot
        item = rng.choices(kinds, weights=kind_weights)[0]
        if value < KINDS[item][0][-1]:  # a small lot: books, not a fraction of a computer
            item = rng.choices(BOOKS, weights=[value_by_kind[k] for k in BOOKS])[0]
        prices, _ = KINDS[item]
        quantity = max(1, round(value / prices[len(prices) // 2]))
        lots.append({"id": f"L{i + 1:06d}", "item": item, "quantity": quantity, "communes": earmark()})

    funds = []
    mean_fund = fund_budget / spec["funds"]
    for i in range(spec["funds"]):
        communes_allowed = earmark()
        items = BOOKS if communes_allowed is None and rng.random() < 0.05 else None
        funds.append(
            {
                "id": f"F{i + 1:06d}",
                "amount": max(100_000, int(round(rng.uniform(0.2, 1.8) * mean_fund, -3))),
                "communes": communes_allowed,
                "items": items,
            }
        )
    return {"version": 1, "communes": communes, "needs": needs, "lots": lots, "funds": funds}


if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(generate(name), fh, ensure_ascii=False)
