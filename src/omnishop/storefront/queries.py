"""The storefront's SQL: one statement for a page of product cards, one for a product's detail.

Hand-written SQL on purpose: this is the hottest read path of the platform, and building an ORM queryset
costs more Python time than the database spends answering. Both statements are portable between
SQLite and PostgreSQL except for the string and JSON aggregates, which each vendor spells differently. Only
published listings of active variants of active products in an active channel are ever selected; the
channel is matched by code inside the statement, so channel A's listings cannot leak into channel B.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cache, lru_cache

from django.apps import apps
from django.conf import settings

from omnishop.core import statements
from omnishop.core.dbrouting import read_connection

_CHANNEL_CTE = "WITH ch AS (SELECT id, currency FROM channels_channel WHERE code = %s AND is_active)"
# The page's products when they are chosen by whether any published listing of an active variant exists.
_CHOSEN_BY_EXISTS = """
    FROM catalog_product p
    WHERE p.is_active {where}
      AND EXISTS (
        SELECT 1 FROM catalog_variant v
        JOIN catalog_channellisting l ON l.variant_id = v.id
        WHERE v.product_id = p.id AND v.is_active AND l.is_published
          AND l.channel_id = (SELECT id FROM ch) {listing_where})
    ORDER BY {order}
    LIMIT {limit:d}"""
_FIRST_IMAGE = "SELECT i.url, i.alt FROM catalog_productimage i WHERE i.product_id = p.id ORDER BY i.position, i.id LIMIT 1"
# A product's published listings of active variants in the channel, aggregated (PostgreSQL).
_LISTINGS_AGGREGATE = """
        SELECT array_agg(v.id) AS variant_ids, MIN(l.price) AS low, MAX(l.price) AS high,
               MAX(l.compare_at_price) AS compare_at, MAX(l.title) AS title, count(*) AS n
        FROM catalog_variant v
        JOIN catalog_channellisting l ON l.variant_id = v.id
        WHERE v.product_id = p.id AND v.is_active AND l.is_published AND l.channel_id = (SELECT id FROM ch)"""

# One row per product of the page, in page order, with its published variants' ids and price range.
_PAGE_SQL = f"""
{_CHANNEL_CTE},
page AS (
    SELECT p.id, p.slug, p.title, p.category_id,
        (SELECT i.url FROM catalog_productimage i WHERE i.product_id = p.id
         ORDER BY i.position, i.id LIMIT 1) AS image_url,
        (SELECT i.alt FROM catalog_productimage i WHERE i.product_id = p.id
         ORDER BY i.position, i.id LIMIT 1) AS image_alt{_CHOSEN_BY_EXISTS}
)
SELECT p.id, p.slug, p.title, c.path, c.name, p.image_url, p.image_alt, ch.id, ch.currency,
       {{variant_ids}}, MIN(l.price), MAX(l.price), MAX(l.compare_at_price), MAX(l.title)
FROM page p
CROSS JOIN ch
JOIN catalog_variant v ON v.product_id = p.id AND v.is_active
JOIN catalog_channellisting l ON l.variant_id = v.id AND l.channel_id = ch.id AND l.is_published
LEFT JOIN catalog_category c ON c.id = p.category_id
GROUP BY p.id, p.slug, p.title, c.path, c.name, p.image_url, p.image_alt, ch.id, ch.currency
ORDER BY {{order}}
"""

# PostgreSQL's forms of the same page (ADR 0054; SQLite has no LATERAL and keeps _PAGE_SQL). Both aggregate
# each product's published listings in one LATERAL subquery and read its first image once, after the LIMIT —
# instead of joining the listings a second time, grouping by nine keys and reading the first image twice.
# Same rows, same order as _PAGE_SQL: test_page_forms.py compares them on PostgreSQL.
#
# In id order (the default) without a search term the aggregate also chooses the page: the primary key is
# walked in order and each product's listings are read once, until the page is full. (With a term that few
# titles match, every product's listings would be aggregated: twice the time of the EXISTS, measured.)
_PAGE_SQL_BY_ID = f"""
{_CHANNEL_CTE},
page AS (
    SELECT p.id, p.slug, p.title, p.category_id,
           a.variant_ids, a.low, a.high, a.compare_at, a.title AS listing_title
    FROM catalog_product p
    CROSS JOIN LATERAL ({_LISTINGS_AGGREGATE}
    ) a
    WHERE p.is_active {{where}} AND a.n > 0
    ORDER BY {{order}}
    LIMIT {{limit:d}}
){{stock_cte}}
SELECT p.id, p.slug, p.title, c.path, c.name, img.url, img.alt, ch.id, ch.currency,
       p.variant_ids, p.low, p.high, p.compare_at, p.listing_title{{stock_column}}
