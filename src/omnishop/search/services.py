"""Product search: keeping the index fresh, parsing queries safely, ranking, filtering, facets, type-ahead.

A query is tokenised exactly like the documents (so "手机壳" meets "手机" and "壳", "Cases" meets "case"),
each token is expanded with the merchant's synonyms, and the full-text engine ranks the products holding
all tokens, then — if that finds too few — those holding any. Channel filters (published, price range,
category subtree, attributes, stock) run on the ranked candidates in the database. Every search is logged
as a behaviour event for the recommenders.
"""

from __future__ import annotations

import base64
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, F, Lookup, Max, Q, TextField
from django.db.models.functions import Cast

from omnishop.catalog.models import Category, ChannelListing, Product, Variant
from omnishop.core.dbrouting import reads_from_primary
from omnishop.core.errors import ValidationFailed
from omnishop.core.money import quantize
from omnishop.core.text import normalise, tokenize

from . import spelling
from .backends import Term, backend
from .models import SearchDocument, Synonym

__all__ = [
    "SearchResult",
    "index_products",
    "normalise",
    "search_products",
    "set_synonyms",
    "suggest",
    "tokenize",
]

MAX_QUERY_CHARS = 500
MAX_TERMS = 12
CANDIDATES = 200
SUGGEST_CANDIDATES_PER_ITEM = 4
# Type-ahead ranks at most this many of the products holding the prefix (PostgreSQL: the first the GIN index
# finds); a 3-letter prefix otherwise ranks thousands on every keystroke. Not below CANDIDATES, so a result
# shorter than the candidate limit still means every match was seen.
SUGGEST_RANKED_AT_MOST = 500
INDEX_BATCH = 500


ORDERINGS = ("relevance", "title", "-title", "newest")


class QueryTooLong(ValidationFailed):
    code = "query_too_long"


class QueryEmpty(ValidationFailed):
    code = "query_empty"


class InvalidFilter(ValidationFailed):
    code = "invalid_filter"


# Attribute codes are slugs; "__" would let a filter reach into Django lookups, so it is refused.
_ATTRIBUTE_CODE = re.compile(r"^[a-z0-9](?:[a-z0-9-]|_(?!_)){0,49}$")


# --- indexing ---------------------------------------------------------------------------------------------


def _document_text(product: Product) -> tuple[str, str]:
    values = [str(v) for v in (product.attributes or {}).values() if isinstance(v, str | int | float)]
    for variant in product.variants.all():
        values.extend(str(v) for v in (variant.attributes or {}).values() if isinstance(v, str | int | float))
        values.append(variant.title or "")
    category = ""
    if product.category is not None:
        category = " ".join([product.category.name, product.category.path.replace("/", " ")])
    body = " ".join([product.description or "", product.brand or "", category, *values])
    return " ".join(tokenize(product.title)), " ".join(tokenize(body))


def index_products(*, product_ids: Sequence[int] | None = None) -> int:
    """(Re)index these products, or every product when None; inactive products leave the index."""
    products = Product.objects.select_related("category").prefetch_related("variants").order_by("pk")
    if product_ids is not None:
        products = products.filter(pk__in=list(product_ids))
    engine = backend()
    count = 0
    batch: list[Product] = []

    def flush():
        nonlocal count
        live = [p for p in batch if p.is_active]
        gone = [p.pk for p in batch if not p.is_active]
        docs = []
        rows = []
        for p in live:
            title, body = _document_text(p)
            docs.append((p.pk, title, body))
            rows.append(
                SearchDocument(
                    product_id=p.pk, title_tokens=title, body_tokens=body, source_updated_at=p.updated_at
                )
            )
        with transaction.atomic():
            SearchDocument.objects.filter(product_id__in=[p.pk for p in batch]).delete()
            SearchDocument.objects.bulk_create(rows)
            engine.replace(docs)
            if gone:
                engine.remove(gone)
        spelling.forget()
        count += len(live)
        batch.clear()

    for product in products.iterator(chunk_size=INDEX_BATCH):
        batch.append(product)
        if len(batch) >= INDEX_BATCH:
            flush()
    if batch:
        flush()
    if product_ids is None:
        _drop_orphans()
    return count


def _drop_orphans() -> None:
    orphans = list(
        SearchDocument.objects.exclude(product__in=Product.objects.all()).values_list("product_id", flat=True)
    )
    if orphans:
        backend().remove(orphans)


