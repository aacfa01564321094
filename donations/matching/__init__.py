"""Pure allocation engine for the matching contract (shared/contracts/matching-v1.md).

    from donations.matching import load_instance, solve
    result = solve(load_instance(text))          # policy="leximin" by default
    result.to_json()

The default policy is weighted leximin (water-filling) with in-kind before money; see
:mod:`.leximin` for the algorithm and :mod:`.rounding` for whole items and VND. Alternative
policies (``proportional``, ``priority``, ``fcfs``) are in :mod:`.policies`.
"""

from .model import Allocation, Commune, Fund, Instance, InstanceError, Lot, Need, Result
from .solve import POLICIES, solve
from .validate import load_instance, parse_instance

__all__ = [
    "POLICIES",
    "Allocation",
    "Commune",
    "Fund",
    "Instance",
    "InstanceError",
    "Lot",
    "Need",
    "Result",
    "load_instance",
    "parse_instance",
    "solve",
]
