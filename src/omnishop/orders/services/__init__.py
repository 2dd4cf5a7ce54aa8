"""The orders context's business operations; other apps import from here (never from api or admin).

Modules by concept: `carts`, `checkout` (placing orders), `fulfilment` (shipping and delivery), `changes`
(cancel, address change, split, merge), `exceptions` (the exception queue and backorders), `returns` (RMA),
`payment_events` (what a payment change does to its order), `listeners` (who is told when an order becomes
paid), `queries` (visibility, the back-office search and order page, customer 360), `refunds` (money
or store credit given back by staff), `notes` (staff notes on the timeline), `guest_orders` (guest orders claimed by a proven e-mail).
"""

from .carts import (
    LineReview,
    adopt_cart,
    cart_quote,
    create_cart,
    get_cart,
    open_cart_of,
    review_cart,
    set_checkout_details,
    set_line,
)
from .changes import cancel_order, change_address, merge_orders, split_order
from .checkout import (
    ChannelLine,
    PaymentRequest,
    checkout_cart,
    create_channel_order,
    place_order,
    quick_checkout,
)
from .common import clean_address, family_total, get_order, paid
from .config import create_shipping_method, offered_shipping_methods, set_tax_rate
from .exceptions import allocate_backorders, get_exception, open_exception, resolve_exception
from .fulfilment import (
    complete_order,
    create_fulfilments,
    get_fulfilment,
    mark_delivered,
    ship_fulfilment,
)
from .guest_orders import link_guest_orders
from .listeners import PastOrder, on_order_paid, on_past_orders_recorded
from .notes import add_note
from .queries import (
    customer_overview,
    mergeable_with,
    money_of,
    order_for_desk,
    orders_for_customer,
    search_orders,
    visible_orders,
)
from .refunds import credit_order, credited_on, refund_order
from .returns import decide_return, get_return, place_exchange, receive_return, request_return
from .worklists import (
    LocationWork,
    ToShip,
    open_exceptions,
    order_numbers_by_payment_reference,
    recent_returns,
    warehouse_worklist,
)

__all__ = [
    "ChannelLine",
    "LineReview",
    "LocationWork",
    "PastOrder",
    "PaymentRequest",
    "ToShip",
    "add_note",
    "adopt_cart",
    "allocate_backorders",
    "cancel_order",
    "cart_quote",
    "change_address",
    "checkout_cart",
    "clean_address",
    "complete_order",
    "create_cart",
    "create_channel_order",
    "create_fulfilments",
    "create_shipping_method",
    "credit_order",
    "credited_on",
    "customer_overview",
    "decide_return",
    "family_total",
    "get_cart",
    "get_exception",
    "get_fulfilment",
    "get_order",
    "get_return",
    "link_guest_orders",
    "mark_delivered",
    "merge_orders",
    "mergeable_with",
    "money_of",
    "offered_shipping_methods",
    "on_order_paid",
    "on_past_orders_recorded",
    "open_cart_of",
    "open_exception",
    "open_exceptions",
    "order_for_desk",
    "order_numbers_by_payment_reference",
    "orders_for_customer",
    "paid",
    "place_exchange",
    "place_order",
    "quick_checkout",
    "receive_return",
    "recent_returns",
    "refund_order",
    "request_return",
    "resolve_exception",
    "review_cart",
    "search_orders",
    "set_checkout_details",
    "set_line",
    "set_tax_rate",
    "ship_fulfilment",
    "split_order",
    "visible_orders",
    "warehouse_worklist",
]
