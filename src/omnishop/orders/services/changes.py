"""Changing a placed order: cancel (all or some units), change the address, split, merge.

Each change runs in one transaction under a row lock on the order, re-allocates stock through inventory when
lines move, re-computes the totals, refunds what the customer no longer owes, and writes the timeline.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from omnishop.core.errors import InvalidTransition, ValidationFailed
from omnishop.core.money import quantize
from omnishop.payments import services as payments
from omnishop.payments.models import Payment

from ..errors import AddressLocked, NothingToDo, NotMergeable, QuantityTooLarge
from ..models import Fulfilment, Order, OrderAllocation, OrderLine
from ..states import OPEN, event, transition
from .common import (
    allocate,
    clean_address,
    family_total,
    get_order,
    lock,
    new_token,
    paid,
    release_allocations,
    retotal,
    settled,
    totals_of,
)
from .listeners import order_paid

CANCELLABLE = OPEN | {Order.Status.PARTIALLY_FULFILLED}


def _lines_by_id(order: Order, quantities: dict[int, int], *, field: str = "lines") -> dict[int, OrderLine]:
    lines = {x.pk: x for x in order.lines.all()}
    for i, line_id in enumerate(quantities):
        if line_id not in lines:
            raise ValidationFailed(f"Order {order.number} has no line {line_id}.", field=f"{field}[{i}].line")
    return lines


def _reallocate(order: Order, keep: dict[int, int]) -> None:
    """Release the order's unshipped holds and hold `keep` (variant → units) again, in this transaction."""
    release_allocations(order)
    allocate(order, keep)


def refund_difference(order: Order, *, before_total: Decimal, key: str, reason: str) -> Decimal:
    """Refund what was paid beyond what the order (and its split siblings) now cost."""
    over = quantize(paid(order) - family_total(order), order.currency)
    if over <= 0:
        return Decimal(0)
    payments.refund_reference(
        reference=order.payment_reference, amount=over, currency=order.currency, key=key, reason=reason
    )
    return over


def cancel_order(
    *, order: Order, quantities: dict[int, int] | None = None, actor: str, reason: str = ""
) -> Order:
    """Cancel every unshipped unit (no quantities) or some of them; releases stock and refunds."""
    with transaction.atomic():
        order = lock(order)
        if order.status not in CANCELLABLE:
            raise InvalidTransition(
                f"An order that is {order.status} cannot be cancelled.", field="status", current=order.status
            )
        lines = _lines_by_id(order, quantities or {})
        if quantities is None:
            quantities = {x.pk: x.unshipped for x in lines.values() if x.unshipped}
        if not quantities:
            raise NothingToDo("Nothing is left to cancel.", field="lines")
        for i, (line_id, qty) in enumerate(quantities.items()):
            if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
                raise ValidationFailed("Quantities are whole numbers from 1.", field=f"lines[{i}].quantity")
            if qty > lines[line_id].unshipped:
                raise QuantityTooLarge(
                    f"Only {lines[line_id].unshipped} unit(s) of line {line_id} can still be cancelled.",
                    field=f"lines[{i}].quantity",
                )
        # Units still held after the cancel: each line keeps min(held now, open units left unshipped).
        keep = {}
        for line in lines.values():
            held = line.allocated - line.fulfilled
            left = line.unshipped - quantities.get(line.pk, 0)
            keep[line.variant_id] = min(held, left)
        _reallocate(order, keep)
        for line_id, qty in quantities.items():
            OrderLine.objects.filter(pk=line_id).update(cancelled=F("cancelled") + qty)
        before_total = order.total
        change = retotal(order, requote_shipping=False)
        everything = not any(x.unshipped for x in order.lines.all())
        refunded = Decimal(0)
        if paid(order) > 0:
            refunded = refund_difference(
                order,
                before_total=before_total,
                key=change_key(order, "cancel"),
                reason=reason or "cancelled",
            )
        if everything and not any(x.fulfilled for x in order.lines.all()):
            _void_open_payments(order)
        event(
            order,
            "cancelled_lines" if not everything else "cancelled",
            actor=actor,
            message=reason,
            before=change["before"],
            after={
                **change["after"],
                "lines": {str(k): v for k, v in quantities.items()},
                "refunded": str(refunded),
            },
        )
        if everything:
            shipped_any = any(x.fulfilled for x in order.lines.all())
            target = Order.Status.FULFILLED if shipped_any else Order.Status.CANCELLED
            transition(order, target, actor=actor, message=reason)
            order.exceptions.filter(resolved_at__isnull=True).update(
                resolution="cancelled", resolved_at=order.updated_at
            )
        else:
            # A refund above may already have settled the order (payment events move a pending order to
            # paid): read the status again rather than transition from a stale one.
            order.refresh_from_db(fields=["status"])
            if order.status == Order.Status.PENDING_PAYMENT and settled(order):
                transition(order, Order.Status.PAID, actor=actor)
                order_paid(order)
    return get_order(order.number)