FROM page p
CROSS JOIN ch
LEFT JOIN LATERAL ({_FIRST_IMAGE}) img ON true
LEFT JOIN catalog_category c ON c.id = p.category_id{{stock_join}}
ORDER BY {{order}}
"""

# The page read from the per-channel product cards (ADR 0059, PostgreSQL): one indexed range read of
# storefront_productcard, which triggers on the catalogue's tables keep equal to what _LISTINGS_AGGREGATE and
# _FIRST_IMAGE compute, in the writing transaction. Any ordering without a search term (a term also matches the
# titles of every listing, which a card does not hold). test_page_forms.py compares it with the portable form.
_PAGE_SQL_CARD = f"""
{_CHANNEL_CTE},
page AS (
    SELECT p.id, p.slug, p.title, p.category_id, p.variant_ids, p.low, p.high, p.compare_at, p.listing_title,
           p.image_url, p.image_alt
    FROM (SELECT product_id AS id, slug, title, category_id, variant_ids, low, high, compare_at, listing_title,
                 image_url, image_alt
          FROM storefront_productcard WHERE channel_id = (SELECT id FROM ch)) p
    WHERE true {{where}}
    ORDER BY {{order}}
    LIMIT {{limit:d}}
){{stock_cte}}
SELECT p.id, p.slug, p.title, c.path, c.name, p.image_url, p.image_alt, ch.id, ch.currency,
       p.variant_ids, p.low, p.high, p.compare_at, p.listing_title{{stock_column}}
FROM page p
CROSS JOIN ch
LEFT JOIN catalog_category c ON c.id = p.category_id{{stock_join}}
ORDER BY {{order}}
"""

# In title order, or with a search term, the page is chosen as in _PAGE_SQL, whose EXISTS stops at a
# product's first matching listing: in title order every product is looked at before the first row is known.
_PAGE_SQL_LATERAL = f"""
{_CHANNEL_CTE},
page AS (
    SELECT p.id, p.slug, p.title, p.category_id{_CHOSEN_BY_EXISTS}
)
SELECT p.id, p.slug, p.title, c.path, c.name, img.url, img.alt, ch.id, ch.currency,
       a.variant_ids, a.low, a.high, a.compare_at, a.title
FROM page p
CROSS JOIN ch
CROSS JOIN LATERAL ({_LISTINGS_AGGREGATE}
) a
LEFT JOIN LATERAL ({_FIRST_IMAGE}) img ON true
LEFT JOIN catalog_category c ON c.id = p.category_id
ORDER BY {{order}}
"""

# The units each product of the page may promise in the channel: inventory's own SQL (sellable_sql) read once
# for all the page's variants and summed per product — the page's stock in the page's statement instead of a
# statement of its own (ADR 0057). Only in the by-id form, whose `page` holds each product's variant ids.
_STOCK_CTE = """,
stock AS (
    SELECT pv.id, SUM(s.available) AS available
    FROM (SELECT page.id, unnest(page.variant_ids) AS variant_id FROM page) pv
    JOIN ({sellable}) s ON s.variant_id = pv.variant_id
    GROUP BY pv.id
)"""
_STOCK_COLUMN = ",\n       COALESCE(st.available, 0)::bigint"
_STOCK_JOIN = "\nLEFT JOIN stock st ON st.id = p.id"


@cache
def _sellable_sql():
    """inventory.services.sellable_sql, imported late (the storefront runs without the inventory context);
    None when that context is not installed."""
    if not apps.is_installed("omnishop.inventory"):
        return None
    from importlib import import_module

    return import_module("omnishop.inventory.services").sellable_sql


@cache
def _stock_cte() -> str | None:
    """The page's stock CTE; None when the inventory context is not installed."""
    sellable_sql = _sellable_sql()
    if sellable_sql is None:
        return None
    return _STOCK_CTE.format(
        sellable=sellable_sql(
            channel="(SELECT id FROM ch)", match="= ANY(ARRAY(SELECT unnest(variant_ids) FROM page))"
        )
    )


def _cards_on(vendor: str) -> bool:
    """Whether pages without a search term are read from the product cards (ADR 0059)."""
    return vendor == "postgresql" and settings.OMNISHOP_STOREFRONT_CARDS


