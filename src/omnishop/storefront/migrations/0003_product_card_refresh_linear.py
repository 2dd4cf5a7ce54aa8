"""Product cards (ADR 0059): a refresh of many products costs time in proportion to them, whatever the statistics.

0002's functions matched the products with `= ANY(ids)`, which PostgreSQL searches linearly for every row it
tests, ran the DELETE's correlated `NOT EXISTS` over the set-returning function once per card, and found a
product's cards with no index on the product (the key leads with the channel). A `bulk_create` of 20,000
listings took 30.8 s with the triggers against 0.84 s without.

A trigger runs in the transaction that is filling the tables, so the planner's statistics can say "five rows"
of a table that now holds thousands (the clean-clone run: feeds' 20,000-row test took 145 s on PostgreSQL after
other tests had left the tables analysed nearly empty; 4,000 products did not finish in 2 minutes by hand). The
planner had started each product's aggregate from all the channel's listings (600 products: 17.7 s). The
functions therefore run with sequential scans off and read a product's variants, then each variant's listings,
in that order (OFFSET 0), each through its index whatever the statistics say; a product's cards are found
through a new index on the product, and the fresh cards are computed once per refresh. The same 20,000 listings
take 1.05 s on statistics of a nearly empty catalogue (1.26 s on current ones).
"""

from django.db import migrations

REPLACE_SQL = r"""
CREATE INDEX storefront_productcard_product ON storefront_productcard (product_id);

CREATE OR REPLACE FUNCTION storefront_card_rows(ids bigint[]) RETURNS SETOF storefront_productcard
LANGUAGE sql STABLE SET enable_seqscan = off AS $$
    SELECT a.channel_id, p.id, p.slug, p.title, p.category_id, a.variant_ids, a.low, a.high, a.compare_at,
           a.listing_title, img.url, img.alt
    FROM (SELECT DISTINCT unnest(ids) AS id) wanted
    JOIN catalog_product p ON p.id = wanted.id AND p.is_active
    JOIN LATERAL (
        -- The product's variants first, then each one's listings (OFFSET 0 keeps that order): statistics taken
        -- before the transaction filled the tables could otherwise start from all the channel's listings.
        SELECT l.channel_id, array_agg(v.id ORDER BY v.id) AS variant_ids, MIN(l.price) AS low,
               MAX(l.price) AS high, MAX(l.compare_at_price) AS compare_at, MAX(l.title) AS listing_title
        FROM (SELECT v.id FROM catalog_variant v WHERE v.product_id = p.id AND v.is_active OFFSET 0) v
        CROSS JOIN LATERAL (
            SELECT l.channel_id, l.price, l.compare_at_price, l.title FROM catalog_channellisting l
            WHERE l.variant_id = v.id AND l.is_published OFFSET 0
        ) l
        GROUP BY l.channel_id
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT i.url, i.alt FROM catalog_productimage i WHERE i.product_id = p.id
        ORDER BY i.position, i.id LIMIT 1
    ) img ON true
$$;

CREATE OR REPLACE FUNCTION storefront_refresh_cards(ids bigint[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
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

def _run(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: several statements in one call


def replace(apps, schema_editor):
    _run(schema_editor, REPLACE_SQL)


class Migration(migrations.Migration):
    dependencies = [("storefront", "0002_product_card")]

    # Going back keeps these definitions (0002's triggers call them by name and they give the same cards);
    # going back past 0002 drops the table, its index and the functions.
    operations = [migrations.RunPython(replace, migrations.RunPython.noop)]
