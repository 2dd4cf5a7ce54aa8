"""The order state machine: the one table of allowed moves and the one function that makes them.

Every change of status goes through `transition`, which checks the table, writes the new status with a
conditional UPDATE (a concurrent change makes it fail, not overwrite) and writes a timeline event.
"""

from __future__ import annotations

from django.db import transaction

from omnishop.core.errors import InvalidTransition

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
    return OrderEvent.objects.create(
        order=order, kind=kind, actor=actor, message=message[:500], before=before, after=after
    )


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
