"""Orders API: carts and checkout, one-click buy, channel orders, the order lifecycle, returns, exceptions.

Parse → call a service → serialise. Who may do what: a channel key acts on its own channel's carts and
orders; a shopper on their own; staff by Django permission (docs/orders.md has the matrix).
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from omnishop.auth import channel_key, shopper, staff
from omnishop.channels.models import Channel
from omnishop.channels.services import ChannelNotFound
from omnishop.core.errors import PermissionDenied, ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent, request_fingerprint
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS as COMMON_ERRORS
from omnishop.core.schemas import Id, Int32, conform, error_schema

from . import serialise, services
from .errors import CartNotFound, OrderNotFound
from .models import Order, OrderException
from .schemas import (
    AddressChangeIn,
    AllocatedOut,
    CancelIn,
    CartCheckoutIn,
    CartDetailsIn,
    CartIn,
    CartLineIn,
    CartOut,
    ChannelOrderIn,
    CheckoutIn,
    ExceptionPage,
    ExceptionResolveIn,
    ExchangeIn,
    FulfilmentShipIn,
    OrderMergeIn,
    OrderOut,
    OrderPage,
    PlacedOrderOut,
    QuickCheckoutIn,
    ReturnDecisionIn,
    ReturnIn,
    ReturnReceiveIn,
    ReturnRequestedOut,
    ShippingMethodFilters,
    ShippingMethodIn,
    ShippingMethodListOut,
    ShippingMethodOut,
    SplitIn,
    TaxRateIn,
    TaxRateOut,
    TimelineOut,
)

router = Router(tags=["orders"])
channel_router = Router(tags=["orders"])  # mounted at /channels: /channels/{code}/shipping-methods
ERRORS = {**COMMON_ERRORS, 402: error_schema(402)}

READ = [channel_key("orders:read"), staff("orders.view_order"), shopper()]
SHOP = [channel_key("orders:write"), staff("orders.change_order"), shopper()]
MANAGE = [channel_key("orders:write"), staff("orders.change_order")]
CONFIGURE = [channel_key("orders:write"), staff("orders.change_shippingmethod")]
ORDERINGS = ("created_at", "total", "id")


def actor(request: HttpRequest) -> str:
    auth = request.auth
    if auth.kind == "channel":
        return f"channel:{auth.channel.code}"
    return f"{auth.kind}:{auth.user.pk}"


def acting_channel(request: HttpRequest, code: str | None) -> Channel:
    """A key's own channel; shoppers and staff name it. Another channel's code does not exist for a key."""
    auth = request.auth
    if auth.kind == "channel":
        if code and code != auth.channel.code:
            raise ValidationFailed(f"No channel '{code}'.", field="channel")
        return auth.channel
    if not code:
        raise ValidationFailed("Name the channel.", field="channel")
    channel = Channel.objects.filter(code=code, is_active=True).first()
    if channel is None:
        raise ValidationFailed(f"No channel '{code}'.", field="channel")
    return channel


def visible_order(request: HttpRequest, number: str) -> Order:
    order = (
        Order.objects.select_related("channel", "shipping_method", "parent", "merged_into")
        .filter(number=number)
        .first()
    )
    auth = request.auth
    if order is not None and (
        auth.kind == "staff"
        or (auth.kind == "channel" and order.channel_id == auth.channel.pk)
        or (auth.kind == "shopper" and order.customer_id == auth.customer.pk)
    ):
        return order
    raise OrderNotFound(f"No order {number}.", field="number")


def buyer_side(request: HttpRequest, order: Order) -> bool:
    """The order's own channel and its customer act for the buyer, so only they get the order's tracking
    token and a payment's client secret; staff operate without them (as in the admin)."""
    auth = request.auth
    if auth.kind == "channel":
        return order.channel_id == auth.channel.pk
    if order.customer_id is None:
        return False
    if auth.kind == "shopper":
        return order.customer_id == auth.customer.pk
    return order.customer.user_id == auth.user.pk


