"""How recommendations perform: impressions, clicks and the revenue they bring, per placement.

A *placement* is a named place where a channel shows recommended products (`PLACEMENTS`: the web shop's
home, product page, cart and empty search). Showing a list adds its products' impressions to daily counters
(`ItemDay`, one `INSERT … ON CONFLICT DO UPDATE` per page render); following one of them is a `Click` (kept
raw: attribution looks it up) that also adds to the counters. When an order is placed, each line whose
product the same shopper (customer, or visitor id of their browser session) clicked in a recommendation
within `attribution_days()` before is an `Attribution` to the placement of the last such click, with the
line's total, written in the order's transaction (`attribution.py`); `AttributionDay` sums them per day,
channel, placement and currency. The dashboard reads only the two counter tables.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from omnishop.customers import services as customer_services

from ..models import Click, ItemDay
from .serving import active_version_number

#: placement name -> what staff read on the dashboard; only these names are recorded (anything else is ignored)
PLACEMENTS = {
    "home.for_you": gettext_lazy("Home: recommended for you"),
    "home.popular": gettext_lazy("Home: popular right now"),
    "product.similar": gettext_lazy("Product page: you may also like"),
    "product.together": gettext_lazy("Product page: bought together"),
    "cart.complements": gettext_lazy("Cart: complete your order"),
    "search.popular": gettext_lazy("Search without results: popular"),
}
#: a second click of one shopper on one product in one placement within this time is the same click
CLICK_REPEAT = timedelta(minutes=30)
MAX_ITEMS = 100
# Crawlers, link previews and HTTP tools are no shoppers: their page views and clicks are not counted.
_ROBOT = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|headless|curl|wget|python|httpx|java/|go-http|scrapy",
    re.IGNORECASE,
)


def attribution_days() -> int:
    return int(getattr(settings, "OMNISHOP_RECS_ATTRIBUTION_DAYS", 7))


def placement(name: str | None) -> str | None:
    """The placement `name` stands for, or None for anything that is not one (hostile or stale links)."""
    return name if isinstance(name, str) and name in PLACEMENTS else None


def is_robot(user_agent: str | None) -> bool:
    """Whether a request's User-Agent is no person's browser (none at all, or a known robot or tool)."""
    return not user_agent or bool(_ROBOT.search(user_agent[:512]))


def upsert(model, keys: Sequence[str], added: Sequence[str], rows: list[tuple]) -> None:
    """Add the `added` columns of each row to the row of its key, inserting it when missing: ONE statement
    (rows must have distinct keys: one statement may not update a row twice)."""
    if not rows:
        return
    # In key order: two pages counting the same products in another order never wait for each other's rows
    # the other way round (a deadlock on PostgreSQL).
    rows = sorted(rows, key=lambda row: tuple(row[: len(keys)]))
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = (*keys, *added)
    values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in added)
    sql = (
        f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) VALUES {values} "
        f"ON CONFLICT ({', '.join(qn(c) for c in keys)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


ITEM_KEYS = ("day", "channel_id", "placement", "product_id", "version")


def record_impressions(*, channel, shown: Mapping[str, Sequence[int]], now: datetime | None = None) -> int:
    """Count one impression per product shown in each placement (placement -> product ids, in page order):
    one statement for the whole page. Unknown placements are ignored; returns the impressions counted."""
    now = now or timezone.now()
    day = connection.ops.adapt_datefield_value(now.astimezone(UTC).date())
    version = active_version_number()
    counts: dict[tuple, int] = defaultdict(int)
    for name, product_ids in shown.items():
        if placement(name) is None:
            continue
        for product_id in list(product_ids)[:MAX_ITEMS]:
            counts[(day, channel.pk, name, int(product_id), version)] += 1
    upsert(ItemDay, ITEM_KEYS, ("impressions", "clicks"), [(*k, n, 0) for k, n in counts.items()])
    return sum(counts.values())


def record_click(
    *,
    channel,
    placement_name: str | None,
    product_id: int,
    customer=None,
    customer_id: int | None = None,
    anonymous_id: str = "",
    now: datetime | None = None,
) -> Click | None:
    """Record that a shopper (a customer, or the id `customer_id` of an active one; else an anonymous
    visitor) followed a recommended product; None when it does not count (not a placement, no identity, or
    the same shopper's click on it there within CLICK_REPEAT)."""
    name = placement(placement_name)
    anonymous_id = (anonymous_id or "")[:64]
    if customer is not None:
        customer_id = customer_services.active(customer).pk
    if name is None or (customer_id is None and not anonymous_id):
        return None
    now = now or timezone.now()
    same = Q(customer_id=customer_id) if customer_id is not None else Q(anonymous_id=anonymous_id)
    with transaction.atomic():
        if Click.objects.filter(
            same, placement=name, product_id=product_id, occurred_at__gt=now - CLICK_REPEAT
        ).exists():
            return None
        version = active_version_number()
        click = Click.objects.create(
            channel=channel,
            placement=name,
            product_id=product_id,
            version=version,
            customer_id=customer_id,
            anonymous_id=anonymous_id,
            occurred_at=now,
        )
        day = connection.ops.adapt_datefield_value(now.astimezone(UTC).date())
        upsert(
            ItemDay,
            ITEM_KEYS,
            ("impressions", "clicks"),
            [(day, channel.pk, name, product_id, version, 0, 1)],
        )
    return click


# -- attribution -------------------------------------------------------------------------------------------

_visitor: contextvars.ContextVar[str] = contextvars.ContextVar("recs_visitor", default="")


@contextlib.contextmanager
def shopping_as(anonymous_id: str) -> Iterator[None]:
    """Orders placed inside this block are the browser session's `anonymous_id` too (a guest has no other
    identity an order could be matched with): the web shop wraps its checkout in it."""
    token = _visitor.set((anonymous_id or "")[:64])
    try:
        yield
    finally:
        _visitor.reset(token)


def current_visitor() -> str:
    """The browser session `shopping_as` names for the orders placed now ("" outside one)."""
    return _visitor.get()
