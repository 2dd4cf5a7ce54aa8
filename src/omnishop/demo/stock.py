"""Demo stock: a warehouse, the flagship store and an EU fulfilment centre, which channels each serves (in
priority order), and opening stock booked through the inventory services, so every unit on hand has its
ledger line and `omnishop inventory verify` is clean.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from omnishop.catalog.models import Supplier, Variant
from omnishop.channels.models import Channel
from omnishop.inventory import services as inventory
from omnishop.inventory.models import ChannelLocation, PurchaseOrder, StockLevel, StockLocation

from .plan import PlannedProduct, listings_for, stable_number
from .suppliers import PlannedSupplier, offers_for

OPENING_REFERENCE = "DEMO-OPENING-STOCK"
REORDER_NOTE = "Demo: reorder of SKUs sold out at the warehouse"
REORDER_TARGET = 24  # units wanted per sold-out SKU, rounded up to the offer's MOQ and pack size


@dataclass(frozen=True)
class PlannedLocation:
    code: str
    name: str
    kind: str
    line1: str
    city: str
    postcode: str
    country: str
    ships: bool = True
    pickup: bool = False


LOCATIONS = (
    PlannedLocation(
        "warehouse-manchester",
        "Main warehouse, Manchester",
        "warehouse",
        "Unit 4, Westinghouse Road",
        "Manchester",
        "M17 1PJ",
        "GB",
    ),
    PlannedLocation(
        "store-london",
        "Flagship store, London",
        "retail_store",
        "12 Carnaby Street",
        "London",
        "W1F 9PS",
        "GB",
        ships=True,
        pickup=True,
    ),
    PlannedLocation(
        "eu-fulfilment", "EU fulfilment centre, Venlo", "warehouse", "Celsiusweg 20", "Venlo", "5928 PR", "NL"
    ),
)
# Which locations serve each channel, first choice first.
CHANNEL_LOCATIONS = {
    "web": ["warehouse-manchester", "store-london"],
    "app": ["warehouse-manchester", "store-london"],
    "store-london": ["store-london"],
    "marketplace-eu": ["eu-fulfilment", "warehouse-manchester"],
}
# The marketplace never promises its last unit: oversold marketplace orders cost the seller rating.
MARKETPLACE_POLICY = {"safety_buffer": 1}


def opening_stock(product: PlannedProduct) -> list[tuple[str, str, int]]:
    """(sku, location, units) to receive; a zero means the SKU starts out of stock there. Giftware comes in
    dozens, as it is bought; roughly one apparel SKU in twenty is sold out at the warehouse."""
    marketplace = {
        li.sku for li in listings_for(product) if li.channel == "marketplace-eu" and li.is_published
    }
    out = []
    for variant in product.variants:
        n = stable_number("stock", variant.sku)
        if product.source == "giftware":
            warehouse, store, eu = 12 * (2 + n % 19), 6 * (n // 7 % 5), 0
        elif product.source == "gear":
            warehouse, store, eu = 5 + n % 36, n // 11 % 6, 2 + n // 13 % 9
        else:
            warehouse = 0 if n % 20 == 0 else 1 + n % 60
            store, eu = n // 17 % 7, n // 19 % 16
        if variant.sku not in marketplace:
            eu = 0
        out += [
            (variant.sku, "warehouse-manchester", warehouse),
            (variant.sku, "store-london", store),
            (variant.sku, "eu-fulfilment", eu),
        ]
    return out


def ensure_locations(channels: dict[str, Channel]) -> dict[str, StockLocation]:
    existing = {loc.code: loc for loc in StockLocation.objects.filter(code__in=[p.code for p in LOCATIONS])}
    for p in LOCATIONS:
        if p.code not in existing:
            existing[p.code] = inventory.create_location(
                code=p.code,
                name=p.name,
                kind=p.kind,
                ships_to_customers=p.ships,
                serves_pickup=p.pickup,
                address_line1=p.line1,
                city=p.city,
                postcode=p.postcode,
                country=p.country,
            )
    linked = set(
        ChannelLocation.objects.filter(channel__in=channels.values()).values_list("channel__code", flat=True)
    )
    for code, location_codes in CHANNEL_LOCATIONS.items():
        if code in channels and code not in linked:
            inventory.set_channel_locations(channel=channels[code], location_codes=location_codes)
    marketplace = channels.get("marketplace-eu")
    if marketplace is not None and not hasattr(marketplace, "inventory_policy"):
        inventory.set_policy(channel=marketplace, **MARKETPLACE_POLICY)
    return existing


def ensure_stock(
    products: Sequence[PlannedProduct], *, locations: dict[str, StockLocation], variants: dict[str, Variant]
) -> int:
    """Receive the opening stock of every (SKU, location) that has no stock level yet; returns the units."""
    have = set(
        StockLevel.objects.filter(variant__in=variants.values(), location__in=locations.values()).values_list(
            "variant__sku", "location__code"
        )
    )
    received = 0
    for product in products:
        for sku, location, units in opening_stock(product):
            if units <= 0 or (sku, location) in have:
                continue
            inventory.receive_stock(
                variant=variants[sku],
                location=locations[location],
                quantity=units,
                reference_type="opening_stock",
                reference=OPENING_REFERENCE,
                reason_code="opening_stock",
                actor="system:demo",
            )
            received += units
    return received


def ensure_reorders(
    products: Sequence[PlannedProduct],
    *,
    planned_suppliers: Sequence[PlannedSupplier],
    suppliers: dict[str, Supplier],
    locations: dict[str, StockLocation],
) -> int:
    """The SKUs sold out at the warehouse are on order: one sent purchase order per preferred supplier, in
    whole packs of at least the MOQ. Returns how many orders were raised (none when they exist)."""
    if PurchaseOrder.objects.filter(note=REORDER_NOTE).exists():
        return 0
    lines: dict[str, list] = defaultdict(list)
    for product in products:
        preferred = {o.sku: o for o in offers_for(product, planned_suppliers) if o.is_preferred}
        for sku, location, units in opening_stock(product):
            if location == "warehouse-manchester" and units == 0:
                offer = preferred[sku]
                quantity = inventory.round_to_order(
                    REORDER_TARGET, moq=offer.min_order_quantity, pack_size=offer.pack_size
                )
                lines[offer.supplier].append(inventory.OrderLine(sku=sku, quantity=quantity))
    for code in sorted(lines):
        order = inventory.create_purchase_order(
            supplier=suppliers[code],
            location=locations["warehouse-manchester"],
            lines=lines[code],
            note=REORDER_NOTE,
            actor="system:demo",
        )
        inventory.send_purchase_order(order=order)
    return len(lines)