def order_view(request: HttpRequest, order: Order) -> dict:
    return serialise.order_out(order, secrets=buyer_side(request, order))


def _no_shoppers(request: HttpRequest) -> None:
    if request.auth.kind == "shopper":
        raise PermissionDenied("Only staff or the channel can do this.")


def _lines(items) -> dict[int, int]:
    out: dict[int, int] = {}
    for i, item in enumerate(items):
        if item.line in out:
            raise ValidationFailed("A line is named twice.", field=f"lines[{i}].line")
        out[item.line] = item.quantity
    return out


# --- carts and checkout --------------------------------------------------------------------------------


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


# --- reading orders ------------------------------------------------------------------------------------


@router.get("", response={200: OrderPage, **ERRORS}, auth=READ)
def list_orders(
    request: HttpRequest,
    status: str | None = None,
    channel: str | None = None,
    customer: Id | None = None,
    external_id: str | None = None,
    q: str | None = Query(None, max_length=200),
    sku: str | None = Query(None, max_length=100),
    ordering: str = "-created_at",
    cursor: str | None = None,
    limit: Int32 = Query(50),
):
    """A shopper sees their own orders, a channel key its channel's, staff every channel's. `q` finds orders
    by number (or its start), external id, e-mail, the customer's phone or every word of their name; `sku`
    those with a line of that SKU."""
    qs = services.visible_orders(request.auth)
    if q or sku:
        qs = services.search_orders(within=qs, text=q or "", sku=sku or "")
    if status:
        if status not in Order.Status.values:
            raise ValidationFailed(f"Unknown status '{status}'.", field="status")
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel__code=channel)
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    if external_id:
        qs = qs.filter(external_id=external_id)
    page = paginate(qs, cursor=cursor, limit=limit, ordering=ordering, allowed=ORDERINGS)
    return {"items": [serialise.order_summary(o) for o in page.items], "next_cursor": page.next_cursor}


@router.get("/exceptions", response={200: ExceptionPage, **ERRORS}, auth=MANAGE)
def list_exceptions(
    request: HttpRequest, open_only: bool = True, cursor: str | None = None, limit: Int32 = 50
):
    """The exception queue, oldest first."""
    qs = OrderException.objects.select_related("order", "order__channel")
    if request.auth.kind == "channel":
        qs = qs.filter(order__channel=request.auth.channel)
    if open_only:
        qs = qs.filter(resolved_at__isnull=True)
    page = paginate(qs, cursor=cursor, limit=limit, ordering="created_at", allowed=("created_at",))
    return {
        "items": [
            {
                "id": e.pk,
                "order": e.order.number,
                "reason": e.reason,
                "details": e.details,
                "resolution": e.resolution,
                "created_at": e.created_at,
                "resolved_at": e.resolved_at,
            }
            for e in page.items
        ],
        "next_cursor": page.next_cursor,
    }


