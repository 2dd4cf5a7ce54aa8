"""Placing orders: cart checkout, one-click buy, and orders that channels create directly (POS, marketplace).

Checkout is all or nothing: validate, quote, reserve stock, take payment, then write the order and turn the
reservation into its allocation in one transaction. A decline releases the reservation; a failure after the
charge voids or refunds it. The same checkout twice yields one order: the cart is claimed with a conditional
UPDATE and the order row is unique per (channel, checkout key). The claim is a lease (OMNISHOP_CHECKOUT_CLAIM_
SECONDS): a process killed in the middle of a checkout cannot release it, so it expires and a retry takes it
over; should the first process still be alive, the unique checkout key lets only one of the two commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from omnishop.core import batch, faults, outbox, rows, statements
from omnishop.core.errors import DomainError, IdempotencyKeyReused, ValidationFailed
from omnishop.core.money import parse_amount, quantize
from omnishop.inventory import services as inventory
from omnishop.inventory.errors import InsufficientStock
from omnishop.inventory.models import StockLocation
from omnishop.payments import services as payments
from omnishop.payments.errors import PaymentDeclined
from omnishop.payments.models import Payment
from omnishop.payments.providers import get_provider

from ..errors import (
    CartClosed,
    CheckoutInProgress,
    EmptyCart,
    Overpayment,
    QuickCheckoutUnavailable,
    ShippingMethodUnavailable,
)
from ..models import Cart, Order, OrderAllocation, OrderException, OrderLine, ShippingMethod
from ..pricing import PricedLine, check_fits, listed_lines, quote
from ..states import event
from .common import address_from_book, allocate, clean_address, new_number, new_token, record_allocation
from .listeners import PlacedRows, order_paid


@dataclass(frozen=True)
class PaymentRequest:
    provider: str
    token: str = ""


def shipping_method_for(*, channel, code: str | None) -> ShippingMethod:
    if not code:
        raise ShippingMethodUnavailable("Choose a shipping method.", field="shipping_method")
    method = _active_method(channel, code)
    if method is None:
        raise ShippingMethodUnavailable(
            f"No shipping method '{code}' on this channel.", field="shipping_method"
        )
    return method


def _active_method(channel, code: str) -> ShippingMethod | None:
    """The channel's active method `code` with its pickup location (if any), in one hand-written statement:
    every checkout reads it, and compiling the queryset cost more CPU than the answer (profile_checkout.py)."""
    sql = (
        f"SELECT {rows.columns(ShippingMethod, 'm')}, {rows.columns(StockLocation, 'x')} "
        f"FROM {ShippingMethod._meta.db_table} m LEFT JOIN {StockLocation._meta.db_table} x "
        "ON x.id = m.pickup_location_id WHERE m.channel_id = %s AND m.code = %s AND m.is_active "
        "ORDER BY m.id LIMIT 1"
    )
    row = statements.fetch_one(sql, [channel.pk, code])
    if row is None:
        return None
    method = rows.instance(ShippingMethod, row)
    pickup = None
    if method.pickup_location_id is not None:
        pickup = rows.instance(StockLocation, row, rows.width(ShippingMethod))
    ShippingMethod.pickup_location.field.set_cached_value(method, pickup)
    return method


def _order_lines(order: Order, priced: list[PricedLine], *, allocated: bool) -> list[OrderLine]:
    return OrderLine.objects.bulk_create(_line_rows(order, priced, allocated=allocated))


def _line_rows(order: Order, priced: list[PricedLine], *, allocated: bool) -> list[OrderLine]:
    return [
        OrderLine(
            order=order,
            variant_id=p.variant_id,
            sku=p.sku,
            title=p.title,
            quantity=p.quantity,
            allocated=p.quantity if allocated else 0,
            unit_price=p.unit_price,
            tax_rate=p.tax_rate,
            line_net=p.line_net,
            line_tax=p.line_tax,
            line_total=p.line_total,
            weight_grams=p.weight_grams,
        )
        for p in priced
    ]


def _insert_order(order: Order, lines: list[OrderLine], payment: Payment) -> None:
    """Write the order, its lines and (when not written yet) its payment. On PostgreSQL that is ONE
    statement — each INSERT a part of a WITH, the lines taking the order's id from its RETURNING — so a
    failure of any row (the checkout key's unique constraint) fails all of them."""
    if connection.vendor != "postgresql":
        if payment.pk is None:
            payment.save(force_insert=True)
        order.save(force_insert=True)
        OrderLine.objects.bulk_create(lines)
        return
    parts, params = [], []
    if payment.pk is None:
        sql, values = batch.insert_sql(payment, returning="id")
        parts.append(f"p AS ({sql})")
        params += values
    sql, values = batch.insert_sql(order, returning="id")
    parts.append(f"o AS ({sql})")
    params += values
    sql, values = batch.insert_sql(*lines, expressions={"order_id": "(SELECT id FROM o)"})
    parts.append(f"l AS ({sql})")
    params += values
    paid = "(SELECT id FROM p)" if payment.pk is None else "NULL"
    # A SELECT without FROM: always one row.
    payment_id, order.pk = cast(
        tuple, statements.fetch_one(f"WITH {', '.join(parts)} SELECT {paid}, (SELECT id FROM o)", params)
    )
    for instance in (payment, order):
        instance._state.adding, instance._state.db = False, connection.alias
    if payment_id is not None:
        payment.pk = payment_id
    for line in lines:
        line.order_id = order.pk


def place_order(
    *,
    channel,
    quantities: dict[str, int],
    shipping_method: str | None,
    shipping_address: dict | None,
    payment: PaymentRequest,
    key: str,
    customer=None,
    email: str = "",
    cart: Cart | None = None,
    actor: str,
    request_hash: str = "",
) -> Order:
    """Check out `quantities` (SKU → units): quote, hold stock, charge, write the order. Idempotent by `key`
    (the same key with a different `request_hash` is idempotency_key_reused)."""
    if not key or len(key) > 255:
        raise ValidationFailed("A checkout key of 1 to 255 characters is needed.", field="Idempotency-Key")
    existing = _replay(channel, key, request_hash)
    if existing is not None:
        existing.replayed = True
        return existing
    if not quantities:
        raise EmptyCart(field="lines")
    method = shipping_method_for(channel=channel, code=shipping_method)
    pickup = method.pickup_location if method.kind == ShippingMethod.Kind.PICKUP else None
    address = clean_address(shipping_address, required=pickup is None)
    country = (
        address["country"] if address else (pickup.country if pickup and pickup.country else channel.country)
    )
    # The tax rate comes with the listings (one query for both); `quantities` is not empty, so neither is priced.
    priced = listed_lines(channel=channel, skus=quantities, tax_country=country)
    q = quote(channel=channel, lines=priced, method=method, country=country, rate=priced[0].tax_rate)
    check_fits(q, shipping_field="shipping_method")
    provider = get_provider(payment.provider)
    fields = dict(
        channel=channel,
        customer=customer,
        email=email,
        currency=q.currency,
        prices_include_tax=q.prices_include_tax,
        shipping_address=address,
        shipping_method=method,
        shipping_method_name=method.name,
        subtotal=q.subtotal,
        shipping_total=q.shipping_total,
        tax_total=q.tax_total,
        total=q.total,
        cart=cart,
        checkout_key=key,
        checkout_hash=request_hash,
    )
    try:
        if provider.in_process:
            return _place_in_one_transaction(fields, priced, payment, pickup, actor)
        return _place_with_reservation(fields, priced, payment, pickup, actor)
    except IntegrityError:
        # The same checkout key committed first in a concurrent request: that order is the answer.
        winner = _replay(channel, key, request_hash)
        if winner is None:
            raise
        winner.replayed = True
        return winner


def _replay(channel, key: str, request_hash: str) -> Order | None:
    # hand-written: every checkout asks it first (profile_checkout.py); the key is unique per channel. The
    # key is never empty here: `<> ''` repeats the unique index's predicate so that the prepared statement's
    # generic plan can use that partial index (without it PostgreSQL planned every call afresh).
    row = statements.fetch_one(
        f"SELECT {rows.columns(Order, 'o')} FROM {Order._meta.db_table} o "
        "WHERE o.channel_id = %s AND o.checkout_key = %s AND o.checkout_key <> '' ORDER BY o.id LIMIT 1",
        [channel.pk, key],
    )
    existing = None
    if row is not None:
        existing = rows.instance(Order, row)
        Order.channel.field.set_cached_value(existing, channel)
    if (
        existing is not None
        and request_hash
        and existing.checkout_hash
        and existing.checkout_hash != request_hash
    ):
        raise IdempotencyKeyReused(field="Idempotency-Key", order=existing.number)
    return existing


def _write_order(fields: dict, priced: list[PricedLine], taken: Payment, actor: str) -> Order:
    number = fields["number"]
    status = Order.Status.PAID if taken.captured >= fields["total"] else Order.Status.PENDING_PAYMENT
    order = Order(status=status, payment_reference=number, tracking_token=new_token(), **fields)
    _insert_order(order, _line_rows(order, priced, allocated=True), taken)
    # The rollups take the new order's figures from here rather than reading its rows back.
    order.placed_rows = PlacedRows(
        lines=tuple((p.variant_id, p.product_id, p.quantity, p.line_total) for p in priced),
        refunded=taken.refunded,
    )
    event(
        order,
        "placed",
        actor=actor,
        message=f"Placed with {taken.provider} ({taken.status}).",
        after={"status": status, "total": str(fields["total"]), "payment": taken.pk},
    )
    if fields["cart"] is not None:
        Cart.objects.filter(pk=fields["cart"].pk).update(status=Cart.Status.ORDERED)
    if status == Order.Status.PAID:
        order_paid(order)
    return order


def _place_in_one_transaction(fields, priced, payment: PaymentRequest, pickup, actor: str) -> Order:
    """In-process providers (test card, store credit, bank transfer) answer at once: charge, write the order
    and take the stock in ONE transaction, the stock's conditional UPDATE last, so a hot SKU's row is locked
    only for its own commit. Anything failing rolls everything back, the charge included."""
    fields = {**fields, "number": new_number(fields["channel"])}
    try:
        with transaction.atomic():
            faults.crash_point("checkout.before_charge")
            taken = payments.start_payment(
                channel=fields["channel"],
                reference=fields["number"],
                provider=payment.provider,
                amount=fields["total"],
                currency=fields["currency"],
                token=payment.token,
                customer=fields["customer"],
                notify=False,
                insert=False,  # written with the order and its lines (_insert_order)
            )
            faults.crash_point("checkout.after_charge")
            # The timeline entry, the rollups and order.placed + order.paid: one statement (core.batch).
            with batch.deferred(), outbox.collected():
                order = _write_order(fields, priced, taken, actor)
            # The order's link to its allocation is written by the take's own statement.
            allocation = inventory.allocate_stock(
                channel=fields["channel"],
                lines=[inventory.LineRequest(sku=p.sku, quantity=p.quantity) for p in priced],
                order_reference=fields["number"],
                pickup_location=pickup,
                link=inventory.HolderLink(
                    table=OrderAllocation._meta.db_table,
                    holder_column="allocation_id",
                    values={"order_id": order.pk, "is_active": True},
                ),
            )
            if not allocation.linked:  # an allocation replayed, or taken beyond stock
                OrderAllocation.objects.create(order=order, allocation=allocation)
            faults.crash_point("checkout.before_commit")
        faults.crash_point("checkout.after_commit")
    except PaymentDeclined as declined:
        # The attempt is kept for the record (the rolled-back transaction took it with it).
        payments.record_failed_attempt(
            channel=fields["channel"],
            reference=fields["number"],
            provider=payment.provider,
            amount=fields["total"],
            currency=fields["currency"],
            customer=fields["customer"],
            failure_code=declined.code,
        )
        raise
    return order


def _place_with_reservation(fields, priced, payment: PaymentRequest, pickup, actor: str) -> Order:
    """Remote providers (Stripe) take time: hold the stock with a reservation, charge outside any
    transaction, then write the order and convert the reservation; a failure voids or refunds the charge."""
    channel = fields["channel"]
    number = new_number(channel)
    fields = {**fields, "number": number}
    reservation = inventory.reserve_stock(
        channel=channel,
        lines=[inventory.LineRequest(sku=p.sku, quantity=p.quantity) for p in priced],
        key=f"checkout:{number}",
        reference=number,
        pickup_location=pickup,
    )
    try:
        taken = payments.start_payment(
            channel=channel,
            reference=number,
            provider=payment.provider,
            amount=fields["total"],
            currency=fields["currency"],
            token=payment.token,
            customer=fields["customer"],
            notify=False,
        )
    except BaseException:
        inventory.release_reservation(reservation=reservation)
        raise
    try:
        with transaction.atomic():
            with batch.deferred(), outbox.collected():
                order = _write_order(fields, priced, taken, actor)
            allocation = inventory.allocate_reservation(reservation=reservation, order_reference=number)
            OrderAllocation.objects.create(order=order, allocation=allocation)
    except BaseException:
        _undo_payment(taken)
        reservation.refresh_from_db()
        if reservation.status == "active":
            inventory.release_reservation(reservation=reservation)
        raise
    return order


def _undo_payment(payment: Payment) -> None:
    payment.refresh_from_db()
    if payment.status == Payment.Status.CAPTURED and payment.net > 0:
        payments.refund_payment(
            payment=payment, amount=payment.net, key="checkout-failed", reason="checkout failed"
        )
    elif payment.status in (
        Payment.Status.AUTHORIZED,
        Payment.Status.PENDING,
        Payment.Status.REQUIRES_ACTION,
    ):
        payments.void_payment(payment=payment)


def checkout_cart(*, cart: Cart, payment: PaymentRequest, key: str, actor: str) -> Order:
    """Turn the cart into an order once: a second checkout of the same cart returns the first order."""
    done = Order.objects.filter(cart=cart).first()
    if done is not None:
        return done
    now = timezone.now()
    lease = now + timedelta(seconds=settings.OMNISHOP_CHECKOUT_CLAIM_SECONDS)
    # Open, or held by a checkout whose lease ran out (its process died): the conditional UPDATE lets one
    # claimant through.
    claimed = (
        Cart.objects.filter(pk=cart.pk)
        .filter(Q(status=Cart.Status.OPEN) | Q(status=Cart.Status.CHECKING_OUT, claimed_until__lt=now))
        .update(status=Cart.Status.CHECKING_OUT, claimed_until=lease, updated_at=now)
    )
    if not claimed:
        cart.refresh_from_db()
        done = Order.objects.filter(cart=cart).first()
        if done is not None:
            return done
        if cart.status == Cart.Status.CHECKING_OUT:
            raise CheckoutInProgress(field="cart")
        raise CartClosed(field="cart")
    try:
        quantities = {line.variant.sku: line.quantity for line in cart.lines.select_related("variant")}
        return place_order(
            channel=cart.channel,
            quantities=quantities,
            shipping_method=cart.shipping_method.code if cart.shipping_method is not None else None,
            shipping_address=cart.shipping_address,
            payment=payment,
            key=f"cart:{cart.token}",
            customer=cart.customer,
            email=cart.email or (cart.customer.email if cart.customer is not None else ""),
            cart=cart,
            actor=actor,
        )
    except BaseException:
        # Only our own claim: if it expired and another checkout took the cart over, that one is running.
        Cart.objects.filter(pk=cart.pk, status=Cart.Status.CHECKING_OUT, claimed_until=lease).update(
            status=Cart.Status.OPEN, claimed_until=None
        )
        raise


def quick_checkout(*, channel, customer, sku: str, quantity: int, key: str, actor: str) -> Order:
    """One-click buy: the shopper's default shipping address, their channel's first method, saved card."""
    from omnishop.customers.models import Address

    address = Address.objects.filter(customer=customer, is_default_shipping=True).first()
    if address is None:
        raise QuickCheckoutUnavailable("Save a default shipping address first.", field="shipping_address")
    saved = payments.default_payment_method(customer=customer)
    if saved is None:
        raise QuickCheckoutUnavailable("Save a payment method first.", field="payment")
    method = (
        ShippingMethod.objects.filter(channel=channel, is_active=True)
        .exclude(kind=ShippingMethod.Kind.PICKUP)
        .order_by("price", "code")
        .first()
    )
    if method is None:
        raise QuickCheckoutUnavailable("This channel has no delivery method.", field="shipping_method")
    return place_order(
        channel=channel,
        quantities={sku: quantity},
        shipping_method=method.code,
        shipping_address=address_from_book(address),
        payment=PaymentRequest(provider=saved.provider, token=saved.token),
        key=f"quick:{customer.pk}:{key}",
        customer=customer,
        email=customer.email,
        actor=actor,
    )


@dataclass(frozen=True)
class ChannelLine:
    sku: str
    quantity: int
    unit_price: str | None = None


def create_channel_order(
    *,
    channel,
    lines: list[ChannelLine],
    external_id: str = "",
    customer=None,
    email: str = "",
    shipping_address: dict | None = None,
    shipping_method: str | None = None,
    shipping_total: str | None = None,
    paid_amount: str | None = None,
    payment_label: str = "",
    handed_over: bool = False,
    actor: str,
) -> tuple[Order, bool]:
    """An order the channel already took (marketplace import, POS sale): payment recorded as captured.

    Deduplicated by the marketplace's external order id: the same id twice returns the first order (and
    False). Stock is allocated at once; if it ran out the order waits in the exception queue.
    """
    if external_id:
        existing = Order.objects.filter(channel=channel, external_id=external_id).first()
        if existing is not None:
            return existing, False
    if not lines:
        raise EmptyCart(field="lines")
    quantities = {}
    for i, line in enumerate(lines):
        if line.sku in quantities:
            raise ValidationFailed(f"SKU '{line.sku}' appears twice.", field=f"lines[{i}].sku")
        quantities[line.sku] = line.quantity
    method = shipping_method_for(channel=channel, code=shipping_method) if shipping_method else None
    address = clean_address(shipping_address, required=False)
    country = address["country"] if address else channel.country
    priced = listed_lines(channel=channel, skus=quantities)
    for i, (p, line) in enumerate(zip(priced, lines, strict=True)):
        if line.unit_price is not None:
            p.unit_price = parse_amount(line.unit_price, channel.currency, field=f"lines[{i}].unit_price")
    q = quote(channel=channel, lines=priced, method=None, country=country)
    fee = parse_amount(shipping_total, channel.currency, field="shipping_total") if shipping_total else None
    if method is not None or fee is not None:
        from ..pricing import shipping_fee, split_tax

        if fee is None and method is not None:
            fee = shipping_fee(
                method, goods=q.subtotal, weight_grams=q.weight_grams, country=country, currency=q.currency
            )
        if fee is None:  # unreachable: a method or a fee is there
            raise ValidationFailed("A shipping method or shipping_total is needed.", field="shipping_total")
        _, ship_tax, gross = split_tax(fee, q.tax_rate, q.currency, q.prices_include_tax)
        q.shipping_total, q.tax_total, q.total = fee, q.tax_total + ship_tax, q.total + gross
    check_fits(q, shipping_field="shipping_total" if shipping_total else "shipping_method")
    amount = q.total if paid_amount is None else parse_amount(paid_amount, q.currency, field="paid_amount")
    if amount > quantize(q.total, q.currency):
        # The surplus is the channel's to refund; an order paid above its total is not taken at all.
        raise Overpayment(
            f"paid_amount {amount} is more than the order's total {quantize(q.total, q.currency)}.",
            field="paid_amount",
            paid=str(amount),
            total=str(quantize(q.total, q.currency)),
        )
    number = new_number(channel)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                number=number,
                payment_reference=number,
                channel=channel,
                customer=customer,
                email=email,
                status=Order.Status.PENDING_PAYMENT,
                currency=q.currency,
                prices_include_tax=q.prices_include_tax,
                shipping_address=address,
                shipping_method=method,
                shipping_method_name=method.name if method else "",
                subtotal=q.subtotal,
                shipping_total=q.shipping_total,
                tax_total=q.tax_total,
                total=q.total,
                external_id=external_id,
                tracking_token=new_token(),
            )
            _order_lines(order, priced, allocated=False)
            event(
                order,
                "placed",
                actor=actor,
                message=f"Created by channel {channel.code}.",
                after={"total": str(q.total), "external_id": external_id},
            )
            if amount > 0:
                payments.record_external_payment(
                    channel=channel,
                    reference=number,
                    amount=amount,
                    currency=q.currency,
                    label=payment_label or f"paid on {channel.code}",
                    customer=customer,
                )
            status = (
                Order.Status.PAID if amount >= quantize(q.total, q.currency) else Order.Status.PENDING_PAYMENT
            )
            try:
                with transaction.atomic():
                    allocation = inventory.allocate_stock(
                        channel=channel,
                        lines=[inventory.LineRequest(sku=p.sku, quantity=p.quantity) for p in priced],
                        order_reference=number,
                        pickup_location=method.pickup_location
                        if method and method.kind == "pickup"
                        else None,
                    )
                    record_allocation(order, allocation)
            except InsufficientStock:
                # Hold what is there line by line; the rest waits for a decision in the exception queue.
                missing = []
                for p in priced:
                    try:
                        with transaction.atomic():
                            allocate(order, {p.variant_id: p.quantity})
                    except InsufficientStock as short:
                        missing.append(short.details)
                OrderException.objects.create(
                    order=order, reason=OrderException.Reason.OUT_OF_STOCK, details={"missing": missing}
                )
                status = Order.Status.ON_HOLD
            Order.objects.filter(pk=order.pk).update(status=status)
            event(
                order,
                "status_changed",
                actor=actor,
                before={"status": "pending_payment"},
                after={"status": status},
            )
            order.status = status
            if status == Order.Status.PAID:
                order_paid(order)
    except IntegrityError:
        existing = (
            Order.objects.filter(channel=channel, external_id=external_id).first() if external_id else None
        )
        if existing is None:
            raise
        return existing, False
    if handed_over and order.status == Order.Status.PAID:
        from .fulfilment import create_fulfilments, ship_fulfilment

        for fulfilment in create_fulfilments(order=order, actor=actor):
            ship_fulfilment(fulfilment=fulfilment, carrier="in_store", tracking_number="", actor=actor)
        order.refresh_from_db()
    return order, True


__all__ = [
    "ChannelLine",
    "DomainError",
    "PaymentRequest",
    "checkout_cart",
    "create_channel_order",
    "place_order",
    "quick_checkout",
    "shipping_method_for",
]
