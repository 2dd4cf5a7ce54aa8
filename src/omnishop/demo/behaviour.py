"""Behaviour for the recommenders to learn from: the real Online Retail invoices (July–August 2011, committed
extract data/behaviour.json) as purchases of the demo giftware, and seeded product views of the Luma range,
all dated relative to the day of the first load; then one training run.

Online Retail customers are anonymous visitors `or-<CustomerID>`; the first demo shoppers take over the
history of the busiest Online Retail customers, so "recommended for you" has something to go on for them.
Recorded once (events with source "demo"), trained when there is no active version.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from omnishop.catalog.models import Variant
from omnishop.channels.models import Channel
from omnishop.customers.models import Customer
from omnishop.recommendations.models import Event
from omnishop.recommendations.services import events as event_services
from omnishop.recommendations.services import training

from . import people
from .plan import PlannedProduct, extract

SOURCE = "demo"
PURCHASE_CHANNEL = "web"
VIEW_CHANNELS = ("web", "app")
VIEW_VISITORS = 400
SEED = 20110831


def _start(now: datetime) -> datetime:
    """Midnight (UTC) of yesterday: the last invoice day of the extract becomes yesterday."""
    return datetime.combine(now.astimezone(UTC).date() - timedelta(days=1), time(), tzinfo=UTC)


def planned_events(products: list[PlannedProduct], *, now: datetime) -> list[dict]:
    """Every demo event as plain data (channel code, who, product SKU, kind, when); no database."""
    data = extract("behaviour.json")
    present = {p.variants[0].sku for p in products if p.source == "giftware"}
    start = _start(now)
    out: list[dict] = []
    for customer, days_before, minute, items in data["invoices"]:
        when = start - timedelta(days=days_before) + timedelta(minutes=minute)
        for item in items:
            sku = data["skus"][item]
            if sku in present:
                out.append(
                    {
                        "channel": PURCHASE_CHANNEL,
                        "who": f"or-{customer}",
                        "sku": sku,
                        "kind": "purchase",
                        "at": when,
                    }
                )
    rng = random.Random(SEED)
    by_category: dict[tuple, list[str]] = {}
    for p in products:
        if p.source != "giftware":
            by_category.setdefault(p.category_path[:2], []).append(p.variants[0].sku)
    groups = sorted(by_category.values())
    for visitor in range(VIEW_VISITORS):
        if not groups:
            break
        group = rng.choice(groups)
        viewed = rng.sample(group, min(len(group), rng.randint(2, 5)))
        channel = rng.choice(VIEW_CHANNELS)
        when = start - timedelta(days=rng.randint(0, 60)) + timedelta(minutes=rng.randint(480, 1380))
        for step, sku in enumerate(viewed):
            out.append(
                {
                    "channel": channel,
                    "who": f"visitor-{visitor:04d}",
                    "sku": sku,
                    "kind": "view",
                    "at": when + timedelta(minutes=step * 2),
                }
            )
    return out


def ensure_events(products: list[PlannedProduct], *, channels: dict[str, Channel]) -> int:
    """Record the demo's events unless they were recorded before; how many were written."""
    if Event.objects.filter(source=SOURCE).exists():
        return 0
    now = timezone.now()
    planned = planned_events(products, now=now)
    product_of = dict(
        Variant.objects.filter(sku__in={e["sku"] for e in planned}).values_list("sku", "product_id")
    )
    # The busiest Online Retail buyers become the demo shoppers (their history, their account).
    buyers = Counter(e["who"] for e in planned if e["kind"] == "purchase")
    shoppers = list(Customer.objects.filter(email__in=[s.lower() for s in people.SHOPPERS]).order_by("pk"))
    owner = {
        who: shopper for (who, _), shopper in zip(buyers.most_common(len(shoppers)), shoppers, strict=False)
    }
    batches: dict[tuple[str, int | None], list[dict]] = {}
    for e in planned:
        shopper = owner.get(e["who"])
        event = {"kind": e["kind"], "product_id": product_of[e["sku"]], "occurred_at": e["at"]}
        if shopper is None:
            event["anonymous_id"] = e["who"]
        batches.setdefault((e["channel"], shopper.pk if shopper else None), []).append(event)
    shopper_by_pk = {s.pk: s for s in shoppers}
    written = 0
    for (code, shopper_pk), events in sorted(batches.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        for i in range(0, len(events), event_services.MAX_BATCH):
            result = event_services.record_events(
                channel=channels[code],
                events=events[i : i + event_services.MAX_BATCH],
                customer=shopper_by_pk.get(shopper_pk),
                source=SOURCE,
                now=now,
            )
            if result.rejected:
                raise RuntimeError(f"demo events rejected: {result.rejected[:3]}")
            written += result.accepted
    return written


def ensure_trained(*, recorded: int) -> None:
    """Train once: after recording the events, or when no version is active yet."""
    if recorded or training.active_version() is None:
        training.train()


PERFORMANCE_DAYS = 14


def ensure_recommendation_performance(*, channels: dict[str, Channel]) -> int:
    """Two weeks of the web shop's home and product pages showing the trained model's picks, and the clicks a
    few percent of visitors make, so the dashboard's Recommendation performance is not empty (recorded once,
    through the services the shop uses); returns the clicks recorded. No attributed revenue: the demo's
    orders are past invoices."""
    from omnishop.recommendations import services as recs
    from omnishop.recommendations.models import ItemDay
    from omnishop.recommendations.services import serving

    web = channels[PURCHASE_CHANNEL]
    if ItemDay.objects.filter(channel=web).exists():
        return 0
    popular = [r.product_id for r in serving.for_session(channel=web, anonymous_id="", limit=8)]
    if not popular:
        return 0
    similar = [r.product_id for r in serving.similar_products(channel=web, product_id=popular[0], limit=4)]
    rng = random.Random(SEED)
    now = timezone.now()
    clicks = 0
    for days_ago in range(PERFORMANCE_DAYS, 0, -1):
        day = now - timedelta(days=days_ago)
        pages = {
            "home.popular": (popular, rng.randint(40, 90)),
            "product.similar": (similar, rng.randint(10, 30)),
        }
        for placement, (products, views) in pages.items():
            if not products:
                continue
            for _ in range(views):
                recs.record_impressions(channel=web, shown={placement: products}, now=day)
            for n in range(int(views * rng.uniform(0.02, 0.08))):
                clicked = recs.record_click(
                    channel=web,
                    placement_name=placement,
                    product_id=rng.choice(products),
                    anonymous_id=f"demo-visitor-{days_ago}-{placement}-{n}",
                    now=day + timedelta(minutes=n),
                )
                clicks += clicked is not None
    return clicks
