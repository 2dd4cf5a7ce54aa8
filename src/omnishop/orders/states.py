"""The order state machine: the one table of allowed moves and the one function that makes them.

Every change of status goes through `transition`, which checks the table, writes the new status with a
conditional UPDATE (a concurrent change makes it fail, not overwrite) and writes a timeline event.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models.signals import post_save

from omnishop.channels.models import Channel
from omnishop.core import batch, outbox
from omnishop.core.errors import InvalidTransition
from omnishop.core.money import quantize

from .models import Order, OrderEvent

S = Order.Status

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.ON_HOLD, S.CANCELLED, S.MERGED}),
    S.PAID: frozenset({S.PARTIALLY_FULFILLED, S.FULFILLED, S.CANCELLED, S.MERGED}),
    S.ON_HOLD: frozenset({S.PAID, S.PENDING_PAYMENT, S.CANCELLED}),
    S.PARTIALLY_FULFILLED: frozenset({S.FULFILLED}),
    S.FULFILLED: frozenset({S.DELIVERED, S.COMPLETED, S.PARTIALLY_RETURNED, S.RETURNED}),
    S.DELIVERED: frozenset({S.COMPLETED, S.PARTIALLY_RETURNED, S.RETURNED}),
    S.COMPLETED: frozenset({S.PARTIALLY_RETURNED, S.RETURNED}),
    S.PARTIALLY_RETURNED: frozenset({S.RETURNED, S.COMPLETED}),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
    S.MERGED: frozenset(),
}

#: statuses in which nothing has shipped yet and lines, address and allocations may still change
OPEN = frozenset({S.PENDING_PAYMENT, S.PAID, S.ON_HOLD})


def event(order: Order, kind: str, *, actor: str, message: str = "", before=None, after=None) -> OrderEvent:
    """A timeline entry; the ones channels care about also become outbox events in the same transaction."""
    # No savepoint: the entry and its event are part of the caller's change and fail with it (a savepoint
    # would cost two more round trips per entry inside every service's transaction).
    with transaction.atomic(savepoint=False):
        entry = OrderEvent(
            order=order, kind=kind, actor=actor, message=message[:500], before=before, after=after
        )
        if batch.active():
            # Inside the checkout's block the row goes with its other trailing writes (core.batch): nothing
            # reads it back in the transaction, and the listeners hear it as if it had been saved.
            sql, params = batch.insert_sql(entry)
            batch.defer([sql], params)
            post_save.send(sender=OrderEvent, instance=entry, created=True, raw=False, using="default")
        else:
            entry.save(force_insert=True)
        announced = outbox_type(kind, after)
        if announced:
            announce(order, announced, kind=kind, actor=actor, before=before, after=after)
    return entry


def announce(order: Order, type: str, *, kind: str, actor: str, before=None, after=None) -> None:
    """The outbox event `type` about `order`, in the caller's transaction."""
    outbox.emit(
        type,
        aggregate_type="order",
        aggregate_id=order.number,
        channel=channel_code(order),
        payload={
            "order": {
                "number": order.number,
                "channel": channel_code(order),
                "external_id": order.external_id,
                "status": order.status,
                "currency": order.currency,
                "total": str(quantize(Decimal(order.total), order.currency)),
                "customer_id": order.customer_id,
            },
            "change": {"kind": kind, "actor": actor, "before": before, "after": after},
        },
    )


#: timeline kind -> outbox event type (order.paid comes from services.listeners.order_paid, the one place
#: every path to `paid` goes through)
ANNOUNCED_KINDS = {
    "placed": "order.placed",
    "cancelled": "order.cancelled",
    "cancelled_lines": "order.cancelled",
    "address_changed": "order.address_changed",
    "split": "order.split",
    "merged": "order.merged",
    "fulfilments_created": "order.fulfilled",
    "shipped": "order.shipped",
    "delivered": "order.delivered",
    "return_received": "order.returned",
    "exception": "order.exception",
    "backordered": "order.exception",
}


def outbox_type(kind: str, after) -> str | None:
    if kind == "payment":
        # Each change of a payment that carries refunds: data.change.after.refunded is the cumulative amount.
        refunded = (after or {}).get("refunded") or "0"
        return "order.refunded" if Decimal(refunded) > 0 else None
    return ANNOUNCED_KINDS.get(kind)


_channel_codes: dict[int, str] = {}


def channel_code(order: Order) -> str:
    """The order's channel code without a query per event (codes are stable identifiers)."""
    cached = order._state.fields_cache.get("channel")
    if cached is not None:
        return cached.code
    if order.channel_id not in _channel_codes:
        _channel_codes[order.channel_id] = Channel.objects.values_list("code", flat=True).get(
            pk=order.channel_id
        )
    return _channel_codes[order.channel_id]


def transition(order: Order, to: str, *, actor: str, message: str = "") -> Order:
    """Move `order` to status `to` or raise invalid_transition; writes the timeline event."""
    if order.status == to:
        return order
    if to not in TRANSITIONS[order.status]:
        raise InvalidTransition(
            f"An order cannot go from {order.status} to {to}.",
            field="status",
            current=order.status,
            wanted=to,
        )
    with transaction.atomic():
        moved = Order.objects.filter(pk=order.pk, status=order.status).update(status=to)
        if not moved:
            current = Order.objects.values_list("status", flat=True).get(pk=order.pk)
            raise InvalidTransition(
                f"The order changed meanwhile (now {current}).", field="status", current=current, wanted=to
            )
        event(
            order,
            "status_changed",
            actor=actor,
            message=message,
            before={"status": order.status},
            after={"status": to},
        )
        order.status = to
    return order
