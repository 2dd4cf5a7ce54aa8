"""Request and response schemas of the orders API (serialise.py builds the answers these describe).

Money is a decimal string in the order's currency, times are ISO-8601 UTC. `tracking_token` (it opens the
public tracking page) and a payment's `client_secret` (it lets a browser finish a card payment) are only
given to the buyer's side — the order's own channel and the order's customer; staff get null/"" (docs/API.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from omnishop.core.schemas import Id, InputSchema, Int32, Page, RefusesNul


class OrderAddressIn(InputSchema):
    name: str
    line1: str
    city: str
    country: str
    company: str = ""
    line2: str = ""
    postcode: str = ""
    region: str = ""
    phone: str = ""


class OrderLineIn(InputSchema):
    sku: str = Field(..., min_length=1, max_length=64)
    quantity: Int32


class PaymentIn(InputSchema):
    provider: str = Field(..., min_length=1, max_length=30)
    token: str = Field("", max_length=200)


class CartIn(InputSchema):
    channel: str | None = None
    email: str = ""


class CartLineIn(InputSchema):
    sku: str = Field(..., min_length=1, max_length=64)
    quantity: Int32


class CartDetailsIn(InputSchema):
    shipping_address: OrderAddressIn | None = None
    shipping_method: str | None = None
    email: str | None = None


class CartCheckoutIn(InputSchema):
    payment: PaymentIn


class CheckoutIn(InputSchema):
    channel: str | None = None
    lines: list[OrderLineIn]
    shipping_method: str
    shipping_address: OrderAddressIn | None = None
    email: str = ""
    payment: PaymentIn


class QuickCheckoutIn(InputSchema):
    channel: str
    sku: str = Field(..., min_length=1, max_length=64)
    quantity: Int32 = 1


class ChannelLineIn(InputSchema):
    sku: str = Field(..., min_length=1, max_length=64)
    quantity: Int32
    unit_price: str | None = None


class ChannelCustomerIn(InputSchema):
    external_id: str = ""
    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""


class ChannelOrderIn(InputSchema):
    external_id: str = Field("", max_length=100)
    lines: list[ChannelLineIn]
    customer: ChannelCustomerIn | None = None
    shipping_address: OrderAddressIn | None = None
    shipping_method: str | None = None
    shipping_total: str | None = None
    paid_amount: str | None = None
    payment_label: str = Field("", max_length=60)
    handed_over: bool = False


class LineQuantityIn(InputSchema):
    line: Id
    quantity: Int32


class CancelIn(InputSchema):
    lines: list[LineQuantityIn] | None = None
    reason: str = Field("", max_length=500)


class AddressChangeIn(InputSchema):
    shipping_address: OrderAddressIn


class SplitIn(InputSchema):
    lines: list[LineQuantityIn]


class OrderMergeIn(InputSchema):
    orders: list[str]


class FulfilmentShipIn(InputSchema):
    carrier: str
    tracking_number: str = ""


class ReturnLineIn(InputSchema):
    line: Id
    quantity: Int32
    reason: str = Field("", max_length=200)


class ReturnIn(InputSchema):
    lines: list[ReturnLineIn]
    refund_to: str = "original"
    note: str = Field("", max_length=500)


class ReturnDecisionIn(InputSchema):
    note: str = Field("", max_length=500)


class DispositionIn(InputSchema):
    line: Id
    disposition: str


class ReturnReceiveIn(InputSchema):
    location: str | None = None
    lines: list[DispositionIn] = []


class SubstituteIn(InputSchema):
    line: Id
    sku: str


class ExceptionResolveIn(InputSchema):
    action: str
    substitutes: list[SubstituteIn] = []


class BandIn(InputSchema):
    up_to_grams: Int32
    price: str


class ShippingMethodIn(InputSchema):
    channel: str | None = None
    code: str = Field(..., min_length=1, max_length=50, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=200)
    kind: str
    price: str = "0"
    free_over: str | None = None
    bands: list[BandIn] = []
    countries: list[str] = []
    pickup_location: str | None = None


class TaxRateIn(InputSchema):
    channel: str | None = None
    country: str = Field(..., min_length=1, max_length=2)
    rate: str


class ExchangeIn(InputSchema):
    lines: list[OrderLineIn]


# --- answers --------------------------------------------------------------------------------------------


class CartLineOut(Schema):
    sku: str
    title: str
    quantity: int
    unit_price: str
    line_tax: str
    line_total: str


class CartOut(Schema):
    token: str
    channel: str
    status: str
    email: str
    currency: str
    shipping_address: dict[str, Any] | None
    shipping_method: str | None = Field(description="The delivery method's code.")
    lines: list[CartLineOut]
    subtotal: str
    shipping_total: str
    tax_total: str
    total: str
    prices_include_tax: bool


class OrderSummaryOut(Schema):
    number: str
    channel: str
    status: str
    currency: str
    total: str
    external_id: str
    created_at: datetime


class OrderPage(Page):
    items: list[OrderSummaryOut]


class PlacedOrderOut(OrderSummaryOut):
    """The lean answer of a checkout."""

    subtotal: str
    shipping_total: str
    tax_total: str
    tracking_token: str | None = Field(description="Opens the public tracking page; null unless you bought.")


class OrderLineOut(Schema):
    id: int
    sku: str
    title: str
    quantity: int
    allocated: int
    fulfilled: int
    returned: int
    cancelled: int
    unit_price: str
    tax_rate: str
    line_tax: str
    line_total: str


class OrderPaymentOut(Schema):
    id: int
    provider: str
    status: str
    amount: str
    captured: str
    refunded: str
    method: str
    client_secret: str = Field(
        description="Lets the buyer's browser finish a payment that requires_action; empty otherwise."
    )


class LineQuantityOut(Schema):
    line: int
    quantity: int


class FulfilmentOut(Schema):
    id: int
    location: str
    status: str
    carrier: str
    tracking_number: str
    tracking_status: str
    lines: list[LineQuantityOut]


class ReturnLineOut(Schema):
    line: int
    quantity: int
    reason: str
    disposition: str


class OrderReturnOut(Schema):
    number: str
    status: str
    refund_to: str
    refund_amount: str
    lines: list[ReturnLineOut]


class OrderExceptionOut(Schema):
    id: int
    reason: str
    resolution: str
    details: dict[str, Any]
    created_at: datetime
    resolved_at: datetime | None


class OrderOut(OrderSummaryOut):
    payment_reference: str
    customer: int | None
    email: str
    prices_include_tax: bool
    shipping_address: dict[str, Any] | None
    shipping_method: str = Field(description="The delivery method's name when the order was placed.")
    subtotal: str
    shipping_total: str
    fees_total: str
    tax_total: str
    paid: str
    balance_due: str
    tracking_token: str | None = Field(description="Opens the public tracking page; null unless you bought.")
    parent: str | None = Field(description="The order this one was split from.")
    merged_into: str | None
    lines: list[OrderLineOut]
    payments: list[OrderPaymentOut]
    fulfilments: list[FulfilmentOut]
    returns: list[OrderReturnOut]
    exceptions: list[OrderExceptionOut]


class OrderEventOut(Schema):
    kind: str
    actor: str
    message: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime


class TimelineOut(Schema):
    order: str
    events: list[OrderEventOut]


class QueuedExceptionOut(Schema):
    id: int
    order: str
    reason: str
    details: dict[str, Any]
    resolution: str
    created_at: datetime
    resolved_at: datetime | None


class ExceptionPage(Page):
    items: list[QueuedExceptionOut]


class AllocatedOut(Schema):
    allocated: list[str] = Field(description="Numbers of the orders now fully allocated.")


class ShippingMethodOut(Schema):
    code: str
    name: str
    kind: str
    price: str
    channel: str


class WeightBandOut(Schema):
    up_to_grams: int
    price: str


class OfferedShippingMethodOut(Schema):
    """A method a shopper can choose at checkout (`shipping_method` takes its `code`)."""

    code: str
    name: str
    kind: str
    price: str
    free_over: str | None
    bands: list[WeightBandOut]
    countries: list[str]
    pickup_location: str | None


class ShippingMethodListOut(Schema):
    channel: str
    currency: str
    methods: list[OfferedShippingMethodOut]


class ShippingMethodFilters(RefusesNul):
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO-3166 destination")


class TaxRateOut(Schema):
    channel: str
    country: str
    rate: str


class ReturnRequestedOut(Schema):
    number: str
    status: str
    order: str
    refund_to: str
