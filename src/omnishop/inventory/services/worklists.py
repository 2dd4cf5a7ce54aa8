"""Stock that needs someone's attention, read in one bounded query (the back-office desks' landing pages)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from omnishop.catalog.models import ChannelListing

from ..models import LowStockAlert


def low_stock_on_sale(*, limit: int = 25) -> list[LowStockAlert]:
    """Open low-stock alerts of SKUs some channel is selling (a published listing), lowest free stock first."""
    on_sale = ChannelListing.objects.filter(variant=OuterRef("variant_id"), is_published=True)
    qs = LowStockAlert.objects.filter(resolved_at__isnull=True).filter(Exists(on_sale))
    return list(qs.select_related("variant", "variant__product", "location").order_by("free", "pk")[:limit])
