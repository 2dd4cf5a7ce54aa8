"""The inventory context's business operations. Other apps import from here (never from api or admin).

Modules by concept: `stock` (the guarded primitives, receipts, adjustments, the ledger check), `holds`
(reservations and allocations), `availability` (available-to-promise), `strategies` (allocation),
`transfers` (transfers and cycle counts), `replenishment` (reorder suggestions and purchase orders),
`locations` (locations, channel links and policies), `valuation` (landed cost of receipts and the
weighted-average cost of stock).
"""

from .arrivals import on_stock_arrived
from .availability import Availability, availability_feed, availability_for, availability_of, sellable_sql
from .holds import (
    allocate_reservation,
    allocate_stock,
    cancel_allocation,
    expire_reservations,
    extend_reservation,
    release_reservation,
    reserve_stock,
    ship_allocation,
)
from .locations import channel_locations, create_location, get_policy, set_channel_locations, set_policy
from .replenishment import (
    OrderLine,
    ReceiptLine,
    Suggestion,
    cancel_purchase_order,
    change_draft_quantities,
    costs_for_draft_line,
    create_purchase_order,
    create_replenishment_orders,
    open_low_stock_alerts,
    receive_purchase_order,
    round_to_order,
    send_purchase_order,
    suggest_replenishment,
)
from .stock import (
    ADJUSTMENT_REASONS,
    Mismatch,
    adjust_stock,
    location_by_code,
    receive_stock,
    record_return,
    variants_by_sku,
    verify_ledger,
)
from .strategies import Candidate, Pick, register_strategy
from .taking import HolderLink, LineRequest, atp
from .transfers import (
    CountDifference,
    SkuQuantity,
    cancel_count,
    cancel_transfer,
    complete_count,
    dispatch_transfer,
    receive_transfer,
    request_transfer,
    review_count,
    start_count,
)
from .valuation import allocate_charge, valuations_of
from .worklists import low_stock_on_sale

__all__ = [
    "ADJUSTMENT_REASONS",
    "Availability",
    "Candidate",
    "CountDifference",
    "HolderLink",
    "LineRequest",
    "Mismatch",
    "OrderLine",
    "Pick",
    "ReceiptLine",
    "SkuQuantity",
    "Suggestion",
    "adjust_stock",
    "allocate_charge",
    "allocate_reservation",
    "allocate_stock",
    "atp",
    "availability_feed",
    "availability_for",
    "availability_of",
    "cancel_allocation",
    "cancel_count",
    "cancel_purchase_order",
    "cancel_transfer",
    "change_draft_quantities",
    "channel_locations",
    "complete_count",
    "costs_for_draft_line",
    "create_location",
    "create_purchase_order",
    "create_replenishment_orders",
    "dispatch_transfer",
    "expire_reservations",
    "extend_reservation",
    "get_policy",
    "location_by_code",
    "low_stock_on_sale",
    "on_stock_arrived",
    "open_low_stock_alerts",
    "receive_purchase_order",
    "receive_stock",
    "receive_transfer",
    "record_return",
    "register_strategy",
    "release_reservation",
    "request_transfer",
    "reserve_stock",
    "review_count",
    "round_to_order",
    "sellable_sql",
    "send_purchase_order",
    "set_channel_locations",
    "set_policy",
    "ship_allocation",
    "start_count",
    "suggest_replenishment",
    "valuations_of",
    "variants_by_sku",
    "verify_ledger",
]
