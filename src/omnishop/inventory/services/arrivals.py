"""Stock arriving — a receipt, a customer return, a purchase order, a transfer, found units, a count that
finds more — wakes whoever waits for it (the orders context's backorder queue), once per committed
transaction and only after the commit, so a waiting order is served the moment the units exist, whatever
the deployment, and a failure there never undoes the receipt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import transaction

log = logging.getLogger(__name__)

Listener = Callable[[frozenset[int]], None]
_listeners: list[Listener] = []
_pending = threading.local()


def on_stock_arrived(listener: Listener) -> None:
    """Call `listener(variant_ids)` after each transaction that added stock (registered once, at start-up)."""
    if listener not in _listeners:
        _listeners.append(listener)


def announce_arrival(variant_id: int) -> None:
    """Called by every primitive that adds on-hand units, inside its transaction."""
    waiting = getattr(_pending, "variant_ids", None)
    if waiting is None:
        waiting = _pending.variant_ids = set()
    waiting.add(variant_id)
    # One callback per arrival, but only the first one after a commit finds ids to deliver: a receipt of
    # 10,000 lines in one transaction wakes the listeners once.
    transaction.on_commit(_deliver, robust=True)


def _deliver() -> None:
    waiting = getattr(_pending, "variant_ids", None)
    if not waiting:
        return
    variant_ids = frozenset(waiting)
    waiting.clear()
    for listener in _listeners:
        listener(variant_ids)
