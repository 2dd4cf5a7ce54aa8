"""Product cards (ADR 0059): a refresh of many products costs time in proportion to them.

0002's functions matched the products with `= ANY(ids)`. PostgreSQL searches a parameter's array linearly for
every row it tests, and the DELETE ran its correlated `NOT EXISTS` over the set-returning function once per
card. A `bulk_create` of 20,000 listings took 30.8 s with the triggers against 0.84 s without (by hand; in the
suite, feeds' test of 20,000 rows took 34–189 s on PostgreSQL against 5.6 s on SQLite). The products now come
from `unnest` joined to the tables, and the fresh cards are computed once per refresh: the same bulk insert
takes 1.26 s, and 8,000 listings 0.46 s.
"""

from django.db import migrations

REPLACE_SQL = r"""
CREATE OR REPLACE FUNCTION storefront_card_rows(ids bigint[]) RETURNS SETOF storefront_productcard
LANGUAGE sql STABLE AS $$
    SELECT a.channel_id, p.id, p.slug, p.title, p.category_id, a.variant_ids, a.low, a.high, a.compare_at,
           a.listing_title, img.url, img.alt
    FROM (SELECT DISTINCT unnest(ids) AS id) wanted
    JOIN catalog_product p ON p.id = wanted.id AND p.is_active
    JOIN LATERAL (
        SELECT l.channel_id, array_agg(v.id ORDER BY v.id) AS variant_ids, MIN(l.price) AS low,
               MAX(l.price) AS high, MAX(l.compare_at_price) AS compare_at, MAX(l.title) AS listing_title
        FROM catalog_variant v
        JOIN catalog_channellisting l ON l.variant_id = v.id AND l.is_published
        WHERE v.product_id = p.id AND v.is_active
        GROUP BY l.channel_id
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT i.url, i.alt FROM catalog_productimage i WHERE i.product_id = p.id
        ORDER BY i.position, i.id LIMIT 1
    ) img ON true
$$;

CREATE OR REPLACE FUNCTION storefront_refresh_cards(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM catalog_product p JOIN (SELECT DISTINCT unnest(ids) AS id) wanted ON p.id = wanted.id
    ORDER BY p.id FOR NO KEY UPDATE OF p;
    WITH fresh AS MATERIALIZED (SELECT * FROM storefront_card_rows(ids)),
    gone AS (
        DELETE FROM storefront_productcard c
        USING (SELECT DISTINCT unnest(ids) AS id) wanted
        WHERE c.product_id = wanted.id
          AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.channel_id = c.channel_id AND f.product_id = c.product_id)
    )
    INSERT INTO storefront_productcard AS c SELECT * FROM fresh
    ON CONFLICT (channel_id, product_id) DO UPDATE
    SET slug = EXCLUDED.slug, title = EXCLUDED.title, category_id = EXCLUDED.category_id,
        variant_ids = EXCLUDED.variant_ids, low = EXCLUDED.low, high = EXCLUDED.high,
        compare_at = EXCLUDED.compare_at, listing_title = EXCLUDED.listing_title,
        image_url = EXCLUDED.image_url, image_alt = EXCLUDED.image_alt
    WHERE (c.slug, c.title, c.category_id, c.variant_ids, c.low, c.high, c.compare_at, c.listing_title,
           c.image_url, c.image_alt)
          IS DISTINCT FROM
          (EXCLUDED.slug, EXCLUDED.title, EXCLUDED.category_id, EXCLUDED.variant_ids, EXCLUDED.low, EXCLUDED.high,
           EXCLUDED.compare_at, EXCLUDED.listing_title, EXCLUDED.image_url, EXCLUDED.image_alt);
END
$$;
"""

# 0002's definitions, for going back.
RESTORE_SQL = r"""
CREATE OR REPLACE FUNCTION storefront_card_rows(ids bigint[]) RETURNS SETOF storefront_productcard
LANGUAGE sql STABLE AS $$
    SELECT a.channel_id, p.id, p.slug, p.title, p.category_id, a.variant_ids, a.low, a.high, a.compare_at,
           a.listing_title, img.url, img.alt
    FROM catalog_product p
    JOIN LATERAL (
        SELECT l.channel_id, array_agg(v.id ORDER BY v.id) AS variant_ids, MIN(l.price) AS low,
               MAX(l.price) AS high, MAX(l.compare_at_price) AS compare_at, MAX(l.title) AS listing_title
        FROM catalog_variant v
        JOIN catalog_channellisting l ON l.variant_id = v.id AND l.is_published
        WHERE v.product_id = p.id AND v.is_active
        GROUP BY l.channel_id
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT i.url, i.alt FROM catalog_productimage i WHERE i.product_id = p.id
        ORDER BY i.position, i.id LIMIT 1
    ) img ON true
    WHERE p.id = ANY(ids) AND p.is_active
$$;

CREATE OR REPLACE FUNCTION storefront_refresh_cards(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM catalog_product WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    DELETE FROM storefront_productcard c
    WHERE c.product_id = ANY(ids)
      AND NOT EXISTS (SELECT 1 FROM storefront_card_rows(ids) f
                      WHERE f.channel_id = c.channel_id AND f.product_id = c.product_id);
    INSERT INTO storefront_productcard AS c SELECT * FROM storefront_card_rows(ids)
    ON CONFLICT (channel_id, product_id) DO UPDATE
    SET slug = EXCLUDED.slug, title = EXCLUDED.title, category_id = EXCLUDED.category_id,
        variant_ids = EXCLUDED.variant_ids, low = EXCLUDED.low, high = EXCLUDED.high,
        compare_at = EXCLUDED.compare_at, listing_title = EXCLUDED.listing_title,
        image_url = EXCLUDED.image_url, image_alt = EXCLUDED.image_alt
    WHERE (c.slug, c.title, c.category_id, c.variant_ids, c.low, c.high, c.compare_at, c.listing_title,
           c.image_url, c.image_alt)
          IS DISTINCT FROM
          (EXCLUDED.slug, EXCLUDED.title, EXCLUDED.category_id, EXCLUDED.variant_ids, EXCLUDED.low, EXCLUDED.high,
           EXCLUDED.compare_at, EXCLUDED.listing_title, EXCLUDED.image_url, EXCLUDED.image_alt);
END
$$;
"""


def _run(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: several statements in one call


def replace(apps, schema_editor):
    _run(schema_editor, REPLACE_SQL)


def restore(apps, schema_editor):
    _run(schema_editor, RESTORE_SQL)


class Migration(migrations.Migration):
    dependencies = [("storefront", "0002_product_card")]

    operations = [migrations.RunPython(replace, restore)]
