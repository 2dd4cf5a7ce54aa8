"""Request and response shapes of the inventory API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import Field

from omnishop.core.schemas import Amount, Fraction, InputSchema, Int32, OutputSchema, Page

Code = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,49}$")


# --- locations and channel set-up ---------------------------------------------------------------------


class LocationIn(InputSchema):
    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["warehouse", "retail_store", "drop_ship"] = "warehouse"
    ships_to_customers: bool = True
    serves_pickup: bool = False
    address_line1: str = Field(default="", max_length=200)
    address_line2: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    postcode: str = Field(default="", max_length=20)
    country: str = Field(default="", max_length=2)


class LocationOut(OutputSchema):
    code: str
    name: str
    kind: str
    ships_to_customers: bool
    serves_pickup: bool
    address_line1: str
    address_line2: str
    city: str
    postcode: str
    country: str
    is_active: bool


class LocationPage(Page):
    items: list[LocationOut]


class ChannelLocationsIn(InputSchema):
    locations: list[str] = Field(description="Location codes, highest priority first.")


class ChannelLocationOut(Schema):
    location: str
    priority: int


class PolicyIn(InputSchema):
    reservation_ttl_seconds: Int32 | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    max_hold_seconds: Int32 | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    safety_buffer: Int32 | None = Field(default=None, ge=0)
    quota_percent: Int32 | None = Field(default=None, ge=0, le=100)
    clear_quota: bool = False
    quota_minus: Int32 | None = Field(default=None, ge=0)
    allocation_strategy: str | None = None


class PolicyOut(OutputSchema):
    channel: str
    reservation_ttl_seconds: int
    max_hold_seconds: int
    safety_buffer: int
    quota_percent: int | None
    quota_minus: int
    allocation_strategy: str

    @staticmethod
    def resolve_channel(obj) -> str:
        return obj.channel.code


# --- stock, ledger --------------------------------------------------------------------------------------


class StockLevelOut(Schema):
    sku: str
    location: str
    on_hand: int
    allocated: int
    reserved: int
    free: int
    reorder_point: int | None
    average_cost: Decimal | None = Field(
        description="Weighted-average landed unit cost of the units here, from purchase order receipts "
        "(null: none received yet, or the caller may not see costs)."
    )
    cost_currency: str | None
    updated_at: datetime

    @staticmethod
    def resolve_sku(obj) -> str:
        return obj.variant.sku

    @staticmethod
    def resolve_average_cost(obj) -> Decimal | None:
        valuation = getattr(obj, "valuation", None)
        return valuation.average_cost if valuation else None

    @staticmethod
    def resolve_cost_currency(obj) -> str | None:
        valuation = getattr(obj, "valuation", None)
        return valuation.currency if valuation else None

    @staticmethod
    def resolve_location(obj) -> str:
        return obj.location.code


class StockPage(Page):
    items: list[StockLevelOut]


class MovementOut(Schema):
    id: int
    sku: str
    location: str
    kind: str
    quantity: int
    reason_code: str
    reference_type: str
    reference: str
    actor: str
    note: str
    created_at: datetime

    @staticmethod
    def resolve_sku(obj) -> str:
        return obj.variant.sku

    @staticmethod
    def resolve_location(obj) -> str:
        return obj.location.code


class MovementPage(Page):
    items: list[MovementOut]


class ReceiptIn(InputSchema):
    sku: str
    location: str
    quantity: Int32
    reference: str = Field(default="", max_length=100)


class AdjustmentIn(InputSchema):
    sku: str
    location: str
    delta: Int32
    reason_code: str
    note: str = Field(default="", max_length=500)


# --- holds ------------------------------------------------------------------------------------------------


class LineIn(InputSchema):
    sku: str = Field(min_length=1, max_length=64)
    quantity: Int32


class ReservationIn(InputSchema):
    channel: str | None = Field(default=None, description="Required for staff; a channel key uses its own.")
    key: str | None = Field(
        default=None, max_length=255, description="Defaults to the Idempotency-Key header."
    )
    lines: list[LineIn]
    reference: str = Field(default="", max_length=100)
    pickup_location: str | None = None


class HoldLineOut(Schema):
    sku: str
    location: str
    quantity: int


class ReservationOut(Schema):
    id: int
    channel: str
    key: str
    reference: str
    status: str
    expires_at: datetime
    created_at: datetime
    lines: list[HoldLineOut]


class ExtendIn(InputSchema):
    seconds: Int32 | None = None


class AllocateReservationIn(InputSchema):
    order_reference: str = Field(min_length=1, max_length=100)


class AllocationIn(InputSchema):
    channel: str | None = None
    order_reference: str = Field(min_length=1, max_length=100)
    lines: list[LineIn]
    pickup_location: str | None = None


class AllocationLineOut(Schema):
    sku: str
    location: str
    quantity: int
    shipped: int


class FulfilmentGroupOut(Schema):
    location: str
    lines: list[HoldLineOut]


class AllocationOut(Schema):
    id: int
    channel: str
    order_reference: str
    status: str
    strategy: str
    created_at: datetime
    lines: list[AllocationLineOut]
    by_location: list[FulfilmentGroupOut]


class ShipIn(InputSchema):
    location: str | None = None


# --- availability -------------------------------------------------------------------------------------


class LocationAvailabilityOut(Schema):
    location: str
    free: int
    ships_to_customers: bool
    serves_pickup: bool


class AvailabilityOut(Schema):
    sku: str
    channel: str
    available: int
    updated_at: datetime | None
    locations: list[LocationAvailabilityOut]


class FeedItemOut(Schema):
    sku: str
    available: int
    updated_at: datetime | None


class FeedPage(Page):
    items: list[FeedItemOut]


# --- transfers, counts ----------------------------------------------------------------------------------


class TransferIn(InputSchema):
    source: str
    destination: str
    lines: list[LineIn]
    note: str = Field(default="", max_length=500)


class SkuQuantityOut(Schema):
    sku: str
    quantity: int


class TransferOut(Schema):
    id: int
    source: str
    destination: str
    status: str
    note: str
    created_at: datetime
    dispatched_at: datetime | None
    received_at: datetime | None
    lines: list[SkuQuantityOut]


class TransferPage(Page):
    items: list[TransferOut]


class CountIn(InputSchema):
    location: str


class CountLineIn(InputSchema):
    sku: str = Field(min_length=1, max_length=64)
    counted: Int32


class CountCompleteIn(InputSchema):
    lines: list[CountLineIn]


class CountLineOut(Schema):
    sku: str
    expected: int
    counted: int


class CountOut(Schema):
    id: int
    location: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    lines: list[CountLineOut]


# --- replenishment, purchase orders ---------------------------------------------------------------------


class SuggestionOut(Schema):
    sku: str
    location: str
    supplier: str
    daily_velocity: float
    daily_stdev: float
    lead_time_days: int
    safety_stock: int
    reorder_point: int
    position: int
    quantity: int
    unit_cost: Decimal | None = Field(
        description="The offer's unit cost (null: the caller may not see costs)."
    )
    currency: str
    landed_unit_cost: Decimal | None = Field(
        description="unit_cost + the offer's freight a unit + its duty % of it (null: the caller may not see "
        "costs)."
    )


class ReplenishIn(InputSchema):
    location: str | None = None
    window_days: Int32 = 28
    service_level: Fraction = 0.95


class PurchaseOrderLineIn(InputSchema):
    sku: str = Field(min_length=1, max_length=64)
    quantity: Int32
    unit_cost: Amount | None = None


class PurchaseOrderIn(InputSchema):
    supplier: str
    location: str
    lines: list[PurchaseOrderLineIn]
    note: str = Field(default="", max_length=500)


class PurchaseOrderReceiptOut(Schema):
    key: str
    quantity: int
    extra_charge: Decimal | None = Field(
        description="This receipt's share of the delivery's extra charge (null: the caller may not see costs)."
    )
    landed_unit_cost: Decimal | None = Field(
        description="The line's landed unit cost + extra_charge / quantity (null: the caller may not see costs)."
    )
    created_at: datetime


class PurchaseOrderLineOut(Schema):
    sku: str
    quantity: int
    received: int
    unit_cost: Decimal | None = Field(
        description="In the order's currency (null: the caller may not see costs)."
    )
    landed_unit_cost: Decimal | None = Field(
        description="unit_cost + the supplier offer's freight a unit + its duty % of unit_cost, fixed when "
        "the line was drafted; in the order's currency (null: the caller may not see costs, "
        "inventory.view_cost)."
    )
    receipts: list[PurchaseOrderReceiptOut]


class PurchaseOrderOut(Schema):
    id: int
    number: str
    supplier: str
    location: str
    status: str
    currency: str
    note: str
    created_at: datetime
    sent_at: datetime | None
    closed_at: datetime | None
    lines: list[PurchaseOrderLineOut]


class PurchaseOrderPage(Page):
    items: list[PurchaseOrderOut]


class ReceiveLineIn(InputSchema):
    sku: str = Field(min_length=1, max_length=64)
    quantity: Int32
    key: str = Field(min_length=1, max_length=100, description="Delivery-note line: repeats are no-ops.")


class ReceiveIn(InputSchema):
    lines: list[ReceiveLineIn]
    allow_over_receipt: bool = False
    extra_charge: Amount | None = Field(
        default=None,
        description="The delivery's freight, clearance or other charges in the order's currency (decimal "
        "string), spread over the newly received lines by value.",
    )


class AlertOut(Schema):
    id: int
    sku: str
    location: str
    free: int
    reorder_point: int
    created_at: datetime
    resolved_at: datetime | None


class AlertPage(Page):
    items: list[AlertOut]
