"""Who may do what on the orders API: the routers, the callers each operation accepts, and the rules that
find an order or a channel for a caller (a key acts on its channel, a shopper on their own, staff by permission)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from omnishop.auth import channel_key, shopper, staff
from omnishop.channels.models import Channel
from omnishop.core.errors import PermissionDenied, ValidationFailed
from omnishop.core.schemas import ERRORS as COMMON_ERRORS
from omnishop.core.schemas import error_schema

from .. import serialise
from ..errors import OrderNotFound
from ..models import Order

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


def no_shoppers(request: HttpRequest) -> None:
    if request.auth.kind == "shopper":
        raise PermissionDenied("Only staff or the channel can do this.")


def line_quantities(items) -> dict[int, int]:
    out: dict[int, int] = {}
    for i, item in enumerate(items):
        if item.line in out:
            raise ValidationFailed("A line is named twice.", field=f"lines[{i}].line")
        out[item.line] = item.quantity
    return out
