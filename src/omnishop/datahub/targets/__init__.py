"""Targets write cleaned rows into the context that owns them (catalog, customers, the staging table of
transaction lines) and say, per row, whether it was imported, updated, unchanged, merged or quarantined."""

from __future__ import annotations

from ..errors import InvalidProfile


def target_for(profile, job):
    from .customers import CustomersTarget
    from .products import ProductsTarget
    from .stock import StockLevelsTarget
    from .suppliers import SupplierOffersTarget, SuppliersTarget
    from .transactions import TransactionsTarget

    classes = {
        "transactions": TransactionsTarget,
        "products": ProductsTarget,
        "customers": CustomersTarget,
        "suppliers": SuppliersTarget,
        "supplier_offers": SupplierOffersTarget,
        "stock_levels": StockLevelsTarget,
    }
    if profile.target not in classes:
        raise InvalidProfile(f"Target '{profile.target}' is not available yet.", field="target")
    return classes[profile.target](profile=profile, job=job)
