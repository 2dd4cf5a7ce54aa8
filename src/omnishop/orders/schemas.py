"""Request bodies of the orders API (responses are built in serialise.py)."""

from __future__ import annotations

from ninja import Field

from omnishop.core.schemas import Id, InputSchema, Int32


class AddressIn(InputSchema):
    name: str
    line1: str
    city: str
    country: str
    company: str = ""
    line2: str = ""
    postcode: str = ""
    region: str = ""
    phone: str = ""


class LineIn(InputSchema):
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
    shipping_address: AddressIn | None = None
    shipping_method: str | None = None
    email: str | None = None


class CartCheckoutIn(InputSchema):
    payment: PaymentIn


class CheckoutIn(InputSchema):
    channel: str | None = None
    lines: list[LineIn]
    shipping_method: str
    shipping_address: AddressIn | None = None
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
    shipping_address: AddressIn | None = None
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
    shipping_address: AddressIn


class SplitIn(InputSchema):
    lines: list[LineQuantityIn]


class MergeIn(InputSchema):
    orders: list[str]


class ShipIn(InputSchema):
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


class DecisionIn(InputSchema):
    note: str = Field("", max_length=500)


class DispositionIn(InputSchema):
    line: Id
    disposition: str


class ReceiveIn(InputSchema):
    location: str | None = None
    lines: list[DispositionIn] = []


class SubstituteIn(InputSchema):
    line: Id
    sku: str


class ResolveIn(InputSchema):
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
    lines: list[LineIn]
