"""The connectors' business operations (other apps and the project wiring import from here).

- `sink(events)` — OMNISHOP_OUTBOX_SINKS: outbox events of connected channels → connector tasks.
- `work_due()` — OMNISHOP_RELAY_WORKERS: run due tasks against the channels (leases, batches, rate limits).
- `pull_orders(connection=…)`, `reconcile(connection=…)`, `reconcile_all()`, `sync_now(connection=…)`,
  `handle_webhook(…)`, `connect_channel(…)`, `enqueue(…)`.
"""

from .connections import connect_channel, get_connection, handle_webhook, pull_all_connections, sync_now
from .orders import import_remote_order, pull_orders, retry_failed_order
from .queue import enqueue
from .reconcile import reconcile, reconcile_all
from .sink import sink
from .worker import work_due

__all__ = [
    "connect_channel",
    "enqueue",
    "get_connection",
    "handle_webhook",
    "import_remote_order",
    "pull_all_connections",
    "pull_orders",
    "reconcile",
    "reconcile_all",
    "retry_failed_order",
    "sink",
    "sync_now",
    "work_due",
]