def change_key(order: Order, kind: str) -> str:
    """The refund key of one change of one order. Split orders share their parent's payments, and refund
    keys are unique per payment, so the key names the order as well as its change count (`cancel:2` of a
    parent and `cancel:2` of its child once collided and the child's refund was silently skipped)."""
    return f"{kind}:{order.number}:{order.events.count()}"


def _void_open_payments(order: Order) -> None:
    for p in Payment.objects.filter(
        reference=order.payment_reference,
        status__in=[Payment.Status.PENDING, Payment.Status.AUTHORIZED, Payment.Status.REQUIRES_ACTION],
    ):
        payments.void_payment(payment=p)


def change_address(*, order: Order, address: dict, actor: str) -> Order:
    """New delivery address for an unshipped order: re-quotes shipping and tax; shipped → address_locked."""
    cleaned = clean_address(address)
    with transaction.atomic():
        order = lock(order)
        shipped = order.fulfilments.filter(
            status__in=[Fulfilment.Status.SHIPPED, Fulfilment.Status.DELIVERED]
        )
        if order.status not in OPEN or shipped.exists():
            raise AddressLocked(field="shipping_address", current=order.status)
        before_address = order.shipping_address
        order.shipping_address = cleaned
        order.save(update_fields=["shipping_address", "updated_at"])
        # The family's one delivery charge stays where checkout put it: a split child ships free.
        change = retotal(order, requote_shipping=order.parent_id is None)
        refunded = refund_difference(
            order,
            before_total=Decimal(change["before"]["total"]),
            key=change_key(order, "address"),
            reason="address change",
        )
        event(
            order,
            "address_changed",
            actor=actor,
            before={"address": before_address, **change["before"]},
            after={"address": cleaned, **change["after"], "refunded": str(refunded)},
        )
    return get_order(order.number)


def split_order(*, order: Order, quantities: dict[int, int], actor: str) -> Order:
    """Move some unshipped units into a new child order (its own totals and timeline, same payments)."""
    if not quantities:
        raise ValidationFailed("Choose the lines to move.", field="lines")
    with transaction.atomic():
        order = lock(order)
        if order.status not in OPEN:
            raise InvalidTransition(f"An order that is {order.status} cannot be split.", field="status")
        lines = _lines_by_id(order, quantities)
        for i, (line_id, qty) in enumerate(quantities.items()):
            if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1 or qty > lines[line_id].unshipped:
                raise QuantityTooLarge(
                    f"Line {line_id} has {lines[line_id].unshipped} unit(s) that can move.",
                    field=f"lines[{i}].quantity",
                )
        if all(quantities.get(x.pk, 0) == x.unshipped for x in lines.values() if x.unshipped):
            raise ValidationFailed("Splitting every unit off leaves nothing behind.", field="lines")
        n = order.children.count() + 1
        child = Order.objects.create(
            number=f"{order.number}-S{n}",
            payment_reference=order.payment_reference,
            channel=order.channel,
            customer=order.customer,
            email=order.email,
            status=order.status,
            currency=order.currency,
            prices_include_tax=order.prices_include_tax,
            shipping_address=order.shipping_address,
            shipping_method=order.shipping_method,
            shipping_method_name=order.shipping_method_name,
            parent=order,
            backordered_at=order.backordered_at,
            tracking_token=new_token(),
        )
        keep_parent, keep_child = {}, {}
        release_allocations(order)  # holds are re-taken below, split between parent and child
        for line in lines.values():
            moved = quantities.get(line.pk, 0)
            held = line.allocated - line.fulfilled
            unheld = line.unshipped - held
            child_held = max(0, moved - unheld)  # the not-yet-held units move first (ship the rest now)
            keep_parent[line.variant_id] = held - child_held
            if moved:
                keep_child[line.variant_id] = child_held
                OrderLine.objects.create(
                    order=child,
                    variant_id=line.variant_id,
                    sku=line.sku,
                    title=line.title,
                    quantity=moved,
                    unit_price=line.unit_price,
                    weight_grams=line.weight_grams * moved // max(line.quantity, 1),
                )
                OrderLine.objects.filter(pk=line.pk).update(
                    quantity=F("quantity") - moved,
                    weight_grams=F("weight_grams") - line.weight_grams * moved // max(line.quantity, 1),
                )
        allocate(order, keep_parent)
        allocate(child, keep_child)
        child.shipping_total = Decimal(0)
        before = retotal(order, requote_shipping=False)["before"]
        retotal(child, requote_shipping=False)
        order.lines.filter(quantity=0).delete()
        event(order, "split", actor=actor, before=before, after={**totals_of(order), "child": child.number})
        event(child, "split_from", actor=actor, after={"parent": order.number, **totals_of(child)})
        if order.exceptions.filter(resolved_at__isnull=True).exists():
            settle_hold(order, actor=actor)
            settle_hold(child, actor=actor)
    return get_order(child.number)


