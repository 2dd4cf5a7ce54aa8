"""Load the whole demo in one transaction (all of it or nothing) and hand back what to print: counts, the
log-ins and a channel API key.

API key secrets are stored only hashed, so the demo key's secret is kept in a credentials file (var/, mode
0600, git-ignored) the first time it is issued and read back on later runs; if the file is lost or the key no
longer works, the old demo key is revoked and a new one issued.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from omnishop.backoffice.analytics import rollups as analytics_rollups
from omnishop.catalog.models import ChannelListing, Product, Supplier, SupplierOffer, Variant
from omnishop.channels import services as channel_services
from omnishop.channels.models import ApiKey, Channel
from omnishop.customers.models import Customer
from omnishop.search import services as search_services

from . import behaviour, catalog, past_orders, people, shipping, stock, suppliers
from . import support as support_demo
from .plan import CHANNELS, plan_products

# The banner's recommendation example: Jumbo Bag Red Retrospot, in the small demo too.
EXAMPLE_SKU = "85099B"
DEMO_KEY_NAME = "Demo key (make demo)"
DEMO_KEY_CHANNEL = "web"
DEMO_KEY_SCOPES = (
    "catalog:read",
    "customers:read",
    "inventory:read",
    "orders:read",
    "orders:write",
    "events:write",
)


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.json"


@dataclass
class DemoResult:
    counts: dict[str, int]
    listings: dict[str, int]
    staff: dict[str, str]
    shoppers: list[dict]
    api_key: dict[str, str]
    created: dict[str, int] = field(default_factory=dict)
    # One member of staff per back-office role: {"role", "username", "email", "password"}.
    role_staff: list[dict[str, str]] = field(default_factory=list)
    # Paths (under /api/v1) that answer with the demo key: recommendations and search.
    examples: dict[str, str] = field(default_factory=dict)


def ensure_channels() -> dict[str, Channel]:
    existing = {c.code: c for c in Channel.objects.filter(code__in=[p.code for p in CHANNELS])}
    for p in CHANNELS:
        if p.code not in existing:
            existing[p.code] = channel_services.create_channel(
                code=p.code,
                name=p.name,
                kind=p.kind,
                currency=p.currency,
                locale=p.locale,
                country=p.country,
                prices_include_tax=p.prices_include_tax,
            )
    return existing


def _read_secret(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("api_key", {}).get("secret")
    except (OSError, ValueError, AttributeError):
        return None


def _write_private(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(path, 0o600)


def ensure_api_key(channel: Channel, staff, path: Path) -> tuple[str, ApiKey]:
    """The demo key's secret: the stored one while it still authenticates, else a newly issued key."""
    secret = _read_secret(path)
    if secret:
        api_key = channel_services.authenticate_api_key(secret)
        if api_key is not None and api_key.channel_id == channel.pk:
            return secret, api_key
    for stale in ApiKey.objects.filter(channel=channel, name=DEMO_KEY_NAME, revoked_at__isnull=True):
        channel_services.revoke_api_key(api_key=stale)
    issued = channel_services.issue_api_key(
        channel=channel, name=DEMO_KEY_NAME, scopes=DEMO_KEY_SCOPES, created_by=staff
    )
    return issued.secret, issued.api_key


