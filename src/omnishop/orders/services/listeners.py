"""Telling other contexts that an order became paid (or that past orders were imported), after the commit,
without orders knowing who listens.

Recommendations count purchases from the outbox's `order.paid` instead (ADR 0036: off the request); an
in-process listener is for what must follow the commit at once, in the same process. A listener is called once per move
to `paid` (an order paid again after a hold calls it again), so listeners must be idempotent. A failing
listener is logged and skipped: it never breaks a checkout that has already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import transaction

from ..models import Order
from ..states import announce

logger = logging.getLogger(__name__)

LISTENERS: list[Callable[[Order], None]] = []


def on_order_paid(listener: Callable[[Order], None]) -> None:
    """Register a callback run after the commit of every transaction in which an order became paid."""
    if listener not in LISTENERS:
        LISTENERS.append(listener)


def order_paid(order: Order) -> None:
    """Announce order.paid in the caller's transaction (the outbox) and schedule the in-process listeners
    for `order` once it commits (at once outside one)."""
    announce(order, "order.paid", kind="paid", actor="", after={"status": Order.Status.PAID})
    if LISTENERS:  # none by default: recommendations hear order.paid from the outbox (ADR 0036)
        transaction.on_commit(lambda: _notify(order))


def _notify(order: Order) -> None:
    for listener in list(LISTENERS):
        try:
            listener(order)
        except Exception:
            # The order is committed and paid; a listener's failure must not surface as a checkout error.
            logger.exception("order-paid listener %r failed for order %s", listener, order.number)


class PlacedRows(NamedTuple):
    """What the checkout just wrote for a new order, set on it as `order.placed_rows` before its `placed`
    timeline entry: listeners of that entry (the dashboard's rollups) take the figures from here instead of
    reading the rows back in the order's transaction."""

    lines: tuple[tuple[int, int | None, int, Decimal], ...]  # (variant id, product id, quantity, line total)
    refunded: Decimal  # money refunded on the order's payment reference so far


# -- past orders (imported history) ------------------------------------------------------------------------


class PastOrder(NamedTuple):
    """What a listener hears of one imported past order: who bought which variants, and when."""

    order_id: int
    number: str
    customer_id: int | None
    occurred_at: datetime
    lines: tuple[tuple[int, int], ...]  # (variant id, quantity)


PAST_LISTENERS: list[Callable[[object, list[PastOrder]], None]] = []


def on_past_orders_recorded(listener: Callable[[object, list[PastOrder]], None]) -> None:
    """Register a callback run after the commit that recorded past orders (`history.record_past_sales`):
    called with the channel and the orders created — never again for the same orders."""
    if listener not in PAST_LISTENERS:
        PAST_LISTENERS.append(listener)


def past_orders_recorded(channel, orders: list[PastOrder]) -> None:
    if orders and PAST_LISTENERS:
        transaction.on_commit(lambda: _notify_past(channel, orders))


def _notify_past(channel, orders: list[PastOrder]) -> None:
    for listener in list(PAST_LISTENERS):
        try:
            listener(channel, orders)
        except Exception:
            # The history is committed; a listener's failure must not fail the import.
            logger.exception("past-orders listener %r failed (%d orders)", listener, len(orders))
