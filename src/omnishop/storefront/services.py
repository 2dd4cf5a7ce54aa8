"""What a channel's shoppers see: pages of product cards and product details, public and fast.

Only published listings of active variants of active products in an active channel are shown; prices are
the channel's listing prices in the channel's currency, quantised to the currency's minor unit. Stock
comes from the inventory context (`inventory.services.availability_for`); when that context is not
installed, availability is reported as unknown (`null`), never guessed.

These functions return plain dicts and lists ready for orjson: no models are instantiated on this path
(see docs/storefront.md for the measurements behind that choice).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

import orjson
from django.apps import apps

from omnishop.catalog.errors import ProductNotFound
from omnishop.catalog.models import ChannelListing, ProductImage
from omnishop.channels.services import ChannelNotFound
from omnishop.core.errors import UnknownField, ValidationFailed
from omnishop.core.money import minor_units
from omnishop.core.pagination import InvalidCursor, InvalidOrdering, decode_cursor, encode_cursor

from . import queries

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_LENGTH = 200
ORDERINGS = tuple(queries.ORDERINGS)


class InStockFilterUnavailable(ValidationFailed):
    code = "in_stock_filter_unavailable"
    default_message = "Filtering by stock needs the inventory context, which is not installed."


@dataclass(frozen=True, slots=True)
class PageQuery:
    """The validated query string of a product list request."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    ordering: str = "id"
    category: str | None = None
    q: str | None = None
    in_stock: bool | None = None


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_KNOWN_PARAMS = frozenset(PageQuery.__slots__)


def parse_page_query(params: Mapping[str, str]) -> PageQuery:
    """Validate list parameters from a query string; every problem is a 422 naming the parameter."""
    unknown = sorted(set(params) - _KNOWN_PARAMS)
    if unknown:
        raise UnknownField(f"Unknown query parameter '{unknown[0]}'.", field=unknown[0])
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit")
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ValidationFailed("limit must be a whole number.", field="limit") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.", field="limit", max=MAX_LIMIT)
    ordering = params.get("ordering") or "id"
    if ordering not in queries.ORDERINGS:
        raise InvalidOrdering(
            f"Cannot order by '{ordering}'; choose one of {', '.join(ORDERINGS)}.",
            field="ordering",
            allowed=list(ORDERINGS),
        )
    in_stock = None
    raw_in_stock = params.get("in_stock")
    if raw_in_stock is not None and raw_in_stock != "":
        lowered = raw_in_stock.lower()
        if lowered not in _TRUE and lowered not in _FALSE:
            raise ValidationFailed("in_stock must be true or false.", field="in_stock")
        in_stock = lowered in _TRUE
    q = (params.get("q") or "").strip() or None
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        raise ValidationFailed(f"q is longer than {MAX_QUERY_LENGTH} characters.", field="q")
    category = (params.get("category") or "").strip("/ ") or None
    return PageQuery(
        limit=limit,
        cursor=params.get("cursor") or None,
        ordering=ordering,
        category=category,
        q=q,
        in_stock=in_stock,
    )


# --- money ----------------------------------------------------------------------------------------------


@cache
def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


@lru_cache(maxsize=8192)
def _amount(value, currency: str) -> str | None:
    """A listing price as the decimal string of the channel currency (SQLite hands back floats). Kept per
    (price, currency): a list page formats about 60 prices and a catalogue repeats few distinct ones (the
    formatting was a tenth of a list page's Python)."""
    if value is None:
        return None
    if not isinstance(value, Decimal):
        value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return str(value.quantize(_exponent(currency), rounding=ROUND_HALF_UP))


# --- availability ---------------------------------------------------------------------------------------


@cache
def _availability_service():
    """inventory.services.availability_for when the inventory context is installed, else None."""
    if not apps.is_installed("omnishop.inventory"):
        return None
    for module in ("omnishop.inventory.services", "omnishop.inventory.services.availability"):
        service = getattr(importlib.import_module(module), "availability_for", None)
        if service is not None:
            return service
    return None


def availability(channel_id: int | None, variant_ids: list[int]) -> dict[int, int] | None:
    """Sellable quantity per variant in the channel, or None when stock is not known to this install."""
    service = _availability_service()
    if service is None or channel_id is None or not variant_ids:
        return None
    from omnishop.channels.models import Channel

    # The service needs only the channel's identity; a bare instance avoids a query on the hot path.
    return service(channel=Channel(pk=channel_id), variant_ids=variant_ids)


def product_availability(variant_ids: list[int], stock: dict[int, int] | None) -> dict | None:
    if stock is None:
        return None
    return _promise(sum(max(stock.get(v, 0), 0) for v in variant_ids))


