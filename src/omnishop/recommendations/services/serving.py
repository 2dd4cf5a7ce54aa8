"""Serving recommendations: the active version's precomputed lists, filtered for one channel.

Filtering happens at read time so a product unpublished or sold out a minute ago is never shown: only
products the channel publishes (and, where the channel has stock locations, can promise) are returned,
and what the customer bought recently is left out (configurable per request).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from omnishop.catalog.models import ChannelListing, Product
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


def _version_id() -> int | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("pk", flat=True).first()


def _lists(version_id: int | None, kind: str, keys: Iterable[int]) -> dict[int, CandidateList]:
    if version_id is None:
        return {}
    return {
        c.key: c
        for c in CandidateList.objects.filter(version_id=version_id, kind=kind, key__in=list(keys)).only(
            "key", "product_ids", "scores"
        )
    }


def _popular(version_id: int | None) -> list[tuple[int, float]]:
    found = _lists(version_id, CandidateList.Kind.POPULAR, [0]).get(0)
    return list(zip(found.product_ids, found.scores, strict=False)) if found else []


def _sellable(channel, product_ids: Sequence[int]) -> dict[int, str]:
    """Product id → title for the products `channel` can sell now, in one or two queries."""
    if not product_ids:
        return {}
    listings = (
        ChannelListing.objects.filter(
            channel=channel,
            is_published=True,
            variant__is_active=True,
            variant__product__is_active=True,
            variant__product_id__in=list(product_ids),
        )
        .values_list("variant__product_id", "variant_id", "title", "variant__product__title")
        .order_by("variant_id")
    )
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
    try:
        from omnishop.inventory import services as inventory
    except ImportError:  # the inventory context is optional in a slim install
        return None
    if not variant_ids or not inventory.channel_locations(channel=channel):
        return None
    available = inventory.availability_for(channel=channel, variant_ids=variant_ids)
    return {v for v, units in available.items() if units > 0}


def _recently_bought(customer_id: int | None, days: int) -> set[int]:
    if customer_id is None or days <= 0:
        return set()
    since = timezone.now() - timedelta(days=days)
    return set(
        Event.objects.filter(customer_id=customer_id, kind=Event.Kind.PURCHASE, occurred_at__gte=since)
        .values_list("product_id", flat=True)
        .distinct()
    )


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


def _merged(lists: Iterable[CandidateList], reason: str) -> list[tuple[int, float, str]]:
    totals: dict[int, float] = {}
    for found in lists:
        top = max(found.scores or [1.0]) or 1.0
        for product_id, score in zip(found.product_ids, found.scores, strict=False):
            totals[product_id] = totals.get(product_id, 0.0) + score / top
    return [(p, s, reason) for p, s in sorted(totals.items(), key=lambda kv: -kv[1])]


def _with_popular(version_id, ranked):
    return ranked + [(p, s, "popular") for p, s in _popular(version_id)]


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
    return _finish(channel, _with_popular(version_id, ranked), exclude=exclude, limit=limit)


def _require_product(product_id: int) -> None:
    if not Product.objects.filter(pk=product_id).exists():
        raise ProductNotFound(f"No product {product_id}.", field="product_id")


def similar_products(*, channel, product_id: int, limit: int = 10) -> list[Recommendation]:
    """Products like this one (bought by the same people, or described alike)."""
    _require_product(product_id)
    found = _lists(_version_id(), CandidateList.Kind.SIMILAR, [product_id]).get(product_id)
    ranked = _merged([found], "similar") if found else []
    return _finish(channel, ranked, exclude={product_id}, limit=limit)


def bought_together(*, channel, product_id: int, limit: int = 10) -> list[Recommendation]:
    """Products customers bought (or put in the cart) along with this one."""
    _require_product(product_id)
    found = _lists(_version_id(), CandidateList.Kind.BOUGHT_TOGETHER, [product_id]).get(product_id)
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
    return _finish(channel, _with_popular(version_id, ranked), exclude=exclude, limit=limit)


def for_session(*, channel, anonymous_id: str, limit: int = 10) -> list[Recommendation]:
    """'Because you viewed': for a visitor not signed in, products like the ones they just looked at."""
    recent = list(
        Event.objects.filter(anonymous_id=anonymous_id, channel=channel)
        .filter(Q(kind=Event.Kind.VIEW) | Q(kind=Event.Kind.ADD_TO_CART))
        .order_by("-occurred_at")
        .values_list("product_id", flat=True)[:SESSION_EVENTS]
    )
    version_id = _version_id()
    viewed = list(dict.fromkeys(recent))
    similar = _lists(version_id, CandidateList.Kind.SIMILAR, viewed)
    ranked = _merged([similar[p] for p in viewed if p in similar], "because_you_viewed")
    return _finish(channel, _with_popular(version_id, ranked), exclude=set(viewed), limit=limit)
