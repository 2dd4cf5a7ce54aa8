"""Stock desk: returns, receiving, adjustments, transfers, cycle counts, low stock, purchasing.

The entry of the desk (`urlpatterns`, `NAV`); the pages live by concept in `stock_returns`, `stock_inventory`
(SKU screen, receipts, adjustments, alerts), `stock_moves` (transfers, cycle counts) and `stock_purchasing`.
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _

from . import stock_inventory as inventory
from . import stock_moves as moves
from . import stock_purchasing as purchasing
from . import stock_returns as returns
from .stock_common import VIEW_ALERTS, VIEW_COUNTS, VIEW_PO, VIEW_RETURNS, VIEW_STOCK, VIEW_TRANSFERS

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = [
    (_("Returns"), "returns", VIEW_RETURNS),
    (_("Stock"), "stock", VIEW_STOCK),
    (_("Transfers"), "stock-transfers", VIEW_TRANSFERS),
    (_("Cycle counts"), "stock-counts", VIEW_COUNTS),
    (_("Low stock"), "stock-alerts", VIEW_ALERTS),
    (_("Purchasing"), "purchase_orders", VIEW_PO),
]

urlpatterns: list = [
    path("returns/", returns.return_list, name="returns"),
    path("returns/<str:number>/", returns.return_page, name="return"),
    path("returns/<str:number>/decide/", returns.decide, name="return-decide"),
    path("returns/<str:number>/receive/", returns.receive, name="return-receive"),
    path("returns/<str:number>/exchange/", returns.exchange, name="return-exchange"),
    path("stock/", inventory.overview, name="stock"),
    path("stock/sku/<str:sku>/", inventory.sku_page, name="stock-sku"),
    path("stock/receive/", inventory.receive, name="stock-receive"),
    path("stock/adjust/", inventory.adjust, name="stock-adjust"),
    path("stock/alerts/", inventory.alerts, name="stock-alerts"),
    path("stock/transfers/", moves.transfer_list, name="stock-transfers"),
    path("stock/transfers/new/", moves.transfer_new, name="stock-transfer-new"),
    path("stock/transfers/<int:pk>/", moves.transfer_page, name="stock-transfer"),
    path("stock/counts/", moves.count_list, name="stock-counts"),
    path("stock/counts/<int:pk>/", moves.count_page, name="stock-count"),
    path("purchasing/", purchasing.order_list, name="purchase_orders"),
    path("purchasing/suggestions/", purchasing.suggestions, name="replenishment"),
    path("purchasing/new/", purchasing.order_new, name="purchase_order-new"),
    path("purchasing/<int:pk>/", purchasing.order_page, name="purchase_order"),
    path("purchasing/<int:pk>/edit/", purchasing.order_edit, name="purchase_order-edit"),
    path("purchasing/<int:pk>/act/", purchasing.order_act, name="purchase_order-act"),
    path("purchasing/<int:pk>/receive/", purchasing.order_receive, name="purchase_order-receive"),
]