def _promise(quantity: int) -> dict:
    """A card's availability from the units its product's published variants may promise."""
    return {"in_stock": quantity > 0, "quantity": quantity}


# --- product cards --------------------------------------------------------------------------------------


def _cards(rows: list[tuple]) -> tuple[list[dict], list[int], int | None]:
    """Product rows (in page order) to cards; returns the cards, all their variant ids and the channel id.
    Rows read with their stock (page_rows(with_stock=True), card_rows) give each card its availability;
    otherwise it is None and the card keeps its variant ids (`_variants`) for the caller to ask inventory."""
    cards: list[dict] = []
    variant_ids: list[int] = []
    channel_id = None
    for (
        pid,
        slug,
        title,
        cpath,
        cname,
        img_url,
        img_alt,
        ch_id,
        currency,
        ids,
        low,
        high,
        compare,
        ltitle,
        *stock,
    ) in rows:
        channel_id = ch_id
        own = ids if isinstance(ids, list) else [int(v) for v in ids.split(",")]
        variant_ids += own
        cards.append(
            {
                "id": pid,
                "slug": slug,
                "title": ltitle or title,
                "category": {"path": cpath, "name": cname} if cpath is not None else None,
                "image": {"url": img_url, "alt": img_alt} if img_url is not None else None,
                "price": {
                    "currency": currency,
                    "min": _amount(low, currency),
                    "max": _amount(high, currency),
                },
                "compare_at_price": _amount(compare, currency),
                "availability": _promise(stock[0]) if stock else None,
                "_sort": title,
            }
        )
        if not stock:
            cards[-1]["_variants"] = own
    return cards, variant_ids, channel_id


def product_page(*, channel_code: str, query: PageQuery) -> dict:
    """One page of a channel's published products with price range and availability."""
    with queries.prepared_statements():
        return _product_page(channel_code, query)


def _product_page(channel_code: str, query: PageQuery) -> dict:
    ordering = query.ordering
    after = decode_cursor(query.cursor, ordering) if query.cursor else None
    if after is not None and not _valid_keyset(after, ordering):
        raise InvalidCursor("The cursor is not one this API issued.", field="cursor")
    wanted = query.limit + 1  # one more than a page tells whether there is a next page
    stock_in_page = queries.stock_in_page(ordering, query.q)
    items: list[dict] = []
    first_batch = True
    while True:
        # Stock filtering happens after the page query (stock belongs to inventory): fetch full batches
        # and refill from where the last batch ended until the page is full or the catalog ends.
        batch = wanted - len(items) if query.in_stock is None else wanted
        rows = queries.page_rows(
            channel_code=channel_code,
            ordering=ordering,
            after=after,
            limit=batch,
            category_path=query.category,
            q=query.q,
            with_stock=stock_in_page,
        )
        if not rows:
            if first_batch and queries.channel_currency(channel_code) is None:
                raise ChannelNotFound(f"No active channel '{channel_code}'.", field="channel_code")
            break
        first_batch = False
        cards, variant_ids, channel_id = _cards(rows)
        if not stock_in_page:
            stock = availability(channel_id, variant_ids)
            for card in cards:
                card["availability"] = product_availability(card.pop("_variants"), stock)
            if stock is None and query.in_stock is not None:
                raise InStockFilterUnavailable(field="in_stock")
        if query.in_stock is None:
            items.extend(cards)
            break
        items.extend(c for c in cards if c["availability"]["in_stock"] is query.in_stock)
        if len(items) >= wanted or len(cards) < batch:
            break
        last = cards[-1]
        after = (_sort_value(last, ordering), last["id"])
    next_cursor = None
    if len(items) > query.limit:
        del items[query.limit :]
        last = items[-1]
        next_cursor = encode_cursor(ordering, _sort_value(last, ordering), last["id"])
    for card in items:
        del card["_sort"]
    return {"items": items, "next_cursor": next_cursor}


def _sort_value(card: dict, ordering: str):
    return card["id"] if queries.ORDERINGS[ordering][2] == "id" else card["_sort"]


def _valid_keyset(after: tuple, ordering: str) -> bool:
    value, pk = after
    if not isinstance(pk, int) or isinstance(pk, bool):
        return False
    return isinstance(value, int) if queries.ORDERINGS[ordering][2] == "id" else isinstance(value, str)


# --- product detail -------------------------------------------------------------------------------------


def _json(value):
    if value is None:
        return None
    return orjson.Fragment(value) if isinstance(value, str | bytes) else value