def stock_in_page(ordering: str, q: str | None) -> bool:
    """Whether page_rows(with_stock=True) ends each row with the units the product may promise: the by-id form
    or the cards on PostgreSQL with the inventory context installed. Otherwise the caller asks inventory itself."""
    return (
        (ordering in ("id", "-id") or _cards_on(read_connection().vendor))
        and not q
        and settings.OMNISHOP_STOREFRONT_STOCK_IN_PAGE
        and settings.OMNISHOP_STOREFRONT_LATERAL_PAGE
        and read_connection().vendor == "postgresql"
        and _stock_cte() is not None
    )


# The product's published variant ids as "12,13,14" (PostgreSQL's forms: an array of ints).
_VARIANT_IDS = {"postgresql": "string_agg(v.id::text, ',')", "sqlite": "group_concat(v.id, ',')"}

ORDERINGS = {
    # name: (ORDER BY clause, keyset condition for "after the cursor row", sort column)
    "id": ("p.id", "AND p.id > %s", "id"),
    "-id": ("p.id DESC", "AND p.id < %s", "id"),
    # Row values, which PostgreSQL turns into one index condition on (channel, title, product) of the cards.
    "title": ("p.title, p.id", "AND (p.title, p.id) > (%s, %s)", "title"),
    "-title": ("p.title DESC, p.id DESC", "AND (p.title, p.id) < (%s, %s)", "title"),
}

_DETAIL_SQL = """
SELECT p.id, p.slug, p.title, p.description, p.brand, {product_attributes}, c.path, c.name, ch.id, ch.currency,
       v.id, v.sku, v.title, {variant_attributes}, l.price, l.compare_at_price, l.title,
       {images}{stock_column}
FROM catalog_product p
JOIN channels_channel ch ON ch.code = %s AND ch.is_active
JOIN catalog_variant v ON v.product_id = p.id AND v.is_active
JOIN catalog_channellisting l ON l.variant_id = v.id AND l.channel_id = ch.id AND l.is_published
LEFT JOIN catalog_category c ON c.id = p.category_id{stock_join}
WHERE p.slug = %s AND p.is_active
ORDER BY v.position, v.id
"""

# [[url, alt, variant_id], ...] as JSON text, in display order.
_IMAGES = {
    "postgresql": (
        "(SELECT coalesce(json_agg(json_build_array(i.url, i.alt, i.variant_id) ORDER BY i.position, i.id),"
        " '[]')::text FROM catalog_productimage i WHERE i.product_id = p.id)"
    ),
    "sqlite": (
        "(SELECT json_group_array(json_array(i.url, i.alt, i.variant_id)) FROM"
        " (SELECT url, alt, variant_id FROM catalog_productimage WHERE product_id = p.id"
        " ORDER BY position, id) i)"
    ),
}

_DETAIL_BY_VENDOR: dict[tuple[str, bool], str] = {}

_CHANNEL_SQL = "SELECT id, currency FROM channels_channel WHERE code = %s AND is_active"


@contextmanager
def prepared_statements():
    """On PostgreSQL, run this block's statements as server-side prepared statements.

    Planning the page statement costs the server about twice what executing it does; a prepared
    statement is planned once per connection. Django leaves psycopg's automatic preparation off (it
    breaks transaction-mode PgBouncer before 1.21), so it is switched on only inside the storefront's
    read scope, for its own statements and the inventory availability query it calls.
    `OMNISHOP_STOREFRONT_PREPARE=0` turns it off.
    """
    connection = read_connection()
    if connection.vendor != "postgresql" or not settings.OMNISHOP_STOREFRONT_PREPARE:
        yield
        return
    connection.ensure_connection()
    with statements.preparing(True, on=connection, bind_on_server=True):
        yield


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page_rows(
    *,
    channel_code: str,
    ordering: str,
    after: tuple | None,
    limit: int,
    category_path: str | None,
    q: str | None,
    with_stock: bool = False,
) -> list[tuple]:
    """Rows of up to `limit` products after the keyset `after` (sort value, id); with_stock (only when
    stock_in_page() says so): each row ends with the units the product's published variants may promise."""
    _, keyset, _ = ORDERINGS[ordering]
    where: list[str] = []
    params: list = [channel_code]
    if after is not None:
        where.append(keyset)
        value, pk = after
        params.extend([pk] if keyset.count("%s") == 1 else [value, pk])
    if category_path is not None:
        where.append(
            "AND p.category_id IN (SELECT id FROM catalog_category WHERE path = %s OR path LIKE %s ESCAPE '\\')"
        )
        params.extend([category_path, _escape_like(category_path) + "/%"])
    listing_where = ""
    listing_params: list = []
    if q:
        pattern = f"%{_escape_like(q.upper())}%"
        # A product matches on its own title or on the title this channel lists it under.
        listing_where = "AND (UPPER(p.title) LIKE %s ESCAPE '\\' OR UPPER(l.title) LIKE %s ESCAPE '\\')"
        listing_params = [pattern, pattern]
    connection = read_connection()
    lateral = connection.vendor == "postgresql" and settings.OMNISHOP_STOREFRONT_LATERAL_PAGE
    # LIMIT is a literal (a validated int), not a parameter: a prepared statement's generic plan cannot
    # see a parameter's value, assumes a large page and hash-joins whole tables (measured: 4× slower).
    sql = _page_sql(
        connection.vendor,
        lateral,
        " ".join(where),
        listing_where,
        ordering,
        int(limit),
        with_stock and lateral,
        _cards_on(connection.vendor),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *listing_params])
        return cursor.fetchall()


