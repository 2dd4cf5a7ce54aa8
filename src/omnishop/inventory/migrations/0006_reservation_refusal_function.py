from django.db import migrations

# ADR 0044: the one-statement reservation writes its rows before it locks the stock rows; when the check on
# the locked rows fails, this function aborts the statement (and so its writes) with a recognisable error.
CREATE = """
CREATE OR REPLACE FUNCTION omnishop_refuse_reservation(line_index integer, promised bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'omnishop:insufficient_stock' USING DETAIL = line_index || ',' || promised;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS omnishop_refuse_reservation(integer, bigint)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0005_reservation_path_without_shared_row_locks")]

    operations = [migrations.RunPython(create, drop)]