def product_detail(*, channel_code: str, slug: str) -> dict:
    """A published product of the channel with all its published variants, images and attributes."""
    with queries.prepared_statements():
        return _product_detail(channel_code, slug)


def _product_detail(channel_code: str, slug: str) -> dict:
    stock_in_detail = queries.stock_in_detail()
    rows = queries.detail_rows(channel_code=channel_code, slug=slug, with_stock=stock_in_detail)
    if not rows:
        if queries.channel_currency(channel_code) is None:
            raise ChannelNotFound(f"No active channel '{channel_code}'.", field="channel_code")
        raise ProductNotFound(f"No product '{slug}' is for sale in this channel.", field="slug")
    first = rows[0]
    (pid, pslug, ptitle, description, brand, pattrs, cpath, cname, ch_id, currency) = first[:10]
    variant_ids = [row[10] for row in rows]
    stock = {row[10]: row[18] for row in rows} if stock_in_detail else availability(ch_id, variant_ids)
    variants = []
    prices = []
    compares = []
    listing_title = None
    for row in rows:
        vid, sku, vtitle, vattrs, price, compare, ltitle = row[10:17]
        listing_title = listing_title or ltitle
        prices.append(price)
        if compare is not None:
            compares.append(compare)
        available = None if stock is None else max(stock.get(vid, 0), 0)
        variants.append(
            {
                "id": vid,
                "sku": sku,
                "title": vtitle,
                "attributes": _json(vattrs),
                "price": _amount(price, currency),
                "compare_at_price": _amount(compare, currency),
                "available": available,
                "in_stock": None if available is None else available > 0,
            }
        )
    images = [
        {"url": url, "alt": alt, "variant_id": variant_id} for url, alt, variant_id in orjson.loads(first[17])
    ]
    return {
        "id": pid,
        "slug": pslug,
        "title": listing_title or ptitle,
        "description": description,
        "brand": brand,
        "category": {"path": cpath, "name": cname} if cpath is not None else None,
        "attributes": _json(pattrs),
        "images": images,
        "price": {
            "currency": currency,
            "min": _amount(min(prices), currency),
            "max": _amount(max(prices), currency),
        },
        "compare_at_price": _amount(max(compares), currency) if compares else None,
        "availability": product_availability(variant_ids, stock),
        "variants": variants,
    }


# --- cards for chosen products (recommendations, search results) -------------------------------------


def cards_for_products(*, channel, product_ids: list[int]) -> list[dict]:
    """Cards (title, link, image, price range, availability) for products the channel sells, in the order
    given; products it does not sell are left out. Three queries whatever the number of products."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return []
    if queries.stock_in_page("id", None):
        # PostgreSQL: the storefront page's statement for these ids, its stock included (ADR 0057).
        chosen = {}
        for card in _cards(queries.card_rows(channel_code=channel.code, product_ids=ids))[0]:
            del card["_sort"], card["category"]
            chosen[card["id"]] = card
        return [chosen[pid] for pid in ids if pid in chosen]
    rows = ChannelListing.objects.filter(
        channel=channel,
        is_published=True,
        variant__is_active=True,
        variant__product__is_active=True,
        variant__product_id__in=ids,
    ).values_list(
        "variant__product_id",
        "variant_id",
        "price",
        "compare_at_price",
        "title",
        "variant__product__title",
        "variant__product__slug",
    )
    found: dict[int, dict] = {}
    for pid, vid, price, compare, ltitle, title, slug in rows:
        card = found.setdefault(
            pid,
            {"id": pid, "slug": slug, "title": ltitle or title, "prices": [], "compare": [], "variants": []},
        )
        card["prices"].append(price)
        card["variants"].append(vid)
        if compare is not None:
            card["compare"].append(compare)
    images: dict[int, tuple[str | None, str]] = {}
    for pid, image_url, image_alt in ProductImage.objects.filter(product_id__in=list(found)).values_list(
        "product_id", "url", "alt"
    ):
        images.setdefault(pid, (image_url, image_alt))
    stock = availability(channel.pk, [v for c in found.values() for v in c["variants"]])
    out = []
    for pid in ids:
        if pid not in found:
            continue
        card = found[pid]
        url, alt = images.get(pid, (None, ""))
        out.append(
            {
                "id": pid,
                "slug": card["slug"],
                "title": card["title"],
                "image": {"url": url, "alt": alt} if url else None,
                "price": {
                    "currency": channel.currency,
                    "min": min(card["prices"]),
                    "max": max(card["prices"]),
                },
                "compare_at_price": max(card["compare"]) if card["compare"] else None,
                "availability": product_availability(card["variants"], stock),
            }
        )
    return out