def settle_hold(order: Order, *, actor: str) -> None:
    """An on-hold order whose every unit is now held leaves the exception queue."""
    order.refresh_from_db()
    if order.status != Order.Status.ON_HOLD:
        return
    if all(x.allocated >= x.open_quantity for x in order.lines.all()):
        order.exceptions.filter(resolved_at__isnull=True).update(
            resolution="allocated", resolved_at=order.updated_at
        )
        Order.objects.filter(pk=order.pk).update(backordered_at=None)
        target = Order.Status.PAID if settled(order) else Order.Status.PENDING_PAYMENT
        transition(order, target, actor=actor, message="All units held.")
        if target == Order.Status.PAID:
            order_paid(order)


def merge_orders(*, orders: list[Order], actor: str) -> Order:
    """Combine open, unshipped orders of one customer and destination into the oldest one."""
    if len(orders) < 2:
        raise ValidationFailed("Name at least two orders.", field="orders")
    with transaction.atomic():
        locked = sorted((lock(o) for o in orders), key=lambda o: (o.created_at, o.pk))
        survivor, others = locked[0], locked[1:]
        for o in locked:
            if o.status not in (Order.Status.PAID, Order.Status.PENDING_PAYMENT):
                raise NotMergeable(f"{o.number} is {o.status}.", field="orders")
            if o.fulfilments.exclude(
                status__in=[Fulfilment.Status.PENDING, Fulfilment.Status.CANCELLED]
            ).exists():
                raise NotMergeable(f"{o.number} has shipped parcels.", field="orders")
            if o.channel_id != survivor.channel_id or o.currency != survivor.currency:
                raise NotMergeable("Orders of different channels cannot merge.", field="orders")
            if o.customer_id is None or o.customer_id != survivor.customer_id:
                raise NotMergeable("Only orders of the same customer merge.", field="orders")
            if o.shipping_address != survivor.shipping_address:
                raise NotMergeable(f"{o.number} goes to another address.", field="orders")
            if o.payment_reference != o.number:
                raise NotMergeable(f"{o.number} shares payments with its parent order.", field="orders")
        if len({o.pk for o in locked}) != len(locked):
            raise ValidationFailed("An order is named twice.", field="orders")
        before = totals_of(survivor)
        lines = {x.variant_id: x for x in survivor.lines.all()}
        for other in others:
            for line in other.lines.all():
                mine = lines.get(line.variant_id)
                if mine is None:
                    line.order = survivor
                    line.save(update_fields=["order"])
                    lines[line.variant_id] = line
                    continue
                if mine.unit_price != line.unit_price:
                    raise NotMergeable(f"{line.sku} has different prices in the orders.", field="orders")
                OrderLine.objects.filter(pk=mine.pk).update(
                    quantity=F("quantity") + line.quantity,
                    allocated=F("allocated") + line.allocated,
                    cancelled=F("cancelled") + line.cancelled,
                    weight_grams=F("weight_grams") + line.weight_grams,
                )
                line.delete()
            OrderAllocation.objects.filter(order=other).update(order=survivor)
            Fulfilment.objects.filter(order=other, status=Fulfilment.Status.PENDING).update(
                status=Fulfilment.Status.CANCELLED
            )
            payments.move_payments(
                from_reference=other.payment_reference, to_reference=survivor.payment_reference
            )
            Order.objects.filter(pk=other.pk).update(
                merged_into=survivor, subtotal=0, shipping_total=0, tax_total=0, total=0
            )
            transition(other, Order.Status.MERGED, actor=actor, message=f"Merged into {survivor.number}.")
        Fulfilment.objects.filter(order=survivor, status=Fulfilment.Status.PENDING).update(
            status=Fulfilment.Status.CANCELLED
        )
        retotal(survivor)
        event(
            survivor,
            "merged",
            actor=actor,
            before=before,
            after={**totals_of(survivor), "merged": [o.number for o in others]},
        )
        refund_difference(
            survivor,
            before_total=survivor.total,
            key=change_key(survivor, "merge"),
            reason="shipping re-quoted on merge",
        )
        target = Order.Status.PAID if settled(survivor) else Order.Status.PENDING_PAYMENT
        if survivor.status != target and target in (Order.Status.PAID,):
            transition(survivor, target, actor=actor)
            order_paid(survivor)
    return get_order(survivor.number)
