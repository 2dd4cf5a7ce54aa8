"""Product cards (ADR 0059): a refresh stays linear under any cached plan.

PL/pgSQL caches a statement's plan per connection and switches to a generic plan after a few calls; in a
generic plan `unnest(ids)` is ten rows whatever the array holds, and tables may be estimated from the moment
the plan was made (the full suite's connection: an empty, truncated catalogue). 0003's lock statement then
joined every locked product against the whole array (feeds' 20,000-row test: 199,990,000 rows removed by the
join filter, 36 s for each of the product and the variant inserts; 82 s in the full PostgreSQL suite, 5 s alone).

No statement of a refresh now has a join whose order the planner could get wrong:
- the products (to lock, to compute, to delete cards of) are read with `= ANY(ids)` as an index condition
  (sequential scans are off inside the functions), which the B-tree sorts and searches once per element;
- the fresh cards are computed per product through LATERAL subqueries only (nested loops by construction);
- the one join left, the DELETE's anti-join against the fresh cards, runs with nested loops off (a hash or a
  merge join: linear whichever it picks); the card computation turns them back on for itself (planned without
  them, its LATERAL-only statement took the planner about 200 ms a call, even for one product);
- a listing's product is looked up the same way (`= ANY` over the transition table's variant ids).
"""

from django.db import migrations

REPLACE_SQL = r"""
-- Nested loops back on: the caller turns them off, and a LATERAL-only statement planned without them costs
-- the planner about 200 ms (an SQL function is planned at every call).
CREATE OR REPLACE FUNCTION storefront_card_rows(ids bigint[]) RETURNS SETOF storefront_productcard
LANGUAGE sql STABLE SET enable_seqscan = off SET enable_nestloop = on AS $$
    SELECT a.channel_id, p.id, p.slug, p.title, p.category_id, a.variant_ids, a.low, a.high, a.compare_at,
           a.listing_title, img.url, img.alt
    FROM catalog_product p
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
    WHERE p.id = ANY(ids) AND p.is_active
$$;

CREATE OR REPLACE FUNCTION storefront_refresh_cards(ids bigint[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_nestloop = off AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM catalog_product p WHERE p.id = ANY(ids) ORDER BY p.id FOR NO KEY UPDATE OF p;
    WITH fresh AS MATERIALIZED (SELECT * FROM storefront_card_rows(ids)),
    gone AS (
        DELETE FROM storefront_productcard c
        WHERE c.product_id = ANY(ids)
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

CREATE OR REPLACE FUNCTION storefront_cards_of_listings() RETURNS trigger
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM storefront_refresh_cards(ARRAY(
            SELECT DISTINCT v.product_id FROM catalog_variant v
            WHERE v.id = ANY(ARRAY(SELECT variant_id FROM new_rows))));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM storefront_refresh_cards(ARRAY(
            SELECT DISTINCT v.product_id FROM catalog_variant v
            WHERE v.id = ANY(ARRAY(SELECT variant_id FROM new_rows UNION ALL SELECT variant_id FROM old_rows))));
    ELSE
        PERFORM storefront_refresh_cards(ARRAY(
            SELECT DISTINCT v.product_id FROM catalog_variant v
            WHERE v.id = ANY(ARRAY(SELECT variant_id FROM old_rows))));
    END IF;
    RETURN NULL;
END
$$;
"""


def replace(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(REPLACE_SQL)  # no parameters: several statements in one call


class Migration(migrations.Migration):
    dependencies = [("storefront", "0003_product_card_refresh_linear")]

    # Going back keeps these definitions (the triggers call them by name and they give the same cards); going
    # back past 0002 drops them.
    operations = [migrations.RunPython(replace, migrations.RunPython.noop)]
