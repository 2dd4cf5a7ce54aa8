"""The per-channel product card (ADR 0059): a PostgreSQL read model kept by triggers on the catalogue's tables.

PostgreSQL only: SQLite keeps reading the catalogue tables themselves (queries.py's portable form), and this
migration does nothing there. The SQL is written out here, not imported, so that the migration stays what
it was when it ran.
"""

from django.db import migrations

# One row per (channel, product) the channel sells: an active product with at least one published listing of
# an active variant in the channel. Exactly the rows and values the storefront's page statement used to compute
# per request from products, variants, listings and images (queries._LISTINGS_AGGREGATE and _FIRST_IMAGE).
CREATE_SQL = r"""
CREATE TABLE storefront_productcard (
    channel_id bigint NOT NULL,
    product_id bigint NOT NULL,
    slug varchar(200) NOT NULL,
    title varchar(500) NOT NULL,
    category_id bigint,
    variant_ids bigint[] NOT NULL,
    low numeric(14, 4) NOT NULL,
    high numeric(14, 4) NOT NULL,
    compare_at numeric(14, 4),
    listing_title varchar(500) NOT NULL,
    image_url varchar(1000),
    image_alt varchar(300),
    PRIMARY KEY (channel_id, product_id)
);
CREATE INDEX storefront_productcard_title ON storefront_productcard (channel_id, title, product_id);

-- The cards of these products, as the catalogue says now (every channel; none for a product no longer sold).
CREATE FUNCTION storefront_card_rows(ids bigint[]) RETURNS SETOF storefront_productcard
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

-- Bring the cards of these products up to date. Refreshes of the same product are serialised on its row
-- (FOR NO KEY UPDATE: inserting a variant or an image, which takes FOR KEY SHARE, is not blocked). After the lock
-- the next statements see every change committed meanwhile, so two transactions changing one product can never
-- leave the card of the one that committed first.
CREATE FUNCTION storefront_refresh_cards(ids bigint[]) RETURNS void
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

-- Every card again, from nothing (after a TRUNCATE of a catalogue table, or by `omnishop rebuild_product_cards`).
CREATE FUNCTION storefront_rebuild_cards() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE storefront_productcard IN EXCLUSIVE MODE;
    DELETE FROM storefront_productcard;
    INSERT INTO storefront_productcard SELECT * FROM storefront_card_rows(ARRAY(SELECT id FROM catalog_product));
END
$$;

-- The trigger functions (the triggers themselves: CREATE_TRIGGERS_SQL below).
CREATE FUNCTION storefront_cards_of_products() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM storefront_refresh_cards(ARRAY(SELECT id FROM new_rows));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM storefront_refresh_cards(ARRAY(SELECT id FROM new_rows));
    ELSE
        PERFORM storefront_refresh_cards(ARRAY(SELECT id FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION storefront_cards_of_owned() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM storefront_refresh_cards(ARRAY(SELECT DISTINCT product_id FROM new_rows));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM storefront_refresh_cards(ARRAY(
            SELECT product_id FROM new_rows UNION SELECT product_id FROM old_rows));
    ELSE
        PERFORM storefront_refresh_cards(ARRAY(SELECT DISTINCT product_id FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION storefront_cards_of_listings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM storefront_refresh_cards(ARRAY(
            SELECT DISTINCT v.product_id FROM new_rows n JOIN catalog_variant v ON v.id = n.variant_id));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM storefront_refresh_cards(ARRAY(
            SELECT v.product_id FROM new_rows n JOIN catalog_variant v ON v.id = n.variant_id
            UNION SELECT v.product_id FROM old_rows o JOIN catalog_variant v ON v.id = o.variant_id));
    ELSE
        PERFORM storefront_refresh_cards(ARRAY(
            SELECT DISTINCT v.product_id FROM old_rows o JOIN catalog_variant v ON v.id = o.variant_id));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION storefront_cards_rebuilt() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM storefront_rebuild_cards();
    RETURN NULL;
END
$$;

"""

# Statement-level triggers: one refresh per statement, whatever number of rows it wrote (COPY and bulk inserts
# included). Each table hands over the products its changed rows belong to, before and after the change; a
# TRUNCATE, which fires no row or statement trigger of those kinds, rebuilds every card.
TRIGGERS = (
    ("catalog_product", "storefront_cards_of_products"),
    ("catalog_variant", "storefront_cards_of_owned"),
    ("catalog_productimage", "storefront_cards_of_owned"),
    ("catalog_channellisting", "storefront_cards_of_listings"),
)
_TRANSITIONS = {
    "ins": ("INSERT", "NEW TABLE AS new_rows"),
    "upd": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    "del": ("DELETE", "OLD TABLE AS old_rows"),
}
CREATE_TRIGGERS_SQL = "".join(
    f"CREATE TRIGGER storefront_cards_{name} AFTER {event} ON {table} REFERENCING {tables}"
    f" FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
    for table, function in TRIGGERS
    for name, (event, tables) in _TRANSITIONS.items()
) + "".join(
    f"CREATE TRIGGER storefront_cards_truncate AFTER TRUNCATE ON {table}"
    " FOR EACH STATEMENT EXECUTE FUNCTION storefront_cards_rebuilt();\n"
    for table, _ in TRIGGERS
)
DROP_TRIGGERS_SQL = "".join(
    f"DROP TRIGGER storefront_cards_{name} ON {table};\n"
    for table, _ in TRIGGERS
    for name in (*_TRANSITIONS, "truncate")
)

DROP_SQL = r"""
DROP FUNCTION storefront_cards_rebuilt();
DROP FUNCTION storefront_cards_of_listings();
DROP FUNCTION storefront_cards_of_owned();
DROP FUNCTION storefront_cards_of_products();
DROP FUNCTION storefront_rebuild_cards();
DROP FUNCTION storefront_refresh_cards(bigint[]);
DROP FUNCTION storefront_card_rows(bigint[]);
DROP TABLE storefront_productcard;
"""


def _run(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: several statements in one call


def create(apps, schema_editor):
    _run(schema_editor, CREATE_SQL)
    _run(schema_editor, CREATE_TRIGGERS_SQL)
    _run(schema_editor, "SELECT storefront_rebuild_cards()")


def drop(apps, schema_editor):
    _run(schema_editor, DROP_TRIGGERS_SQL)
    _run(schema_editor, DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("storefront", "0001_initial"),
        ("catalog", "0003_offer_landed_cost"),
        ("channels", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
