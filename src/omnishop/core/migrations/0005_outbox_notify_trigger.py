"""PostgreSQL: every statement that writes outbox events (or stock marks) sends NOTIFY omnishop_outbox.

A statement-level trigger, not a `SELECT pg_notify(...)` from Python: it costs the writer no statement and no
round trip (the checkout path keeps its statement count), and it covers every writer (emit, emit_many,
bulk_create, raw SQL). PostgreSQL delivers the notification at commit — never for a rollback — and sends one
per transaction however many statements raised it (identical channel and payload are coalesced). Relays that
LISTEN wake at once instead of polling (core/outbox.py, ADR 0042). SQLite has no NOTIFY: nothing to do.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION omnishop_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('omnishop_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER core_outboxevent_notify AFTER INSERT ON core_outboxevent
    FOR EACH STATEMENT EXECUTE FUNCTION omnishop_outbox_notify();
CREATE TRIGGER inventory_stockevent_notify AFTER INSERT ON inventory_stockevent
    FOR EACH STATEMENT EXECUTE FUNCTION omnishop_outbox_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS inventory_stockevent_notify ON inventory_stockevent;
DROP TRIGGER IF EXISTS core_outboxevent_notify ON core_outboxevent;
DROP FUNCTION IF EXISTS omnishop_outbox_notify();
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_outbox"),
        ("inventory", "0005_reservation_path_without_shared_row_locks"),
    ]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
