"""Product cards (ADR 0059): a refresh never waits for another transaction's product lock.

0002 serialised refreshes of one product on its row (`FOR NO KEY UPDATE`, held until commit), so that two
transactions changing one product at once could not leave a card without the first one's change. But a lock
held to the end of a transaction orders transactions: two that changed listings of the same two products in
opposite orders deadlocked (measured by hand: one listing of product 1 then one of product 2 against another
listing of product 2 then one of product 1; without the triggers the same four UPDATEs do not conflict).

Now a refresh locks the products it can (`SKIP LOCKED`) and refreshes those. A product another open
transaction holds is written to `storefront_productcard_waiting` instead; that transaction's own refresh does
not see this one's change, so the product is refreshed again after both commit, by the relay
(`storefront.cards.refresh_late_cards`, an `OMNISHOP_RELAY_WORKERS` step: within a relay round). Each such
late refresh then advances `storefront_productcard_late_refreshes` after its commit; the storefront's catalogue
version reads that sequence, so a response cached from the card before the late refresh is not served after it.
"""

from importlib import import_module

from django.db import migrations

FORWARD_SQL = r"""
CREATE TABLE storefront_productcard_waiting (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id bigint NOT NULL  -- no unique key: two transactions marking one product never wait for each other
);
CREATE SEQUENCE storefront_productcard_late_refreshes;

CREATE OR REPLACE FUNCTION storefront_refresh_cards(ids bigint[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_nestloop = off AS $$
DECLARE
    locked bigint[];
    busy bigint[];
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- The products another open transaction holds are skipped here and refreshed once it has ended.
    locked := ARRAY(
        SELECT p.id FROM catalog_product p WHERE p.id = ANY(ids) ORDER BY p.id FOR NO KEY UPDATE OF p SKIP LOCKED);
    -- Every id locked (the triggers pass each product once): nothing is busy, and no second read.
    IF cardinality(locked) = cardinality(ids) THEN
        busy := '{}';
    ELSE
        busy := ARRAY(SELECT p.id FROM catalog_product p WHERE p.id = ANY(ids) EXCEPT SELECT unnest(locked));
    END IF;
    IF cardinality(busy) > 0 THEN
        INSERT INTO storefront_productcard_waiting (product_id) SELECT unnest(busy);
        ids := ARRAY(SELECT unnest(ids) EXCEPT SELECT unnest(busy));
    END IF;
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
"""

BACKWARD_SQL = r"""
DROP TABLE storefront_productcard_waiting;
DROP SEQUENCE storefront_productcard_late_refreshes;
"""


def _run(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: several statements in one call


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD_SQL)


def backward(apps, schema_editor):
    # 0004's functions again (the refresh that waits), then the table they no longer write.
    _run(schema_editor, import_module("omnishop.storefront.migrations.0004_product_card_refresh_any_plan").REPLACE_SQL)
    _run(schema_editor, BACKWARD_SQL)


class Migration(migrations.Migration):
    dependencies = [("storefront", "0004_product_card_refresh_any_plan")]

    operations = [migrations.RunPython(forward, backward)]