@router.post("/exceptions/{exception_id}/resolve", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def resolve_exception(request: HttpRequest, exception_id: Id, body: ExceptionResolveIn):
    """Backorder, cancel the missing units (refunded), or substitute another SKU per line."""
    item = services.get_exception(exception_id)
    visible_order(request, item.order.number)
    order = services.resolve_exception(
        item=item,
        action=body.action,
        actor=actor(request),
        substitutes={s.line: s.sku for s in body.substitutes},
    )
    return order_view(request, order)


@router.post("/backorders/allocate", response={200: AllocatedOut, **ERRORS}, auth=MANAGE)
def allocate_backorders(request: HttpRequest):
    """Give received stock to waiting orders now (the periodic job does it every minute)."""
    channel = request.auth.channel if request.auth.kind == "channel" else None
    return {"allocated": services.allocate_backorders(channel=channel, actor=actor(request))}


@router.post("/merge", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def merge_orders(request: HttpRequest, body: OrderMergeIn):
    orders = [visible_order(request, n) for n in body.orders]
    return order_view(request, services.merge_orders(orders=orders, actor=actor(request)))


@router.post("/fulfilments/{fulfilment_id}/ship", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def ship_fulfilment(request: HttpRequest, fulfilment_id: Id, body: FulfilmentShipIn):
    """The parcel left: sale movements written, lines fulfilled; carrier and tracking number recorded."""
    fulfilment = services.get_fulfilment(fulfilment_id)
    visible_order(request, fulfilment.order.number)
    services.ship_fulfilment(
        fulfilment=fulfilment,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        actor=actor(request),
    )
    return order_view(request, services.get_order(fulfilment.order.number))


@router.post("/returns/{number}/approve", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def approve_return(request: HttpRequest, number: str, body: ReturnDecisionIn | None = None):
    """The body (a note) is optional: an empty body approves without one."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    note = body.note if body else ""
    services.decide_return(rma=rma, approve=True, actor=actor(request), note=note)
    return order_view(request, services.get_order(rma.order.number))


@router.post("/returns/{number}/reject", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def reject_return(request: HttpRequest, number: str, body: ReturnDecisionIn | None = None):
    """The body (a note) is optional: an empty body rejects without one."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    note = body.note if body else ""
    services.decide_return(rma=rma, approve=False, actor=actor(request), note=note)
    return order_view(request, services.get_order(rma.order.number))


@router.post("/returns/{number}/receive", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def receive_return(request: HttpRequest, number: str, body: ReturnReceiveIn):
    """Restock (into `location`) or write off each line, then refund to the method the return names."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    services.receive_return(
        rma=rma,
        dispositions={x.line: x.disposition for x in body.lines},
        location_code=body.location,
        actor=actor(request),
    )
    return order_view(request, services.get_order(rma.order.number))


@router.post("/returns/{number}/exchange", response={201: OrderOut, **ERRORS}, auth=MANAGE)
def exchange(request: HttpRequest, number: str, body: ExchangeIn):
    """A new order for the replacement items, paid by the value of the return (refund_to: exchange)."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    lines: dict[str, int] = {}
    for i, x in enumerate(body.lines):
        if x.sku in lines:
            raise ValidationFailed(f"SKU '{x.sku}' appears twice.", field=f"lines[{i}].sku")
        lines[x.sku] = x.quantity
    new = services.place_exchange(rma=rma, lines=lines, actor=actor(request))
    return Status(201, order_view(request, new))


@router.post("/shipping-methods", response={201: ShippingMethodOut, **ERRORS}, auth=CONFIGURE)
def create_shipping_method(
    request: HttpRequest, body: ShippingMethodIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    channel = acting_channel(request, body.channel)

    def build():
        m = services.create_shipping_method(
            channel=channel,
            code=body.code,
            name=body.name,
            kind=body.kind,
            price=body.price,
            free_over=body.free_over,
            bands=[b.dict() for b in body.bands],
            countries=body.countries,
            pickup_location=body.pickup_location,
        )
        return {
            "code": m.code,
            "name": m.name,
            "kind": m.kind,
            "price": str(m.price),
            "channel": channel.code,
        }

    return idempotent(request, idempotency_key, 201, build, schema=ShippingMethodOut)


@router.post("/tax-rates", response={200: TaxRateOut, **ERRORS}, auth=CONFIGURE)
def set_tax_rate(request: HttpRequest, body: TaxRateIn):
    channel = acting_channel(request, body.channel)
    rate = services.set_tax_rate(channel=channel, country=body.country, rate=body.rate)
    return {"channel": channel.code, "country": rate.country, "rate": str(rate.rate)}


@channel_router.get(
    "/{code}/shipping-methods",
    response={200: ShippingMethodListOut, 404: error_schema(404), 422: error_schema(422)},
    auth=None,
)
def offered_shipping_methods(request: HttpRequest, code: str, filters: Query[ShippingMethodFilters]):
    """The shipping methods a shopper of the channel can choose, cheapest first (public, like the
    storefront's prices). `country` keeps those that deliver to that destination."""
    channel = None if "\x00" in code else Channel.objects.filter(code=code, is_active=True).first()
    if channel is None:  # an inactive channel sells nothing, so it offers no shipping either
        raise ChannelNotFound(f"No channel '{code}'.", field="code")
    methods = services.offered_shipping_methods(channel=channel, country=filters.country)
    return {
        "channel": channel.code,
        "currency": channel.currency,
        "methods": [serialise.offered_shipping_method(m, channel.currency) for m in methods],
    }


# --- one order -----------------------------------------------------------------------------------------


@router.get("/{number}", response={200: OrderOut, **ERRORS}, auth=READ)
def get_order(request: HttpRequest, number: str):
    return order_view(request, visible_order(request, number))


@router.get("/{number}/timeline", response={200: TimelineOut, **ERRORS}, auth=READ)
def timeline(request: HttpRequest, number: str):
    order = visible_order(request, number)
    return {"order": order.number, "events": [serialise.event_out(e) for e in order.events.all()]}


@router.post("/{number}/cancel", response={200: OrderOut, **ERRORS}, auth=SHOP)
def cancel(request: HttpRequest, number: str, body: CancelIn):
    """Cancel the whole order or some units; held stock is released and what was paid for them refunded.
    Shoppers may cancel their own order as a whole, before anything shipped."""
    order = visible_order(request, number)
    if request.auth.kind == "shopper" and body.lines is not None:
        raise PermissionDenied("Shoppers cancel whole orders; ask the shop to cancel single items.")
    quantities = _lines(body.lines) if body.lines is not None else None
    return order_view(
        request,
        services.cancel_order(order=order, quantities=quantities, actor=actor(request), reason=body.reason),
    )


@router.post("/{number}/address", response={200: OrderOut, **ERRORS}, auth=SHOP)
def change_address(request: HttpRequest, number: str, body: AddressChangeIn):
    """Before anything shipped: new address, shipping and tax re-quoted; after → 409 address_locked."""
    order = visible_order(request, number)
    return order_view(
        request,
        services.change_address(order=order, address=body.shipping_address.dict(), actor=actor(request)),
    )


@router.post("/{number}/split", response={201: OrderOut, **ERRORS}, auth=MANAGE)
def split(request: HttpRequest, number: str, body: SplitIn):
    order = visible_order(request, number)
    child = services.split_order(order=order, quantities=_lines(body.lines), actor=actor(request))
    return Status(201, order_view(request, child))


@router.post("/{number}/fulfilments", response={201: OrderOut, **ERRORS}, auth=MANAGE)
def create_fulfilments(request: HttpRequest, number: str):
    """One pending fulfilment per stock location holding the order's units."""
    order = visible_order(request, number)
    services.create_fulfilments(order=order, actor=actor(request))
    return Status(201, order_view(request, services.get_order(number)))


@router.post("/{number}/complete", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def complete(request: HttpRequest, number: str):
    order = visible_order(request, number)
    return order_view(request, services.complete_order(order=order, actor=actor(request)))


@router.post("/{number}/returns", response={201: ReturnRequestedOut, **ERRORS}, auth=SHOP)
def request_return(
    request: HttpRequest, number: str, body: ReturnIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    order = visible_order(request, number)

    def build():
        rma = services.request_return(
            order=order,
            lines=[(x.line, x.quantity, x.reason) for x in body.lines],
            refund_to=body.refund_to,
            note=body.note,
            actor=actor(request),
        )
        return {"number": rma.number, "status": rma.status, "order": order.number, "refund_to": rma.refund_to}

    return idempotent(request, idempotency_key, 201, build, schema=ReturnRequestedOut)
