"""Returns (RMA): request per line, approve or reject, receive as restock or write-off, refund.

Refunds go to the original payment method (across the order's payments) or to store credit. Restocked units
come back through inventory's `record_return` (a return movement at the chosen location); written-off units
never re-enter stock. Exchanges are a return plus a new order linked to it.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from omnishop.core.errors import InvalidTransition, NotFound, ValidationFailed
from omnishop.core.money import quantize
from omnishop.inventory import services as inventory
from omnishop.payments import credit
from omnishop.payments import services as payments

from ..errors import QuantityTooLarge
from ..models import Order, OrderLine, ReturnLine, ReturnRequest
from ..states import event, transition
from .common import lock, paid
from .listeners import order_paid

RETURNABLE = {
    Order.Status.PARTIALLY_FULFILLED,
    Order.Status.FULFILLED,
    Order.Status.DELIVERED,
    Order.Status.COMPLETED,
    Order.Status.PARTIALLY_RETURNED,
}


def _pending_returns(order: Order) -> dict[int, int]:
    rows = (
        ReturnLine.objects.filter(
            request__order=order,
            request__status__in=[ReturnRequest.Status.REQUESTED, ReturnRequest.Status.APPROVED],
        )
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
    )
    return {r["order_line_id"]: r["n"] for r in rows}


def request_return(
    *,
    order: Order,
    lines: list[tuple[int, int, str]],
    refund_to: str = "original",
    note: str = "",
    actor: str,
) -> ReturnRequest:
    """Ask to send back (line id, quantity, reason) — never more than was delivered and not yet returned."""
    if refund_to not in ReturnRequest.RefundTo.values:
        raise ValidationFailed("refund_to is 'original', 'store_credit' or 'exchange'.", field="refund_to")
    if not lines:
        raise ValidationFailed("Name at least one line to return.", field="lines")
    with transaction.atomic():
        order = lock(order)
        if order.status not in RETURNABLE:
            raise InvalidTransition(f"An order that is {order.status} cannot be returned.", field="status")
        if refund_to == "store_credit" and order.customer_id is None:
            raise ValidationFailed("Store credit needs a known customer.", field="refund_to")
        order_lines = {x.pk: x for x in order.lines.all()}
        pending = _pending_returns(order)
        seen = set()
        for i, (line_id, qty, _reason) in enumerate(lines):
            line = order_lines.get(line_id)
            if line is None or line_id in seen:
                raise ValidationFailed(
                    f"No line {line_id} on {order.number} (or named twice).", field=f"lines[{i}].line"
                )
            seen.add(line_id)
            returnable = line.fulfilled - line.returned - pending.get(line_id, 0)
            if not isinstance(qty, int) or qty < 1 or qty > returnable:
                raise QuantityTooLarge(
                    f"{returnable} unit(s) of {line.sku} can be returned.",
                    field=f"lines[{i}].quantity",
                    returnable=returnable,
                )
        rma = ReturnRequest.objects.create(
            order=order,
            number=f"R-{order.number}-{secrets.token_hex(2).upper()}",
            refund_to=refund_to,
            note=note[:500],
        )
        ReturnLine.objects.bulk_create(
            [
                ReturnLine(request=rma, order_line_id=line_id, quantity=qty, reason=reason[:200])
                for line_id, qty, reason in lines
            ]
        )
        event(
            order,
            "return_requested",
            actor=actor,
            after={"return": rma.number, "lines": [[line_id, qty] for line_id, qty, _ in lines]},
        )
    return rma


def get_return(number: str) -> ReturnRequest:
    found = ReturnRequest.objects.select_related("order", "order__channel").filter(number=number).first()
    if found is None:
        raise NotFound(f"No return {number}.", field="number")
    return found


def decide_return(*, rma: ReturnRequest, approve: bool, actor: str, note: str = "") -> ReturnRequest:
    with transaction.atomic():
        moved = ReturnRequest.objects.filter(pk=rma.pk, status=ReturnRequest.Status.REQUESTED).update(
            status=ReturnRequest.Status.APPROVED if approve else ReturnRequest.Status.REJECTED,
            closed_at=None if approve else timezone.now(),
        )
        if not moved:
            raise InvalidTransition(f"The return is {rma.status}.", field="status")
        rma.refresh_from_db()
        event(
            rma.order,
            "return_approved" if approve else "return_rejected",
            actor=actor,
            message=note,
            after={"return": rma.number},
        )
    return rma


def line_value(line: OrderLine, quantity: int) -> Decimal:
    """What `quantity` units of the line cost the customer, tax included, rounded once."""
    if not line.quantity:
        return Decimal(0)
    return (
        quantize(line.line_total * quantity / line.open_quantity, line.order.currency)
        if line.open_quantity
        else Decimal(0)
    )


def receive_return(
    *, rma: ReturnRequest, dispositions: dict[int, str], location_code: str | None, actor: str
) -> ReturnRequest:
    """The parcel came back: restock or write off each line, count it returned, refund."""
    location = inventory.location_by_code(location_code, field="location") if location_code else None
    with transaction.atomic():
        order = lock(rma.order)
        rma = ReturnRequest.objects.select_for_update().get(pk=rma.pk)
        if rma.status != ReturnRequest.Status.APPROVED:
            raise InvalidTransition(f"The return is {rma.status}; approve it first.", field="status")
        total = Decimal(0)
        for i, rl in enumerate(
            rma.lines.select_related("order_line", "order_line__variant", "order_line__order")
        ):
            disposition = dispositions.get(rl.order_line_id, "restock")
            if disposition not in ReturnLine.Disposition.values:
                raise ValidationFailed(
                    "disposition is 'restock' or 'write_off'.", field=f"lines[{i}].disposition"
                )
            if disposition == "restock":
                if location is None:
                    raise ValidationFailed("Name the location that restocks the units.", field="location")
                inventory.record_return(
                    variant=rl.order_line.variant,
                    location=location,
                    quantity=rl.quantity,
                    reference=order.number,
                    actor=actor,
                )
            rl.disposition = disposition
            rl.save(update_fields=["disposition"])
            OrderLine.objects.filter(pk=rl.order_line_id).update(returned=F("returned") + rl.quantity)
            total += line_value(rl.order_line, rl.quantity)
        refund = min(total, max(paid(order), Decimal(0))) if rma.refund_to == "original" else total
        if rma.refund_to == "exchange":
            refund = Decimal(0)  # the value pays for the exchange order instead (place_exchange)
        if refund > 0:
            if rma.refund_to == "original":
                payments.refund_reference(
                    reference=order.payment_reference,
                    amount=refund,
                    currency=order.currency,
                    key=f"return:{rma.number}",
                    reason=f"return {rma.number}",
                )
            else:
                credit.issue_credit(
                    customer=order.customer,
                    amount=refund,
                    currency=order.currency,
                    reference=rma.number,
                    key=f"return:{rma.number}",
                )
        rma.status, rma.refund_amount, rma.closed_at = ReturnRequest.Status.RECEIVED, refund, timezone.now()
        rma.save(update_fields=["status", "refund_amount", "closed_at"])
        event(
            order,
            "return_received",
            actor=actor,
            after={"return": rma.number, "refund": str(refund), "to": rma.refund_to},
        )
        if order.status != Order.Status.PARTIALLY_FULFILLED:
            # A partly shipped order stays partially_fulfilled: its other units still have to ship.
            lines = list(order.lines.all())
            everything = all(x.returned >= x.open_quantity for x in lines if x.open_quantity)
            transition(
                order, Order.Status.RETURNED if everything else Order.Status.PARTIALLY_RETURNED, actor=actor
            )
    return rma


def place_exchange(*, rma: ReturnRequest, lines: dict[str, int], actor: str) -> Order:
    """An exchange: a new order for the replacement items, paid by the returned items' value (any surplus
    goes to store credit, or back to the original payment for a guest); the new order links to the return."""
    from omnishop.payments import services as payment_services

    from .checkout import ChannelLine, create_channel_order
    from .common import settled

    if rma.refund_to != ReturnRequest.RefundTo.EXCHANGE:
        raise ValidationFailed("This return was not requested as an exchange.", field="refund_to")
    if rma.status not in (ReturnRequest.Status.APPROVED, ReturnRequest.Status.RECEIVED):
        raise InvalidTransition(f"The return is {rma.status}; approve it first.", field="status")
    existing = rma.exchange_orders.first()
    if existing is not None:
        return existing
    if not lines:
        raise ValidationFailed("Name the replacement items.", field="lines")
    order = rma.order
    with transaction.atomic():
        value = sum(
            (line_value(rl.order_line, rl.quantity) for rl in rma.lines.select_related("order_line__order")),
            Decimal(0),
        )
        new, _ = create_channel_order(
            channel=order.channel,
            lines=[ChannelLine(sku=sku, quantity=qty) for sku, qty in lines.items()],
            customer=order.customer,
            email=order.email,
            shipping_address=order.shipping_address,
            paid_amount="0",
            actor=actor,
        )
        Order.objects.filter(pk=new.pk).update(exchange_for=rma)
        applied = min(value, new.total)
        if applied > 0:
            payment_services.record_external_payment(
                channel=order.channel,
                reference=new.payment_reference,
                amount=applied,
                currency=order.currency,
                label=f"exchange {rma.number}",
                customer=order.customer,
            )
        surplus = value - applied
        if surplus > 0:
            if order.customer_id:
                credit.issue_credit(
                    customer=order.customer,
                    amount=surplus,
                    currency=order.currency,
                    reference=rma.number,
                    key=f"exchange:{rma.number}",
                )
            else:
                payments.refund_reference(
                    reference=order.payment_reference,
                    amount=min(surplus, paid(order)),
                    currency=order.currency,
                    key=f"exchange:{rma.number}",
                    reason=f"exchange {rma.number}",
                )
        ReturnRequest.objects.filter(pk=rma.pk).update(refund_amount=value)
        new.refresh_from_db()
        if new.status == Order.Status.PENDING_PAYMENT and settled(new):
            transition(new, Order.Status.PAID, actor=actor, message=f"Paid by return {rma.number}.")
            order_paid(new)
        event(
            order,
            "exchanged",
            actor=actor,
            after={"return": rma.number, "order": new.number, "value": str(value)},
        )
        event(
            new,
            "exchange_for",
            actor=actor,
            after={"return": rma.number, "order": order.number, "applied": str(applied)},
        )
    return new
