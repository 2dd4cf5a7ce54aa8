"""Request bodies of the orders API (responses are built in serialise.py)."""

from __future__ import annotations

from ninja import Field

from omnishop.core.schemas import InputSchema


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
    quantity: int


class PaymentIn(InputSchema):
    provider: str = Field(..., min_length=1, max_length=30)
    token: str = Field("", max_length=200)


class CartIn(InputSchema):
    channel: str | None = None
    email: str = ""


class CartLineIn(InputSchema):
    sku: str = Field(..., min_length=1, max_length=64)
    quantity: int


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
    quantity: int = 1


class ChannelLineIn(InputSchema):
    sku: str = Field(..., min_length=1, max_length=64)
    quantity: int
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
    line: int
    quantity: int


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
    line: int
    quantity: int
    reason: str = Field("", max_length=200)


class ReturnIn(InputSchema):
    lines: list[ReturnLineIn]
    refund_to: str = "original"
    note: str = Field("", max_length=500)


class ReturnDecisionIn(InputSchema):
    note: str = Field("", max_length=500)


class DispositionIn(InputSchema):
    line: int
    disposition: str


class ReturnReceiveIn(InputSchema):
    location: str | None = None
    lines: list[DispositionIn] = []


class SubstituteIn(InputSchema):
    line: int
    sku: str


class ExceptionResolveIn(InputSchema):
    action: str
    substitutes: list[SubstituteIn] = []


class BandIn(InputSchema):
    up_to_grams: int
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