# A catalogue edit becomes searchable within OMNISHOP_SEARCH_REFRESH_SECONDS (default 1 s): checking
# for changes costs two indexed queries, so one process checks at most that often.
_checked: dict[str, float] = {}


def refresh_index(*, force: bool = False) -> int:
    """Index the products changed since the index last saw them (cheap when nothing changed)."""
    every = float(getattr(settings, "OMNISHOP_SEARCH_REFRESH_SECONDS", 1.0))
    now = time.monotonic()
    if not force and "at" in _checked and _checked["at"] + every > now:
        return 0
    _checked["at"] = now
    with reads_from_primary():  # it reads to write: a lagging replica would index stale products
        seen = SearchDocument.objects.aggregate(m=Max("source_updated_at"))["m"]
        changed = Product.objects.all()
        if seen is not None:
            changed = changed.filter(updated_at__gt=seen)
        ids = list(changed.values_list("pk", flat=True)[:50_000])
        return index_products(product_ids=ids) if ids else 0


def set_synonyms(*, term: str, synonyms: Sequence[str]) -> Synonym:
    """Make searching `term` also find `synonyms` (each may be several words)."""
    tokens = tokenize(term)
    if len(tokens) != 1:
        raise ValidationFailed("A synonym term must be one word.", field="term")
    cleaned = [" ".join(tokenize(s)) for s in synonyms]
    cleaned = [s for s in dict.fromkeys(cleaned) if s and s != tokens[0]]
    synonym, _ = Synonym.objects.update_or_create(term=tokens[0], defaults={"synonyms": cleaned})
    _synonyms_cache.clear()
    return synonym


# The merchant's synonyms are read whole and kept for OMNISHOP_SEARCH_REFRESH_SECONDS, like the index's
# freshness check: a search then costs no statement for them (a table of a few hundred short rows).
_synonyms_cache: dict[str, tuple[float, dict[str, list[str]]]] = {}


def _synonyms() -> dict[str, list[str]]:
    every = float(getattr(settings, "OMNISHOP_SEARCH_REFRESH_SECONDS", 1.0))
    now = time.monotonic()
    cached = _synonyms_cache.get("all")
    if cached is None or cached[0] + every <= now:
        cached = _synonyms_cache["all"] = (now, dict(Synonym.objects.values_list("term", "synonyms")))
    return cached[1]


# --- querying ---------------------------------------------------------------------------------------------


