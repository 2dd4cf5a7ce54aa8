"""Carts and checkout: carts, cart checkout, one-step checkout, one-click buy, channel orders."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from omnishop.auth import channel_key, shopper
from omnishop.channels.models import Channel
from omnishop.core.errors import ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent, request_fingerprint
from omnishop.core.schemas import conform

from .. import serialise, services
from ..errors import CartNotFound
from ..models import Order
from ..schemas import (
    CartCheckoutIn,
    CartDetailsIn,
    CartIn,
    CartLineIn,
    CartOut,
    ChannelOrderIn,
    CheckoutIn,
    OrderOut,
    PlacedOrderOut,
    QuickCheckoutIn,
)
from .access import (
    ERRORS,
    SHOP,
    acting_channel,
    actor,
    buyer_side,
    router,
)


def _cart(request: HttpRequest, token: str):
    cart = services.get_cart(token)
    auth = request.auth
    if auth.kind == "channel" and cart.channel_id == auth.channel.pk:
        return cart
    if (
        auth.kind in ("shopper", "staff")
        and cart.customer_id is not None
        and cart.customer_id == auth.customer.pk
    ):
        return cart
    raise CartNotFound("No such cart.", field="token")


def _cart_view(cart) -> dict:
    return serialise.cart_out(cart, services.cart_quote(cart=cart))


@router.post("/carts", response={201: CartOut, **ERRORS}, auth=SHOP)
def create_cart(request: HttpRequest, body: CartIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """A channel key opens guest carts for its channel; a shopper opens their own cart on a named channel."""
    channel = acting_channel(request, body.channel)
    customer = request.auth.customer if request.auth.kind != "channel" else None

    def build():
        cart = services.create_cart(channel=channel, customer=customer, email=body.email)
        return _cart_view(cart)

    return idempotent(request, idempotency_key, 201, build, schema=CartOut)


@router.get("/carts/{token}", response={200: CartOut, **ERRORS}, auth=SHOP)
def get_cart(request: HttpRequest, token: str):
    return _cart_view(_cart(request, token))


@router.put("/carts/{token}/lines", response={200: CartOut, **ERRORS}, auth=SHOP)
def set_cart_line(request: HttpRequest, token: str, body: CartLineIn):
    """Set a SKU's quantity (0 removes it)."""
    cart = services.set_line(cart=_cart(request, token), sku=body.sku, quantity=body.quantity)
    return _cart_view(cart)


@router.patch("/carts/{token}", response={200: CartOut, **ERRORS}, auth=SHOP)
def update_cart(request: HttpRequest, token: str, body: CartDetailsIn):
    cart = services.set_checkout_details(
        cart=_cart(request, token),
        shipping_address=body.shipping_address.dict() if body.shipping_address else None,
        shipping_method=body.shipping_method,
        email=body.email,
    )
    return _cart_view(cart)


