"""Telling other contexts that an order became paid, after the commit, without orders knowing who listens.

Recommendations count purchases this way (orders never import them). A listener is called once per move
to `paid` (an order paid again after a hold calls it again), so listeners must be idempotent. A failing
listener is logged and skipped: it never breaks a checkout that has already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from ..models import Order

logger = logging.getLogger(__name__)

LISTENERS: list[Callable[[Order], None]] = []


def on_order_paid(listener: Callable[[Order], None]) -> None:
    """Register a callback run after the commit of every transaction in which an order became paid."""
    if listener not in LISTENERS:
        LISTENERS.append(listener)


def order_paid(order: Order) -> None:
    """Schedule the listeners for `order` once the caller's transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _notify(order))


def _notify(order: Order) -> None:
    for listener in list(LISTENERS):
        try:
            listener(order)
        except Exception:
            # The order is committed and paid; a listener's failure must not surface as a checkout error.
            logger.exception("order-paid listener %r failed for order %s", listener, order.number)
