"""Serving recommendations: the active version's precomputed lists, filtered for one channel.

Filtering happens at read time so a product unpublished or sold out a minute ago is never shown: only
products the channel publishes (and, where the channel has stock locations, can promise) are returned,
and what the customer bought recently is left out (configurable per request). Each call is one statement
(`_read`: the lists, the active version, the channel's catalogue generation, the recent purchases or views),
publication is checked against this process's map of the channel's sellable products (`sellable.py`, rebuilt
when the generation moves), and stock with one availability query for the few products kept (ADR 0033).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice

import orjson
from django.db import connection
from django.utils import timezone

from omnishop.catalog.models import Product
from omnishop.customers import services as customer_services
from omnishop.inventory.models import ChannelLocation

from ..errors import ProductNotFound
from ..models import CandidateList, Event, ModelVersion, ServingGeneration
from .sellable import forget as forget_sellable
from .sellable import sellable_set

DEFAULT_EXCLUDE_PURCHASED_DAYS = 30
SESSION_EVENTS = 20


@dataclass(frozen=True)
class Recommendation:
    product_id: int
    title: str
    score: float
    reason: str


# Serving reads the active version with its lists (one statement); the performance counters' version number
# is cached instead: activation in this process forgets it at once, other processes within this many seconds.
VERSION_TTL = 2.0
_version_cache: dict[str, tuple[float, int | None]] = {}


def forget_version() -> None:
    """Forget the cached version number and this process's maps of sellable products."""
    _version_cache.clear()
    forget_sellable()


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


@dataclass
class _Read:
    """Everything one call needs from the database, read in one statement."""

    version_id: int | None = None
    generation: int = 0
    tracks_stock: bool = False
    product_found: bool = False
    lists: dict[tuple[str, int], _List] = field(default_factory=dict)
    bought: set[int] = field(default_factory=set)
    viewed: list[int] = field(default_factory=list)

    def of(self, kind: str, keys: Iterable[int]) -> list[_List]:
        return [self.lists[(kind, k)] for k in keys if (kind, k) in self.lists]


