"""Configuration: shipping methods and tax rates, and a channel's offered shipping methods."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query

from omnishop.channels.models import Channel
from omnishop.channels.services import ChannelNotFound
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.schemas import error_schema

from .. import serialise, services
from ..schemas import (
    ShippingMethodFilters,
    ShippingMethodIn,
    ShippingMethodListOut,
    ShippingMethodOut,
    TaxRateIn,
    TaxRateOut,
)
from .access import (
    CONFIGURE,
    ERRORS,
    acting_channel,
    channel_router,
    router,
)


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