def load_demo(
    *,
    small: bool = False,
    credentials_file: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Create whatever of the demo is missing; a complete demo is left untouched (apart from re-issuing a
    lost API key). `small` loads a few products of each source, for tests; `progress` hears each step."""
    path = credentials_file or credentials_path()
    say = progress or (lambda step: None)
    products = plan_products(small=small)
    planned_suppliers = suppliers.plan_suppliers(small=small)
    before = _counts()
    with transaction.atomic():
        channels = ensure_channels()
        say(f"catalog: {len(products)} products")
        variants = catalog.ensure_products(products)
        say(f"channel listings for {len(variants)} variants")
        catalog.ensure_listings(products, channels=channels, variants=variants)
        say(f"suppliers and offers: {len(planned_suppliers)} suppliers")
        supplier_rows = suppliers.ensure_suppliers(planned_suppliers)
        suppliers.ensure_offers(
            products, planned_suppliers=planned_suppliers, suppliers=supplier_rows, variants=variants
        )
        say("stock locations, opening stock and reorders")
        locations = stock.ensure_locations(channels)
        say("shipping methods, tax rates and carriers")
        shipping.ensure_shipping_and_tax(channels)
        shipping.ensure_carriers()
        stock.ensure_stock(products, locations=locations, variants=variants)
        stock.ensure_reorders(
            products, planned_suppliers=planned_suppliers, suppliers=supplier_rows, locations=locations
        )
        say("customers, log-ins and the API key")
        people.ensure_customers(channels)
        staff = people.ensure_staff()
        role_staff = people.ensure_role_staff()
        secret, api_key = ensure_api_key(channels[DEMO_KEY_CHANNEL], staff, path)
        say("support desk: inboxes, canned replies and conversations across channels")
        support_demo.ensure_support(channels)
        say("behaviour events and a recommendations model")
        recorded = behaviour.ensure_events(products, channels=channels)
        behaviour.ensure_trained(recorded=recorded)
        behaviour.ensure_recommendation_performance(channels=channels)
        search_services.refresh_index(force=True)
    if not small:
        # The data hub commits per batch: outside the demo's one transaction, and once (a finished job stays).
        say("past orders: the web shop's August 2011 invoices through the data hub")
        past_orders.ensure_past_orders(channels[DEMO_KEY_CHANNEL])
    say("analytics: the dashboard's rollups from every order")
    analytics_rollups.rebuild()  # imported history joins the dashboard (docs/backoffice.md#analytics)
    after = _counts()
    result = DemoResult(
        counts=after,
        created={name: after[name] - before.get(name, 0) for name in after},
        listings={
            code: ChannelListing.objects.filter(channel__code=code).count()
            for code in [c.code for c in CHANNELS]
        },
        staff={
            "username": people.STAFF_USERNAME,
            "email": people.STAFF_EMAIL,
            "password": people.STAFF_PASSWORD,
        },
        shoppers=[
            {"email": step.email, "password": people.SHOPPER_PASSWORD, "verified": step.verified}
            for step in people.STORY
            if isinstance(step, people.Account)
        ],
        api_key={
            "channel": DEMO_KEY_CHANNEL,
            "prefix": api_key.prefix,
            "scopes": ",".join(api_key.scopes),
            "secret": secret,
        },
        examples=_examples(),
        role_staff=role_staff,
    )
    _write_private(
        path,
        {
            "note": "Demo log-ins and API key printed by `omnishop demo`. Local demo only; keep this file private.",
            "staff": result.staff,
            "role_staff": result.role_staff,
            "shoppers": result.shoppers,
            "api_key": result.api_key,
        },
    )
    return result


def _examples() -> dict[str, str]:
    bag = Variant.objects.filter(sku=EXAMPLE_SKU).values_list("product_id", flat=True).first()
    shopper = Customer.objects.filter(email=people.SHOPPERS[0].lower()).values_list("pk", flat=True).first()
    examples = {"search": "/api/v1/search/products?q=hoodie"}
    if bag:
        examples["bought_together"] = f"/api/v1/recommendations/products/{bag}/bought-together"
    if shopper:
        examples["for_customer"] = f"/api/v1/recommendations/customers/{shopper}"
    return examples


def _counts() -> dict[str, int]:
    from omnishop.inventory.models import PurchaseOrder, StockLocation, StockMovement
    from omnishop.orders.models import Order, ReturnRequest, ShippingMethod, TaxRate
    from omnishop.recommendations.models import Event, ModelVersion

    return {
        "channels": Channel.objects.count(),
        "products": Product.objects.count(),
        "variants": Variant.objects.count(),
        "listings": ChannelListing.objects.count(),
        "suppliers": Supplier.objects.count(),
        "supplier_offers": SupplierOffer.objects.count(),
        "stock_locations": StockLocation.objects.count(),
        "shipping_methods": ShippingMethod.objects.count(),
        "tax_rates": TaxRate.objects.count(),
        "stock_movements": StockMovement.objects.count(),
        "purchase_orders": PurchaseOrder.objects.count(),
        "customers": Customer.objects.count(),
        "orders": Order.objects.count(),
        "returns": ReturnRequest.objects.count(),
        "events": Event.objects.filter(source=behaviour.SOURCE).count(),
        "model_versions": ModelVersion.objects.count(),
        **support_demo.counts(),
    }