def _read(
    channel,
    lists: Sequence[tuple[str, Sequence[int]]],
    *,
    product_id: int | None = None,
    bought_by: int | None = None,
    bought_days: int = 0,
    session: str | None = None,
) -> _Read:
    """One statement (a UNION ALL of indexed reads): the channel's catalogue generation, the active version,
    whether the channel tracks stock, the precomputed lists of `lists` ((kind, keys) pairs), and, when asked,
    whether `product_id` exists, what `bought_by` bought in the last `bought_days` days, and what `session`
    viewed (newest first) with the similar list of each viewed product."""
    pg = connection.vendor == "postgresql"
    js, big = ("jsonb", "bigint") if pg else ("text", "integer")
    nulls = f"CAST(NULL AS {js}), CAST(NULL AS {js}), CAST(NULL AS {big})"
    version = f"(SELECT id FROM {ModelVersion._meta.db_table} WHERE status = 'active')"
    parts = [
        f"SELECT 'g', generation, {nulls} FROM {ServingGeneration._meta.db_table} WHERE scope IN ('', %s)",
        f"SELECT 'v', id, {nulls} FROM {ModelVersion._meta.db_table} WHERE status = 'active'",
        f"SELECT 's', COUNT(*), {nulls} FROM {ChannelLocation._meta.db_table} WHERE channel_id = %s",
    ]
    params: list = [channel.code, channel.pk]
    prefix = ""
    if session is not None:
        prefix = (
            f"WITH recent AS (SELECT product_id, occurred_at, id FROM {Event._meta.db_table} "
            "WHERE anonymous_id = %s AND channel_id = %s AND kind IN (%s, %s) "
            "ORDER BY occurred_at DESC, id DESC LIMIT %s) "
        )
        params = [session, channel.pk, Event.Kind.VIEW, Event.Kind.ADD_TO_CART, SESSION_EVENTS, *params]
        # Each viewed product with its similar list, by two point reads of the unique index per view.
        similar = (
            f"(SELECT c.{{}} FROM {CandidateList._meta.db_table} c WHERE c.version_id = {version} "
            "AND c.kind = %s AND c.key = r.product_id)"
        )
        parts.append(
            f"SELECT 'e', r.product_id, {similar.format('product_ids')}, {similar.format('scores')}, "
            "ROW_NUMBER() OVER (ORDER BY r.occurred_at DESC, r.id DESC) FROM recent r"
        )
        params += [CandidateList.Kind.SIMILAR, CandidateList.Kind.SIMILAR]
    table = CandidateList._meta.db_table
    lists_sql = (
        f"SELECT kind, key, product_ids, scores, CAST(NULL AS {big}) FROM {table} "
        f"WHERE version_id = {version} AND kind = %s AND key = %s"
    )
    # One branch per list, each an equality on the whole (version, kind, key) unique index: a plan that
    # cannot go wrong whatever the planner's statistics say about a version trained a minute ago.
    for kind, keys in lists:
        for key in dict.fromkeys(keys):
            parts.append(lists_sql)
            params += [kind, key]
    if product_id is not None:
        parts.append(f"SELECT 'p', id, {nulls} FROM {Product._meta.db_table} WHERE id = %s")
        params.append(product_id)
    if bought_by is not None and bought_days > 0:
        parts.append(
            f"SELECT DISTINCT 'b', product_id, {nulls} FROM {Event._meta.db_table} "
            "WHERE customer_id = %s AND occurred_at >= %s AND kind = %s"
        )
        params += [bought_by, timezone.now() - timedelta(days=bought_days), Event.Kind.PURCHASE]
    out = _Read()
    with connection.cursor() as cursor:
        cursor.execute(prefix + " UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    viewed: list[tuple[int, int]] = []
    for tag, value, ids, scores, position in rows:
        if tag == "g":
            out.generation += value
        elif tag == "v":
            out.version_id = value
        elif tag == "s":
            out.tracks_stock = value > 0
        elif tag == "p":
            out.product_found = True
        elif tag == "b":
            out.bought.add(value)
        elif tag == "e":
            viewed.append((position, value))
            if ids is not None:
                out.lists[(CandidateList.Kind.SIMILAR, value)] = _List(_json(ids), _json(scores))
        else:
            out.lists[(tag, value)] = _List(_json(ids), _json(scores))
    out.viewed = [p for _, p in sorted(viewed)]
    return out


def _popular(read: _Read, channel) -> list[tuple[int, float, str]]:
    """What sells on this channel, then what sells everywhere (key 0) for products it has not sold yet."""
    out: list[tuple[int, float, str]] = []
    for found in read.of(CandidateList.Kind.POPULAR, (channel.pk, 0)):
        out.extend((p, s, "popular") for p, s in zip(found.product_ids, found.scores, strict=False))
    return out


def _popular_keys(channel) -> tuple[str, list[int]]:
    return (CandidateList.Kind.POPULAR, [channel.pk, 0])


def _finish(channel, read: _Read, ranked: list[tuple[int, float, str]], *, exclude: set[int], limit: int):
    """Deduplicate, drop excluded and unsellable products, keep the first `limit`: publication from this
    process's map of the channel (at the generation just read), stock live for the few candidates kept."""
    if read.version_id is None:
        return []
    sellable = sellable_set(channel, read.generation)
    candidates = _published(ranked, exclude, sellable.titles)
    if not read.tracks_stock:
        return list(islice(candidates, limit))
    return _in_stock(channel, candidates, sellable, limit)


def _published(ranked, exclude: set[int], titles: dict[int, str]) -> Iterator[Recommendation]:
    seen: set[int] = set()
    for product_id, score, reason in ranked:
        if product_id in seen or product_id in exclude:
            continue
        seen.add(product_id)
        title = titles.get(product_id)
        if title is not None:
            yield Recommendation(product_id, title, round(float(score), 5), reason)


def _in_stock(channel, candidates: Iterator[Recommendation], sellable, limit: int) -> list[Recommendation]:
    """The first `limit` candidates with units to promise: a first batch a little larger than asked, then (if
    too many were sold out) the rest in one more — one availability query, at most two."""
    from omnishop.inventory import services as inventory

    out: list[Recommendation] = []
    for size in (limit + 10, None):
        batch = list(islice(candidates, size))
        if not batch:
            break
        variants = [v for c in batch for v in sellable.variants[c.product_id]]
        available = inventory.availability_for(channel=channel, variant_ids=variants)
        out += [c for c in batch if any(available.get(v, 0) > 0 for v in sellable.variants[c.product_id])]
        if len(out) >= limit:
            break
    return out[:limit]


def _merged(lists: Iterable[_List], reason: str) -> list[tuple[int, float, str]]:
    totals: dict[int, float] = {}
    for found in lists:
        top = max(found.scores or [1.0]) or 1.0
        for product_id, score in zip(found.product_ids, found.scores, strict=False):
            totals[product_id] = totals.get(product_id, 0.0) + score / top
    return [(p, s, reason) for p, s in sorted(totals.items(), key=lambda kv: -kv[1])]


def for_customer(
    *, channel, customer, limit: int = 10, exclude_purchased_days: int = DEFAULT_EXCLUDE_PURCHASED_DAYS
) -> list[Recommendation]:
    """Personal picks; customers with no history yet get what is popular now."""
    customer = customer_services.active(customer)
    read = _read(
        channel,
        [(CandidateList.Kind.CUSTOMER, [customer.pk]), _popular_keys(channel)],
        bought_by=customer.pk,
        bought_days=exclude_purchased_days,
    )
    ranked = [
        (p, s, "personal")
        for found in read.of(CandidateList.Kind.CUSTOMER, [customer.pk])
        for p, s in zip(found.product_ids, found.scores, strict=False)
    ]
    return _finish(channel, read, ranked + _popular(read, channel), exclude=read.bought, limit=limit)


def _one_product(channel, kind: str, product_id: int, reason: str, limit: int) -> list[Recommendation]:
    read = _read(channel, [(kind, [product_id])], product_id=product_id)
    if not read.product_found:
        raise ProductNotFound(f"No product {product_id}.", field="product_id")
    return _finish(
        channel, read, _merged(read.of(kind, [product_id]), reason), exclude={product_id}, limit=limit
    )


def similar_products(*, channel, product_id: int, limit: int = 10) -> list[Recommendation]:
    """Products like this one (bought by the same people, or described alike)."""
    return _one_product(channel, CandidateList.Kind.SIMILAR, product_id, "similar", limit)


def bought_together(*, channel, product_id: int, limit: int = 10) -> list[Recommendation]:
    """Products customers bought (or put in the cart) along with this one."""
    return _one_product(channel, CandidateList.Kind.BOUGHT_TOGETHER, product_id, "bought_together", limit)


def for_cart(*, channel, product_ids: Sequence[int], customer=None, limit: int = 10) -> list[Recommendation]:
    """Complements for a whole cart: bought-together lists of its products summed, then similar ones."""
    product_ids = list(dict.fromkeys(product_ids))
    buyer = customer_services.active(customer).pk if customer is not None else None
    read = _read(
        channel,
        [
            (CandidateList.Kind.BOUGHT_TOGETHER, product_ids),
            (CandidateList.Kind.SIMILAR, product_ids),
            _popular_keys(channel),
        ],
        bought_by=buyer,
        bought_days=DEFAULT_EXCLUDE_PURCHASED_DAYS,
    )
    ranked = _merged(read.of(CandidateList.Kind.BOUGHT_TOGETHER, product_ids), "bought_together") + _merged(
        read.of(CandidateList.Kind.SIMILAR, product_ids), "similar"
    )
    exclude = set(product_ids) | read.bought
    return _finish(channel, read, ranked + _popular(read, channel), exclude=exclude, limit=limit)


def for_session(*, channel, anonymous_id: str, limit: int = 10) -> list[Recommendation]:
    """'Because you viewed': for a visitor not signed in, products like the ones they just looked at."""
    read = _read(channel, [_popular_keys(channel)], session=anonymous_id)
    viewed = list(dict.fromkeys(read.viewed))
    ranked = _merged(read.of(CandidateList.Kind.SIMILAR, viewed), "because_you_viewed")
    return _finish(channel, read, ranked + _popular(read, channel), exclude=set(viewed), limit=limit)
