"""Orders desk: find orders, the order page with its timeline, and every operation on an order.

Entry of the desk (`urlpatterns`, `NAV`); the pages are in `orders_pages` (search, order page) and the
operations in `orders_ops` (fulfil, ship, deliver, refund, store credit, cancel, address, split, merge,
resolve exceptions, notes); `orders_common` holds what they share. Permissions (Django's, the same the
orders and payments APIs ask for):

- `orders.view_order` (VIEW): the search and the order page;
- `orders.change_order` (CHANGE): every operation on an order;
- `payments.change_payment` (REFUND): refund to the original payment method;
- `payments.add_storecreditentry` (STORE_CREDIT): give store credit against an order;
- `payments.change_refund` (REFUND_ABOVE_LIMIT, the finance role): a refund or credit above
  `settings.OMNISHOP_REFUND_LIMIT` (env `OMNISHOP_REFUND_LIMIT`, default 500, in the order's currency).
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _

from . import orders_ops as ops
from . import orders_pages as pages
from .orders_common import CHANGE, REFUND, REFUND_ABOVE_LIMIT, STORE_CREDIT, VIEW

__all__ = ["CHANGE", "NAV", "REFUND", "REFUND_ABOVE_LIMIT", "STORE_CREDIT", "VIEW", "urlpatterns"]

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = [(_("Orders"), "orders", VIEW)]

urlpatterns: list = [
    path("orders/", pages.order_list, name="orders"),
    path("orders/<str:number>/", pages.order_page, name="order"),
    path("orders/<str:number>/fulfil/", ops.fulfil, name="order-fulfil"),
    path("orders/<str:number>/fulfilments/<int:fulfilment_id>/ship/", ops.ship, name="order-ship"),
    path("orders/<str:number>/fulfilments/<int:fulfilment_id>/deliver/", ops.deliver, name="order-deliver"),
    path("orders/<str:number>/refund/", ops.refund, name="order-refund"),
    path("orders/<str:number>/store-credit/", ops.store_credit, name="order-credit"),
    path("orders/<str:number>/cancel/", ops.cancel, name="order-cancel"),
    path("orders/<str:number>/address/", ops.address, name="order-address"),
    path("orders/<str:number>/split/", ops.split, name="order-split"),
    path("orders/<str:number>/merge/", ops.merge, name="order-merge"),
    path("orders/<str:number>/exceptions/<int:exception_id>/resolve/", ops.resolve, name="order-resolve"),
    path("orders/<str:number>/note/", ops.note, name="order-note"),
]