def parse_query(query: str, *, prefix: bool = False) -> list[Term]:
    """Tokens of the query with their synonyms. Operators, quotes and emoji are just separators here."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryTooLong(
            f"A query is at most {MAX_QUERY_CHARS} characters.", field="q", limit=MAX_QUERY_CHARS
        )
    tokens = list(dict.fromkeys(tokenize(query)))[:MAX_TERMS]
    synonyms = _synonyms() if tokens else {}
    ends_in_word = bool(normalise(query)[-1:].isalnum()) if query else False
    terms = []
    for i, token in enumerate(tokens):
        alternatives = [(token,)] + [tuple(s.split()) for s in synonyms.get(token, [])]
        last = i == len(tokens) - 1
        typing = prefix and last and ends_in_word
        if typing and len(token) > 3 and token.endswith("i") and token.isalpha():
            alternatives.append((token[:-1] + "y",))  # "hoodi…" is on its way to "hoodie", indexed "hoody"
        terms.append(Term(tuple(alternatives), prefix=typing))
    return terms


@dataclass(frozen=True)
class Filters:
    category_id: int | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    in_stock: bool = False


@dataclass
class SearchResult:
    items: list[dict]
    total: int
    facets: dict
    next_cursor: str | None
    query_tokens: list[str]
    #: typed word -> the title words it was also read as (only when nothing matched it as typed)
    corrections: dict[str, list[str]] = field(default_factory=dict)
    #: False when the engine stopped at the candidate limit (more products match than were looked at)
    exhaustive: bool = True


class _AnyOf(Lookup):
    """`column = ANY(%s)`: the candidate ids as one array parameter on PostgreSQL. As an IN list of 200
    placeholders (twice per search) they cost Django and psycopg's client-side binding ~3 ms of CPU per
    search to compile and parse, more than the database needed to run the statement."""

    lookup_name = "any_of"
    prepare_rhs = False
    output_field = BooleanField()

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*params, list(self.rhs)]


def _among(column: str, ids: list[int]) -> Q | _AnyOf:
    if connection.vendor == "postgresql":
        return _AnyOf(F(column), ids)
    return Q(**{f"{column}__in": ids})


def _listings(channel, product_ids: Sequence[int] | None, filters: Filters):
    qs = ChannelListing.objects.filter(
        channel=channel, is_published=True, variant__is_active=True, variant__product__is_active=True
    )
    if product_ids is not None:
        # The candidates' variants as a subquery, so listings are found through the (channel, variant)
        # unique index, where a join filtered on the product alone would walk every listing of the channel
        # (SQLite) or hash-join whole tables (PostgreSQL); the product filter as well lets PostgreSQL start
        # from the variant's product index. One statement: no round trip of its own for the variant ids.
        ids = list(product_ids)
        variants = Variant.objects.filter(_among("product_id", ids)).values("pk")
        qs = qs.filter(_among("variant__product_id", ids), variant_id__in=variants)
    if filters.min_price is not None:
        qs = qs.filter(price__gte=filters.min_price)
    if filters.max_price is not None:
        qs = qs.filter(price__lte=filters.max_price)
    if filters.category_id is not None:
        category = Category.objects.filter(pk=filters.category_id).first()
        if category is None:
            raise InvalidFilter(f"No category {filters.category_id}.", field="category")
        qs = qs.filter(variant__product__category__path__startswith=category.path)
    for code, value in filters.attributes.items():
        if not _ATTRIBUTE_CODE.match(code):
            raise InvalidFilter(f"'{code}' is not an attribute code.", field="attr")
        qs = qs.filter(**{f"variant__product__attributes__{code}": value})
    return qs


def _in_stock(channel, variant_ids: list[int]) -> set[int] | None:
    from omnishop.inventory import services as inventory

    if not inventory.channel_locations(channel=channel):
        return None
    return {
        v
        for v, units in inventory.availability_for(channel=channel, variant_ids=variant_ids).items()
        if units > 0
    }


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        offset = int(value)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Invalid cursor.", field="cursor") from None
    if kind != "o" or not 0 <= offset <= CANDIDATES:
        raise ValidationFailed("Invalid cursor.", field="cursor")
    return offset


def search_products(
    *,
    channel,
    query: str,
    filters: Filters | None = None,
    limit: int = 20,
    cursor: str | None = None,
    prefix: bool = False,
    customer=None,
    anonymous_id: str = "",
    log: bool = True,
    ordering: str = "relevance",
    candidates: int = CANDIDATES,
    facets: bool = True,
    rank_at_most: int | None = None,
) -> SearchResult:
    """Products the channel sells that match `query` (and the filters), with facet counts, ranked by
    relevance or ordered over every match by `ordering` (title, -title, newest) before the page is cut."""
    filters = filters or Filters()
    if ordering not in ORDERINGS:
        raise ValidationFailed(f"ordering is one of {', '.join(ORDERINGS)}.", field="ordering")
    if not 1 <= limit <= 100:
        raise ValidationFailed("limit must be between 1 and 100.", field="limit")
    offset = _offset(cursor)
    terms = parse_query(query, prefix=prefix)
    corrections: dict[str, list[str]] = {}
    browsing = not terms
    if browsing and filters == Filters():
        raise QueryEmpty("Give a query with at least one word, or a filter to browse by.", field="q")
    refresh_index()
    exhaustive = True
    if browsing:
        ranked = None
    else:
        engine = backend()
        ranked = engine.match(terms, any_term=False, limit=candidates, rank_at_most=rank_at_most)
        exhaustive = len(ranked) < candidates
        if not ranked and not prefix:
            # Nothing holds every word as typed: read unknown words as the closest title words.
            terms, corrections = spelling.correct(terms, query)
            if corrections:
                ranked = engine.match(terms, any_term=False, limit=candidates)
                exhaustive = len(ranked) < candidates
        if len(ranked) < offset + limit and len(terms) > 1:
            found = {pk for pk, _ in ranked}
            more = engine.match(terms, any_term=True, limit=candidates, rank_at_most=rank_at_most)
            exhaustive = len(more) < candidates
            ranked += [r for r in more if r[0] not in found]
    listings = _listings(channel, [pk for pk, _ in ranked] if ranked is not None else None, filters)
    rows: list[tuple] = []
    if ranked != []:  # when nothing matched there is no listing to read (an empty array would still be sent)
        rows = list(
            listings.values_list(
                "variant__product_id",
                "variant_id",
                "price",
                "currency",
                "title",
                "variant__product__title",
                "variant__product__category__path",
                "variant__product__brand",
                # As text, decoded once per product below: a product comes back once per listed variant.
                Cast("variant__product__attributes", TextField()),
            )[: candidates * 4]
        )
    stocked = _in_stock(channel, [r[1] for r in rows]) if filters.in_stock else None
    by_product: dict[int, dict] = {}
    for pid, vid, price, currency, listing_title, title, path, brand, attributes in rows:
        if stocked is not None and vid not in stocked:
            continue
        entry = by_product.get(pid)
        if entry is None:
            entry = by_product[pid] = {
                "product_id": pid,
                "title": listing_title or title,
                "min_price": price,
                "currency": currency,
                "category": path,
                "brand": brand,
                "attributes": (orjson.loads(attributes) if attributes else None) or {},
            }
        entry["min_price"] = min(entry["min_price"], price)
    if ranked is None:
        order = sorted(by_product)
        scores = dict.fromkeys(order, 0.0)
    else:
        scores = dict(ranked)
        order = [pk for pk, _ in ranked if pk in by_product]
    if ordering == "title":
        order.sort(key=lambda pk: (by_product[pk]["title"].casefold(), pk))
    elif ordering == "-title":
        order.sort(key=lambda pk: (by_product[pk]["title"].casefold(), pk), reverse=True)
    elif ordering == "newest":
        order.sort(reverse=True)
    page = order[offset : offset + limit]
    items = [{**by_product[pk], "score": round(scores[pk], 6)} for pk in page]
    for item in items:
        # Money leaves with the currency's own minor units ("59.00", not the column's "59.0000").
        item["min_price"] = str(quantize(item["min_price"], item["currency"]))
    result = SearchResult(
        items=items,
        total=len(order),
        facets=_facets([by_product[pk] for pk in order]) if facets else {},
        next_cursor=_cursor(offset + limit) if offset + limit < len(order) else None,
        query_tokens=[t.alternatives[0][0] for t in terms],
        corrections=corrections,
        exhaustive=exhaustive,
    )
    if log and query.strip():
        _log(channel, query, [i["product_id"] for i in items], customer, anonymous_id)
    return result


def _facets(entries: list[dict]) -> dict:
    categories = Counter(e["category"].split("/")[0] for e in entries if e["category"])
    brands = Counter(e["brand"] for e in entries if e["brand"])
    attributes: dict[str, Counter] = {}
    for e in entries:
        for code, value in e["attributes"].items():
            if isinstance(value, str | int | bool):
                attributes.setdefault(code, Counter())[str(value)] += 1
    prices = [e["min_price"] for e in entries]
    return {
        "category": [{"value": k, "count": n} for k, n in categories.most_common(20)],
        "brand": [{"value": k, "count": n} for k, n in brands.most_common(20)],
        "attributes": {
            code: [{"value": k, "count": n} for k, n in counts.most_common(20)]
            for code, counts in sorted(attributes.items())
        },
        "price": {
            "min": str(quantize(min(prices), entries[0]["currency"])) if prices else None,
            "max": str(quantize(max(prices), entries[0]["currency"])) if prices else None,
        },
    }


def _log(channel, query, result_ids, customer, anonymous_id) -> None:
    from omnishop.recommendations import services as recommendations

    recommendations.record_search(
        channel=channel, query=query, result_ids=result_ids, customer=customer, anonymous_id=anonymous_id
    )


def suggest(*, channel, query: str, limit: int = 8) -> list[dict]:
    """Type-ahead: titles of products the channel sells whose words start with what was typed."""
    if not 1 <= limit <= 20:
        raise ValidationFailed("limit must be between 1 and 20.", field="limit")
    # The best few candidates usually hold `limit` products the channel sells; the full candidate set is
    # read only when they do not (the page is then the same: candidates come in rank order either way).
    for candidates in (limit * SUGGEST_CANDIDATES_PER_ITEM, CANDIDATES):
        result = search_products(
            channel=channel,
            query=query,
            limit=limit,
            prefix=True,
            log=False,
            candidates=candidates,
            facets=False,
            rank_at_most=SUGGEST_RANKED_AT_MOST,
        )
        if len(result.items) == limit or result.exhaustive:
            break
    return [{"product_id": i["product_id"], "title": i["title"]} for i in result.items]