def card_rows(*, channel_code: str, product_ids: list[int]) -> list[tuple]:
    """page_rows' rows (with the stock column) for chosen products the channel sells, in id order: the cards
    of recommendations and search results in one statement. Only when stock_in_page("id", None) says so."""
    sql = _page_sql(
        "postgresql", True, "AND p.id = ANY(%s)", "", "id", len(product_ids), True, _cards_on("postgresql")
    )
    with read_connection().cursor() as cursor:
        cursor.execute(sql, [channel_code, product_ids])
        return cursor.fetchall()


@lru_cache(maxsize=256)
def _page_sql(
    vendor: str,
    lateral: bool,
    where: str,
    listing_where: str,
    ordering: str,
    limit: int,
    with_stock: bool,
    cards: bool = False,
) -> str:
    order = ORDERINGS[ordering][0]
    # The card form (ADR 0059) in any ordering, else the by-id form in id order: both end with the page's stock.
    template = None
    if lateral and not listing_where:
        template = _PAGE_SQL_CARD if cards else _PAGE_SQL_BY_ID if ordering in ("id", "-id") else None
    if template is not None:
        stock = (_stock_cte() or "") if with_stock else ""
        return template.format(
            where=where,
            order=order,
            limit=limit,
            stock_cte=stock,
            stock_column=_STOCK_COLUMN if stock else "",
            stock_join=_STOCK_JOIN if stock else "",
        )
    if lateral:
        return _PAGE_SQL_LATERAL.format(where=where, listing_where=listing_where, order=order, limit=limit)
    return _PAGE_SQL.format(
        where=where,
        listing_where=listing_where,
        order=order,
        limit=limit,
        variant_ids=_VARIANT_IDS.get(vendor, _VARIANT_IDS["sqlite"]),
    )


def stock_in_detail() -> bool:
    """Whether detail_rows(with_stock=True) ends each variant's row with the units it may promise (ADR 0057)."""
    return (
        settings.OMNISHOP_STOREFRONT_STOCK_IN_PAGE
        and read_connection().vendor == "postgresql"
        and _sellable_sql() is not None
    )


def detail_rows(*, channel_code: str, slug: str, with_stock: bool = False) -> list[tuple]:
    """One row per published variant of the product `slug` in the channel; none if it is not for sale.
    with_stock (only when stock_in_detail() says so): each row ends with the units the variant may promise."""
    connection = read_connection()
    vendor = connection.vendor
    sql = _DETAIL_BY_VENDOR.get((vendor, with_stock))
    if sql is None:
        cast = "::text" if vendor == "postgresql" else ""
        stock_join = ""
        if with_stock:
            sellable = _sellable_sql()(channel="ch.id", match="= v.id")  # with_stock: stock_in_detail()
            stock_join = f"\nLEFT JOIN LATERAL ({sellable}) st ON true"
        sql = _DETAIL_BY_VENDOR[vendor, with_stock] = _DETAIL_SQL.format(
            product_attributes=f"p.attributes{cast}",
            variant_attributes=f"v.attributes{cast}",
            images=_IMAGES.get(vendor, _IMAGES["sqlite"]),
            stock_column=",\n       COALESCE(st.available, 0)" if with_stock else "",
            stock_join=stock_join,
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel_code, slug])
        return cursor.fetchall()


def channel_currency(channel_code: str) -> str | None:
    """The currency of an active channel, or None when there is no such active channel."""
    with read_connection().cursor() as cursor:
        cursor.execute(_CHANNEL_SQL, [channel_code])
        row = cursor.fetchone()
    return row[1] if row else None


def channel_id(channel_code: str) -> int | None:
    with read_connection().cursor() as cursor:
        cursor.execute(_CHANNEL_SQL, [channel_code])
        row = cursor.fetchone()
    return row[0] if row else None
