"""The read-replica routing without a replica (the default, and every SQLite run): nothing changes.

The routing itself, against a real hot standby, is tested in storefront/tests/test_read_replica.py.
"""

from __future__ import annotations

import os

import pytest
from django.core import signing
from django.db import connections, router

from omnishop.catalog.models import Product
from omnishop.core import dbrouting

without_replica = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_REPLICA_URL")), reason="the suite runs with a configured replica"
)


@without_replica
def test_without_a_replica_marked_reads_use_the_one_database_and_no_router_or_middleware_is_installed(
    db, settings
):
    assert dbrouting.REPLICA not in connections.settings
    assert settings.DATABASE_ROUTERS == []
    assert "omnishop.core.dbrouting.ReadYourWritesMiddleware" not in settings.MIDDLEWARE
    with dbrouting.reads_from_replica():
        assert dbrouting.read_alias() == "default"
        assert dbrouting.read_connection() is connections["default"]
        assert router.db_for_read(Product) == "default"
        assert Product.objects.all().db == "default"


@without_replica
def test_a_post_leaves_no_sticky_cookie_without_a_replica(db, client):
    answer = client.post("/api/v1/storefront/web/products", {})
    assert dbrouting.COOKIE not in answer.cookies


def test_the_sticky_cookie_pins_only_while_it_is_fresh_and_genuine(settings):
    settings.OMNISHOP_REPLICA_STICKY_SECONDS = 5
    fresh = dbrouting.sticky_cookie_value()
    assert dbrouting.cookie_pins(fresh)
    assert not dbrouting.cookie_pins(None)
    assert not dbrouting.cookie_pins("1:forged:signature")
    other_salt = signing.TimestampSigner(salt="something else").sign("1")
    assert not dbrouting.cookie_pins(other_salt)
    settings.OMNISHOP_REPLICA_STICKY_SECONDS = -1  # the same cookie, past its window (no sleeping)
    assert not dbrouting.cookie_pins(fresh)


@pytest.mark.parametrize(
    ("sql", "pinned", "sticky"),
    [
        ('INSERT INTO "catalog_product" ("title") VALUES (%s)', True, True),
        ('  update "inventory_stocklevel" SET "on_hand" = 1', True, True),
        ("WITH moved AS (DELETE FROM cart_line RETURNING id) SELECT count(*) FROM moved", True, True),
        ('UPDATE "django_session" SET "session_data" = %s', True, False),
        ('INSERT INTO "recommendations_event" ("kind") VALUES (%s)', True, False),
        ('SELECT "catalog_product"."id" FROM "catalog_product"', False, False),
    ],
)
def test_a_write_pins_its_request_and_only_a_real_write_makes_the_client_sticky(sql, pinned, sticky):
    with dbrouting.request_scope(pinned=False) as state:
        dbrouting.note_statement(sql)
        assert (state.pinned, state.wrote) == (pinned, sticky)
    dbrouting.note_statement(sql)  # outside a request: nothing to pin, no error
