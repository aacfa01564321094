"""The engine's entry point: ``solve(instance, policy) -> Result``, a pure function."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from .aggregate import aggregate
from .leximin import solve_leximin
from .model import Instance, Result
from .policies import fcfs, priority, proportional
from .rounding import round_items, round_plan

POLICIES = ("leximin", "proportional", "priority", "fcfs")


@contextmanager
def gc_paused() -> Iterator[None]:
    """The engine allocates many small objects (records, arcs, lines) but no reference cycles,
    so the cyclic collector's passes over them are pure overhead (~0.4 s of a national run)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def solve(instance: Instance, policy: str = "leximin") -> Result:
    """Allocate the instance's supply to its needs under ``policy`` (default: the contract's)."""
    with gc_paused():
        return _solve(instance, policy)


def _solve(instance: Instance, policy: str) -> Result:
    if policy == "leximin":
        agg = aggregate(instance)
        plan = solve_leximin(agg)
        whole_items = round_items(agg, plan)
        # Whole items can move a commune by up to one item per arc; money, which is divisible,
        # then makes up for it towards the continuous levels where funds allow.
        refill = solve_leximin(agg, whole_items, targets=plan.levels)
        allocations = round_plan(agg, refill, whole_items)
    elif policy == "proportional":
        allocations = proportional(instance, aggregate(instance))
    elif policy == "priority":
        allocations = priority(instance)
    elif policy == "fcfs":
        allocations = fcfs(instance)
    else:
        raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return Result(instance=instance, policy=policy, allocations=allocations)
