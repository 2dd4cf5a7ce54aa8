"""Serving recommendations: the active version's precomputed lists, filtered for one channel.

Filtering happens at read time so a product unpublished or sold out a minute ago is never shown: only
products the channel publishes (and, where the channel has stock locations, can promise) are returned,
and what the customer bought recently is left out (configurable per request).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import orjson
from django.db import connection
from django.utils import timezone

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.customers import services as customer_services

from ..errors import ProductNotFound
from ..models import CandidateList, Event, ModelVersion

DEFAULT_EXCLUDE_PURCHASED_DAYS = 30
SESSION_EVENTS = 20


@dataclass(frozen=True)
class Recommendation:
    product_id: int
    title: str
    score: float
    reason: str


# The active version changes a few times a day; reading it once per request would be most of the cost.
# Activation in this process forgets it at once; other processes see a new version within this many seconds.
VERSION_TTL = 2.0
_version_cache: dict[str, tuple[float, int | None]] = {}


def forget_version() -> None:
    _version_cache.clear()


def _version_id() -> int | None:
    now = time.monotonic()
    cached = _version_cache.get("active")
    if cached and cached[0] > now:
        return cached[1]
    found = (
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("pk", flat=True).first()
    )
    _version_cache["active"] = (now + VERSION_TTL, found)
    return found


def active_version_number() -> int:
    """The active version's number (0 when none is active), cached like its id: performance counters are
    kept per version at the cost of no query per page."""
    now = time.monotonic()
    cached = _version_cache.get("number")
    if cached and cached[0] > now:
        return cached[1] or 0
    found = (
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)
        .values_list("number", flat=True)
        .first()
    )
    _version_cache["number"] = (now + VERSION_TTL, found)
    return found or 0


def _placeholders(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


def _json(value):
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class _List:
    product_ids: list[int]
    scores: list[float]


def _lists(version_id: int | None, kind: str, keys: Iterable[int]) -> dict[int, _List]:
    """Precomputed lists by key: one indexed read (raw SQL: the ORM's overhead would dominate here)."""
    keys = list(keys)
    if version_id is None or not keys:
        return {}
    sql = (
        f"SELECT key, product_ids, scores FROM {CandidateList._meta.db_table} "
        f"WHERE version_id = %s AND kind = %s AND key IN ({_placeholders(keys)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [version_id, kind, *keys])
        return {key: _List(_json(ids), _json(scores)) for key, ids, scores in cursor.fetchall()}


def _popular(version_id: int | None, channel) -> list[tuple[int, float]]:
    """What sells on this channel, then what sells everywhere (key 0) for products it has not sold yet."""
    found = _lists(version_id, CandidateList.Kind.POPULAR, [channel.pk, 0])
    out: list[tuple[int, float]] = []
    for key in (channel.pk, 0):
        if key in found:
            out.extend(zip(found[key].product_ids, found[key].scores, strict=False))
    return out


# Written so that SQLite (no planner statistics) starts from the few candidate products: the variants of
# these products, then their listing on the channel by the (channel, variant) unique index.
_SELLABLE_SQL = """
SELECT v.product_id, l.variant_id, l.title, p.title
FROM {variant} v
CROSS JOIN {listing} l
CROSS JOIN {product} p
WHERE v.product_id IN ({ids}) AND l.variant_id = v.id AND l.channel_id = %s AND p.id = v.product_id
  AND l.is_published AND v.is_active AND p.is_active
ORDER BY l.variant_id
"""


def _sellable(channel, product_ids: Sequence[int]) -> dict[int, str]:
    """Product id → title for the products `channel` can sell now: one query (two with stock tracking)."""
    if not product_ids:
        return {}
    sql = _SELLABLE_SQL.format(
        listing=ChannelListing._meta.db_table,
        variant=Variant._meta.db_table,
        product=Product._meta.db_table,
        ids=_placeholders(product_ids),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*product_ids, channel.pk])
        listings = cursor.fetchall()
    titles: dict[int, str] = {}
    variants_of: dict[int, list[int]] = {}
    for product_id, variant_id, listing_title, product_title in listings:
        titles.setdefault(product_id, listing_title or product_title)
        variants_of.setdefault(product_id, []).append(variant_id)
    stocked = _stocked_variants(channel, [v for vs in variants_of.values() for v in vs])
    if stocked is None:
        return titles
    return {p: t for p, t in titles.items() if any(v in stocked for v in variants_of[p])}


def _stocked_variants(channel, variant_ids: list[int]) -> set[int] | None:
    """Variants with units the channel may promise, or None when the channel does not track stock."""
    from omnishop.inventory import services as inventory

    if not variant_ids or not _tracks_stock(channel):
        return None
    available = inventory.availability_for(channel=channel, variant_ids=variant_ids)
    return {v for v, units in available.items() if units > 0}


def _tracks_stock(channel) -> bool:
    """Whether the channel sells from stock locations (cached briefly: it changes when merchants set up)."""
    from omnishop.inventory import services as inventory

    now = time.monotonic()
    cached = _version_cache.get(f"stock:{channel.pk}")
    if cached and cached[0] > now:
        return bool(cached[1])
    tracks = bool(inventory.channel_locations(channel=channel))
    _version_cache[f"stock:{channel.pk}"] = (now + VERSION_TTL, int(tracks))
    return tracks


def _recently_bought(customer_id: int | None, days: int) -> set[int]:
    if customer_id is None or days <= 0:
        return set()
    since = timezone.now() - timedelta(days=days)
    sql = (
        f"SELECT DISTINCT product_id FROM {Event._meta.db_table} "
        "WHERE customer_id = %s AND occurred_at >= %s AND kind = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [customer_id, since, Event.Kind.PURCHASE])
        return {row[0] for row in cursor.fetchall()}


def _finish(channel, ranked: list[tuple[int, float, str]], *, exclude: set[int], limit: int):
    """Deduplicate, drop excluded and unsellable products, keep the first `limit`."""
    seen: set[int] = set()
    candidates = []
    for product_id, score, reason in ranked:
        if product_id in seen or product_id in exclude:
            continue
        seen.add(product_id)
        candidates.append((product_id, score, reason))
        if len(candidates) >= limit * 4 + 20:
            break
    titles = _sellable(channel, [c[0] for c in candidates])
    out = [Recommendation(p, titles[p], round(float(s), 5), r) for p, s, r in candidates if p in titles]
    return out[:limit]


def _merged(lists: Iterable[_List], reason: str) -> list[tuple[int, float, str]]:
    totals: dict[int, float] = {}
    for found in lists:
        top = max(found.scores or [1.0]) or 1.0
        for product_id, score in zip(found.product_ids, found.scores, strict=False):
            totals[product_id] = totals.get(product_id, 0.0) + score / top
    return [(p, s, reason) for p, s in sorted(totals.items(), key=lambda kv: -kv[1])]


def _with_popular(version_id, ranked, channel):
    return ranked + [(p, s, "popular") for p, s in _popular(version_id, channel)]


def for_customer(
    *, channel, customer, limit: int = 10, exclude_purchased_days: int = DEFAULT_EXCLUDE_PURCHASED_DAYS
) -> list[Recommendation]:
    """Personal picks; customers with no history yet get what is popular now."""
    customer = customer_services.active(customer)
    version_id = _version_id()
    found = _lists(version_id, CandidateList.Kind.CUSTOMER, [customer.pk]).get(customer.pk)
    ranked = (
        [(p, s, "personal") for p, s in zip(found.product_ids, found.scores, strict=False)] if found else []
    )
    exclude = _recently_bought(customer.pk, exclude_purchased_days)
    return _finish(channel, _with_popular(version_id, ranked, channel), exclude=exclude, limit=limit)


def _require_product(product_id: int) -> None:
    if not Product.objects.filter(pk=product_id).exists():
        raise ProductNotFound(f"No product {product_id}.", field="product_id")


def similar_products(*, channel, product_id: int, limit: int = 10) -> list[Recommendation]:
    """Products like this one (bought by the same people, or described alike)."""
    found = _lists(_version_id(), CandidateList.Kind.SIMILAR, [product_id]).get(product_id)
    if found is None:
        _require_product(product_id)
    ranked = _merged([found], "similar") if found else []
    return _finish(channel, ranked, exclude={product_id}, limit=limit)


def bought_together(*, channel, product_id: int, limit: int = 10) -> list[Recommendation]:
    """Products customers bought (or put in the cart) along with this one."""
    found = _lists(_version_id(), CandidateList.Kind.BOUGHT_TOGETHER, [product_id]).get(product_id)
    if found is None:
        _require_product(product_id)
    ranked = _merged([found], "bought_together") if found else []
    return _finish(channel, ranked, exclude={product_id}, limit=limit)


def for_cart(*, channel, product_ids: Sequence[int], customer=None, limit: int = 10) -> list[Recommendation]:
    """Complements for a whole cart: bought-together lists of its products summed, then similar ones."""
    version_id = _version_id()
    product_ids = list(dict.fromkeys(product_ids))
    together = _lists(version_id, CandidateList.Kind.BOUGHT_TOGETHER, product_ids).values()
    similar = _lists(version_id, CandidateList.Kind.SIMILAR, product_ids).values()
    ranked = _merged(together, "bought_together") + _merged(similar, "similar")
    exclude = set(product_ids)
    if customer is not None:
        exclude |= _recently_bought(customer_services.active(customer).pk, DEFAULT_EXCLUDE_PURCHASED_DAYS)
    return _finish(channel, _with_popular(version_id, ranked, channel), exclude=exclude, limit=limit)


def for_session(*, channel, anonymous_id: str, limit: int = 10) -> list[Recommendation]:
    """'Because you viewed': for a visitor not signed in, products like the ones they just looked at."""
    sql = (
        f"SELECT product_id FROM {Event._meta.db_table} WHERE anonymous_id = %s AND channel_id = %s "
        "AND kind IN (%s, %s) ORDER BY occurred_at DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [anonymous_id, channel.pk, Event.Kind.VIEW, Event.Kind.ADD_TO_CART, SESSION_EVENTS]
        )
        recent = [row[0] for row in cursor.fetchall()]
    version_id = _version_id()
    viewed = list(dict.fromkeys(recent))
    similar = _lists(version_id, CandidateList.Kind.SIMILAR, viewed)
    ranked = _merged([similar[p] for p in viewed if p in similar], "because_you_viewed")
    return _finish(channel, _with_popular(version_id, ranked, channel), exclude=set(viewed), limit=limit)
