"""The exception queue: orders that need a decision (out of stock at payment, carrier exception, failed payment).

For out-of-stock orders staff choose: backorder (the order waits; stock received later is allocated to the
waiting orders first in, first out), cancel the missing units and refund them, or substitute another variant.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from omnishop.core.errors import InvalidTransition, NotFound, ValidationFailed
from omnishop.inventory.errors import InsufficientStock

from ..errors import VariantUnavailable
from ..models import Order, OrderException, OrderLine
from ..pricing import listed_lines
from ..states import event
from .changes import cancel_order, settle_hold
from .common import allocate, get_order, lock

ACTIONS = ("backorder", "cancel_unavailable", "substitute", "acknowledge")


def open_exception(*, order: Order, reason: str, details: dict, actor: str) -> OrderException:
    item = OrderException.objects.create(order=order, reason=reason, details=details)
    event(order, "exception", actor=actor, message=reason, after=details)
    return item


def get_exception(exception_id: int) -> OrderException:
    found = OrderException.objects.select_related("order", "order__channel").filter(pk=exception_id).first()
    if found is None:
        raise NotFound(f"No exception {exception_id}.", field="id")
    return found


def _missing(order: Order) -> dict[int, int]:
    return {
        x.variant_id: x.open_quantity - x.allocated
        for x in order.lines.all()
        if x.open_quantity > x.allocated
    }


def resolve_exception(
    *, item: OrderException, action: str, actor: str, substitutes: dict[int, str] | None = None
) -> Order:
    """Apply the staff decision for an out-of-stock order."""
    if action not in ACTIONS:
        raise ValidationFailed(f"Choose one of {', '.join(ACTIONS)}.", field="action")
    if item.resolved_at is not None:
        raise InvalidTransition("This exception is already resolved.", field="id")
    if item.reason != OrderException.Reason.OUT_OF_STOCK or action == "acknowledge":
        # Carrier and payment exceptions are followed up outside (call the carrier, ask the shopper).
        with transaction.atomic():
            OrderException.objects.filter(pk=item.pk).update(
                resolution="acknowledged", resolved_at=timezone.now()
            )
            event(
                item.order, "exception_resolved", actor=actor, after={"exception": item.pk, "action": action}
            )
        return get_order(item.order.number)
    order = item.order
    if action == "backorder":
        with transaction.atomic():
            order = lock(order)
            if order.backordered_at is None:
                Order.objects.filter(pk=order.pk).update(backordered_at=timezone.now())
            OrderException.objects.filter(pk=item.pk).update(resolution="backorder")
            event(
                order,
                "backordered",
                actor=actor,
                after={"missing": {str(k): v for k, v in _missing(order).items()}},
            )
        allocate_backorders(channel=order.channel, actor="system:backorders")
        return get_order(order.number)
    if action == "cancel_unavailable":
        lines = {
            x.pk: x.open_quantity - x.allocated for x in order.lines.all() if x.open_quantity > x.allocated
        }
        if not lines:
            raise InvalidTransition("Nothing is missing.", field="action")
        with transaction.atomic():
            order = cancel_order(order=order, quantities=lines, actor=actor, reason="out of stock")
            OrderException.objects.filter(pk=item.pk).update(
                resolution="cancel_unavailable", resolved_at=timezone.now()
            )
            settle_hold(order, actor=actor)
        return get_order(order.number)
    return _substitute(item=item, order=order, substitutes=substitutes or {}, actor=actor)


def _substitute(*, item: OrderException, order: Order, substitutes: dict[int, str], actor: str) -> Order:
    if not substitutes:
        raise ValidationFailed("Name a substitute SKU per line.", field="substitutes")
    with transaction.atomic():
        order = lock(order)
        lines = {x.pk: x for x in order.lines.all()}
        for i, (line_id, sku) in enumerate(substitutes.items()):
            line = lines.get(line_id)
            if line is None:
                raise ValidationFailed(f"No line {line_id}.", field=f"substitutes[{i}].line")
            if line.allocated or line.fulfilled:
                raise InvalidTransition(
                    f"Line {line_id} is already (partly) held.", field=f"substitutes[{i}].line"
                )
            try:
                (priced,) = listed_lines(channel=order.channel, skus={sku: line.open_quantity})
            except VariantUnavailable as exc:
                raise VariantUnavailable(exc.message, field=f"substitutes[{i}].sku") from None
            if order.lines.filter(variant_id=priced.variant_id).exists():
                raise ValidationFailed(f"{sku} is already on the order.", field=f"substitutes[{i}].sku")
            before = {"sku": line.sku}
            # The customer paid for the original; the substitute keeps the price they were charged.
            OrderLine.objects.filter(pk=line_id).update(
                variant_id=priced.variant_id, sku=priced.sku, title=priced.title
            )
            event(
                order, "substituted", actor=actor, before=before, after={"sku": priced.sku, "line": line_id}
            )
        allocate(order, _missing(order))
        OrderException.objects.filter(pk=item.pk).update(resolution="substitute", resolved_at=timezone.now())
        settle_hold(order, actor=actor)
    return get_order(order.number)


def backorders_after_arrival(variant_ids: frozenset[int]) -> None:
    """Stock arrived (inventory's on_stock_arrived, after the receipt committed): when an order waits for one
    of these variants, run the first-in-first-out allocation now — in-process in the embedded default, as a
    Celery job with Redis. The periodic job stays as the safety net."""
    waiting = Order.objects.filter(
        status=Order.Status.ON_HOLD, backordered_at__isnull=False, lines__variant_id__in=variant_ids
    )
    if waiting.exists():
        from ..tasks import allocate_backorders as job  # tasks import these services: import at call time

        job.delay()


def allocate_backorders(*, channel=None, actor: str = "system:backorders") -> list[str]:
    """Give received stock to waiting orders, oldest first; a SKU an older order still waits for is not
    given to a younger one. Returns the numbers of orders fully allocated."""
    qs = Order.objects.filter(status=Order.Status.ON_HOLD, backordered_at__isnull=False).order_by(
        "backordered_at", "pk"
    )
    if channel is not None:
        qs = qs.filter(channel=channel)
    done: list[str] = []
    blocked: set[int] = set()
    for order in qs.select_related("channel", "shipping_method"):
        missing = _missing(order)
        if not missing:
            continue
        if blocked & set(missing):
            blocked |= set(missing)
            continue
        try:
            with transaction.atomic():
                order = lock(order)
                allocate(order, _missing(order))
                event(
                    order, "backorder_allocated", actor=actor, after={str(k): v for k, v in missing.items()}
                )
                settle_hold(order, actor=actor)
            done.append(order.number)
        except InsufficientStock:
            blocked |= set(missing)
    return done
