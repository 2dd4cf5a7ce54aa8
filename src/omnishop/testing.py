"""How hard the property and state-machine tests search: one table per profile, chosen by an environment
variable, so CI, `make test-deep` and `make mutate` run the same tests at different depths.

- `ci` (default, `make test`): enough examples to find the bugs these machines have found before, measured
  (docs/testing.md "How many examples"), within the test-time budget;
- `deep` (`make test-deep`, `OMNISHOP_HYPOTHESIS_PROFILE=deep`): ten times as many, for a longer run;
- `mutation` (`make mutate`): few examples, because every mutant reruns the tests that reach its function.

Every profile prints a failing example's reproduction blob (`@reproduce_failure`), and the stateful tests
print the failing sequence of steps, so a failure seen once in CI can be replayed.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

PROFILE_VARIABLE = "OMNISHOP_HYPOTHESIS_PROFILE"

# examples (programs) per run, and the longest program, for each machine and profile
DEPTH: dict[str, dict[str, tuple[int, int]]] = {
    "ci": {
        "orders": (250, 30),
        "inventory": (60, 20),
        "payments": (150, 20),
        "order_history": (60, 12),
        "customers_merge": (40, 0),
        "landed_cost": (40, 0),
    },
    "deep": {
        "orders": (2500, 40),
        "inventory": (600, 30),
        "payments": (1500, 30),
        "order_history": (600, 16),
        "customers_merge": (400, 0),
        "landed_cost": (400, 0),
    },
    "mutation": {
        "orders": (20, 15),
        "inventory": (15, 20),
        "payments": (25, 20),
        "order_history": (10, 12),
        "customers_merge": (5, 0),
        "landed_cost": (10, 0),
    },
}


# `make test` runs the suite on SQLite and on PostgreSQL. A logic bug a machine can find shows on either,
# so the long search runs once, on SQLite; on PostgreSQL the orders machine (about 90 ms a step there, 11
# minutes at the full depth) runs a shorter search that still exercises what differs between the two —
# row locks, transactions seen from the services, numeric columns — as it did when it found cancel_order
# reading a stale status. `make test-deep` searches at full depth on both.
CI_ON_POSTGRESQL: dict[str, tuple[int, int]] = {
    "orders": (60, 30),
    "payments": (60, 20),
    "landed_cost": (15, 0),
}


def profile() -> str:
    name = os.environ.get(PROFILE_VARIABLE) or ("mutation" if os.environ.get("OMNISHOP_MUTATION") else "ci")
    if name not in DEPTH:
        raise ValueError(f"{PROFILE_VARIABLE}={name!r}: choose one of {', '.join(sorted(DEPTH))}.")
    return name


def depth(machine: str) -> tuple[int, int]:
    name = profile()
    if name == "ci" and machine in CI_ON_POSTGRESQL:
        from django.db import connection

        if connection.vendor == "postgresql":
            return CI_ON_POSTGRESQL[machine]
    return DEPTH[name][machine]


def examples(machine: str) -> int:
    return depth(machine)[0]


def search_settings(machine: str, **overrides) -> settings:
    """Hypothesis settings for the named machine in the current profile (database-backed tests: no deadline,
    no too-slow health check)."""
    count, steps = depth(machine)
    options = {
        "max_examples": count,
        "deadline": None,
        "print_blob": True,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        "phases": tuple(Phase),
    }
    if steps:
        options["stateful_step_count"] = steps
    options.update(overrides)
    return settings(**options)