@router.post("/carts/{token}/checkout", response={201: PlacedOrderOut, **ERRORS}, auth=SHOP)
def checkout_cart(
    request: HttpRequest, token: str, body: CartCheckoutIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Place the cart's order: reserve, pay, place — all or nothing; the same cart twice is one order."""
    cart = _cart(request, token)

    def build():
        order = services.checkout_cart(
            cart=cart,
            payment=services.PaymentRequest(provider=body.payment.provider, token=body.payment.token),
            key=idempotency_key or "",
            actor=actor(request),
        )
        return serialise.placed_out(order, secrets=buyer_side(request, order))

    return idempotent(request, idempotency_key, 201, build, schema=PlacedOrderOut)


@router.post("/checkout", response={201: PlacedOrderOut, **ERRORS}, auth=SHOP)
def checkout(request: HttpRequest, body: CheckoutIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Check out lines in one call (headless storefronts). Idempotency-Key is required: it is the order's key."""
    if not idempotency_key:
        raise ValidationFailed(
            "Send an Idempotency-Key: it makes a retried checkout one order.", field="Idempotency-Key"
        )
    channel = acting_channel(request, body.channel)
    customer = request.auth.customer if request.auth.kind != "channel" else None
    quantities: dict[str, int] = {}
    for i, line in enumerate(body.lines):
        if line.sku in quantities:
            raise ValidationFailed(f"SKU '{line.sku}' appears twice.", field=f"lines[{i}].sku")
        quantities[line.sku] = line.quantity

    from omnishop.core.http import dumps

    # The order row itself is the idempotency record (unique per channel and key, with the request's
    # fingerprint): the hot path commits once instead of three times.
    order = services.place_order(
        channel=channel,
        quantities=quantities,
        shipping_method=body.shipping_method,
        shipping_address=body.shipping_address.dict() if body.shipping_address else None,
        payment=services.PaymentRequest(provider=body.payment.provider, token=body.payment.token),
        key=f"{request.auth.idempotency_scope}:{idempotency_key}",
        customer=customer,
        email=body.email or (customer.email if customer else ""),
        actor=actor(request),
        request_hash=request_fingerprint(request, "POST /orders/checkout"),
    )
    placed = conform(PlacedOrderOut, serialise.placed_out(order, secrets=buyer_side(request, order)))
    response = HttpResponse(dumps(placed), status=201, content_type="application/json")
    if getattr(order, "replayed", False):
        response["Idempotent-Replayed"] = "true"
    return response


@router.post("/quick-checkout", response={201: PlacedOrderOut, **ERRORS}, auth=[shopper()])
def quick_checkout(
    request: HttpRequest, body: QuickCheckoutIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """One-click buy with the shopper's default address, cheapest delivery method and saved payment method."""
    if not idempotency_key:
        raise ValidationFailed("Send an Idempotency-Key.", field="Idempotency-Key")
    channel = acting_channel(request, body.channel)

    def build():
        order = services.quick_checkout(
            channel=channel,
            customer=request.auth.customer,
            sku=body.sku,
            quantity=body.quantity,
            key=idempotency_key,
            actor=actor(request),
        )
        return serialise.placed_out(order, secrets=buyer_side(request, order))

    return idempotent(request, idempotency_key, 201, build, schema=PlacedOrderOut)


@router.post(
    "/channel-orders", response={201: OrderOut, 200: OrderOut, **ERRORS}, auth=[channel_key("orders:write")]
)
def create_channel_order(
    request: HttpRequest, body: ChannelOrderIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """An order the channel already took payment for (POS sale, marketplace import); external_id dedupes."""
    channel = request.auth.channel

    def build():
        # One transaction from the customer to the representation: an order that is refused below, or whose
        # representation fails, is not left behind with its captured payment.
        with transaction.atomic():
            order = _take_channel_order(request, channel, body)
            return serialise.order_out(order, secrets=buyer_side(request, order))

    return idempotent(request, idempotency_key, 201, build, schema=OrderOut)


def _take_channel_order(request: HttpRequest, channel: Channel, body: ChannelOrderIn) -> Order:
    """Create (or find by external id) the channel's order (the service refuses one paid above its total)."""
    from omnishop.customers.normalise import normalise_email
    from omnishop.customers.services import resolve_customer

    customer = None
    c = body.customer
    if c is not None and (c.external_id or c.email or c.phone):
        customer = resolve_customer(
            channel=channel,
            external_id=c.external_id,
            email=c.email,
            phone=c.phone,
            first_name=c.first_name,
            last_name=c.last_name,
        ).customer
    order, _ = services.create_channel_order(
        channel=channel,
        lines=[
            services.ChannelLine(sku=x.sku, quantity=x.quantity, unit_price=x.unit_price) for x in body.lines
        ],
        external_id=body.external_id,
        customer=customer,
        # Stored the way docs/API.md promises e-mails: normalised and lower-case (as the customer's).
        email=normalise_email(c.email, field="customer.email") if c and c.email else "",
        shipping_address=body.shipping_address.dict() if body.shipping_address else None,
        shipping_method=body.shipping_method,
        shipping_total=body.shipping_total,
        paid_amount=body.paid_amount,
        payment_label=body.payment_label,
        handed_over=body.handed_over,
        actor=actor(request),
    )
    return order
