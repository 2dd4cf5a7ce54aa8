"""Allocation strategies: given what is wanted and what is free where, decide which units come from where.

A strategy is a plain function `(demand, locations, free) -> list[Pick]` and never touches the database,
so it is easy to test and to replace. Register your own with `register_strategy(name, fn)` and select it
per channel (ChannelInventoryPolicy.allocation_strategy). Two are built in, plus the rule for POS channels:

- `priority`: each line takes from the channel's locations in priority order, splitting when one runs out.
- `fewest_locations`: the highest-priority location that can ship the whole order; otherwise greedily the
  location that covers most of what is still missing (ties to priority), splitting lines as needed.
- POS channels (`pos_store`) always take from their own store: the first retail store in their list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    location_id: int
    code: str
    kind: str
    priority: int


@dataclass(frozen=True)
class Pick:
    variant_id: int
    location_id: int
    quantity: int


class Shortfall(Exception):
    """Not enough free stock across the candidate locations for one variant."""

    def __init__(self, variant_id: int, requested: int, available: int) -> None:
        self.variant_id, self.requested, self.available = variant_id, requested, available
        super().__init__(f"variant {variant_id}: {requested} wanted, {available} free")


Demand = dict[int, int]  # variant_id -> quantity, in the order of the request
Free = dict[tuple[int, int], int]  # (variant_id, location_id) -> free units
Strategy = Callable[[Demand, list[Candidate], Free], list[Pick]]


def _check_enough(demand: Demand, locations: list[Candidate], free: Free) -> None:
    for variant_id, wanted in demand.items():
        total = sum(max(0, free.get((variant_id, c.location_id), 0)) for c in locations)
        if total < wanted:
            raise Shortfall(variant_id, wanted, total)


def by_priority(demand: Demand, locations: list[Candidate], free: Free) -> list[Pick]:
    _check_enough(demand, locations, free)
    picks = []
    for variant_id, wanted in demand.items():
        for candidate in locations:
            if wanted == 0:
                break
            take = min(wanted, max(0, free.get((variant_id, candidate.location_id), 0)))
            if take:
                picks.append(Pick(variant_id, candidate.location_id, take))
                wanted -= take
    return picks


def fewest_locations(demand: Demand, locations: list[Candidate], free: Free) -> list[Pick]:
    _check_enough(demand, locations, free)
    for candidate in locations:
        if all(free.get((v, candidate.location_id), 0) >= q for v, q in demand.items()):
            return [Pick(v, candidate.location_id, q) for v, q in demand.items()]
    missing = dict(demand)
    remaining = dict(free)
    used: list[Candidate] = []
    picks: list[Pick] = []
    while any(missing.values()):

        def coverage(c: Candidate) -> int:
            return sum(min(q, max(0, remaining.get((v, c.location_id), 0))) for v, q in missing.items())

        best = max(
            (c for c in locations if c not in used), key=lambda c: (coverage(c), -c.priority), default=None
        )
        if best is None or coverage(best) == 0:  # cannot happen after _check_enough; stay safe
            variant_id = next(v for v, q in missing.items() if q)
            raise Shortfall(variant_id, demand[variant_id], demand[variant_id] - missing[variant_id])
        used.append(best)
        for variant_id, wanted in missing.items():
            take = min(wanted, max(0, remaining.get((variant_id, best.location_id), 0)))
            if take:
                picks.append(Pick(variant_id, best.location_id, take))
                missing[variant_id] = wanted - take
    order = {v: i for i, v in enumerate(demand)}
    return sorted(picks, key=lambda p: (order[p.variant_id], p.location_id))


def own_store(demand: Demand, locations: list[Candidate], free: Free) -> list[Pick]:
    stores = [c for c in locations if c.kind == "retail_store"][:1] or locations[:1]
    return by_priority(demand, stores, free)


STRATEGIES: dict[str, Strategy] = {
    "priority": by_priority,
    "fewest_locations": fewest_locations,
    "pos_store": own_store,
}


def register_strategy(name: str, strategy: Strategy) -> None:
    """Add a strategy channels can select by name (call from an AppConfig.ready())."""
    STRATEGIES[name] = strategy
