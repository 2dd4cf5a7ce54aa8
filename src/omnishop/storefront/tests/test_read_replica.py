"""A real streaming read replica (ADR 0030): marked catalogue reads go to it; writes, checkout, a client that
just wrote and a lagging or dead replica go to the primary.

PostgreSQL only. The module starts the replica itself: `pg_basebackup -R` of the running test server (after
pytest-django created the test database, so the replica has it under the same name), started on a free
port as the same OS user as the primary (`postgres` when the suite runs as root, as scripts/pg-start
does), stopped and wiped after the module. The replica only sees committed data, hence `transaction=True`.
"""

from __future__ import annotations

import copy
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from omnishop import testing_replica
from omnishop.catalog.models import Product
from omnishop.conftest import ApiClient
from omnishop.core import dbrouting
from omnishop.inventory import services as inventory
from omnishop.orders.models import Order
from omnishop.orders.tests.conftest import Shop
from omnishop.search import services as search
from omnishop.storefront import queries, response_cache
from omnishop.storefront.tests.test_fast_path import call as fast_path_get
from omnishop.testing_replica import until

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a streaming replica needs PostgreSQL"),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]

MIDDLEWARE = "omnishop.core.dbrouting.ReadYourWritesMiddleware"


def _primary_flush_lsn() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn()")
        return str(cursor.fetchone()[0])


@pytest.fixture(scope="module")
def replica(django_db_setup, django_db_blocker):
    if testing_replica.server_bindir() is None:
        pytest.skip("PostgreSQL server binaries (pg_basebackup) are not installed")
    primary = connections["default"].settings_dict
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('wal_level'), current_setting('max_wal_senders')::int")
        wal_level, senders = cursor.fetchone()
    if wal_level == "minimal" or senders < 1:
        pytest.skip(f"the test server cannot stream WAL (wal_level={wal_level}, max_wal_senders={senders})")
    node = testing_replica.start_replica(
        host=primary["HOST"] or "127.0.0.1", port=primary["PORT"] or 5432, user=primary["USER"] or "postgres"
    )
    try:
        alias = copy.deepcopy(primary)  # the test database's NAME, the same user: only the port differs
        alias.update(HOST="127.0.0.1", PORT=str(node.port), CONN_MAX_AGE=0, OPTIONS={"connect_timeout": 2})
        alias["TEST"] = {**alias.get("TEST", {}), "MIRROR": "default"}  # never created, never flushed
        connections.settings[dbrouting.REPLICA] = alias
        yield node
    finally:
        if dbrouting.REPLICA in connections.settings:
            connections[dbrouting.REPLICA].close()
            del connections[dbrouting.REPLICA]
            del connections.settings[dbrouting.REPLICA]
        dbrouting.forget_replica_health()
        node.remove()


@pytest.fixture
def routed(replica, settings):
    """The project as settings wire it when DATABASE_REPLICA_URL is set: the router and the middleware."""
    settings.DATABASE_ROUTERS = ["omnishop.core.dbrouting.ReplicaRouter"]
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]
    settings.OMNISHOP_REPLICA_MAX_LAG_SECONDS = 3600.0
    settings.OMNISHOP_REPLICA_STICKY_SECONDS = 5
    if not replica.running:  # a test stopped it
        replica.start()
    dbrouting.forget_replica_health()
    yield replica
    if replica.running:
        replica.resume()
    dbrouting.forget_replica_health()


@pytest.fixture
def hoodie(web_channel, make_product, list_in, routed):
    warehouse = inventory.create_location(code="wh", name="Warehouse")
    inventory.set_channel_locations(channel=web_channel, location_codes=[warehouse.code])
    product = make_product("Chaz Kangeroo Hoodie", slug="hoodie")
    list_in(product, web_channel, "52.00")
    search.refresh_index(force=True)  # indexed now, so a search request has nothing to write first
    routed.caught_up_with(_primary_flush_lsn())
    return product


def _title(client: Client) -> str:
    answer = ApiClient(client).get("/storefront/web/products/hoodie")
    assert answer.status_code == 200, answer.content
    return answer.json()["title"]


def test_marked_catalogue_reads_run_on_the_replica_and_writes_and_checkout_on_the_primary(
    hoodie, web_channel, make_key, staff_api
):
    with dbrouting.reads_from_replica():
        with dbrouting.read_connection().cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            assert cursor.fetchone() == (True,)
        assert Product.objects.filter(slug="hoodie").db == "replica"
        with transaction.atomic():  # a transaction on the primary reads its own snapshot
            assert dbrouting.read_alias() == "default"
            assert Product.objects.all().db == "default"
    assert Product.objects.all().db == "default"
    assert dbrouting.read_alias() == "default"

    with CaptureQueriesContext(connections["replica"]) as on_replica:
        assert _title(Client()) == "Chaz Kangeroo Hoodie"  # through Django and the ninja endpoint
        response_cache.clear()  # else the fast path answers the kept body after the version statement alone
        assert fast_path_get("/api/v1/storefront/web/products/hoodie").status_code == 200
    # catalogue version, product, stock (in the product's statement on PostgreSQL, ADR 0057) — for each of the
    # two paths (prepared statements log no SQL text)
    assert len(on_replica.captured_queries) >= 2 * (3 - queries.stock_in_detail())

    # The other marked paths: search, the analytics dashboard, the data hub's quality report. A signed-in
    # user's first request writes their customer record: that request is pinned and the client made sticky.
    assert dbrouting.COOKIE in staff_api.get("/search/products", {"q": "hoodie", "channel": "web"}).cookies
    del staff_api.client.cookies[dbrouting.COOKIE]  # as if 5 s had passed
    for path, params in (
        ("/search/products", {"q": "hoodie", "channel": "web"}),
        ("/analytics/kpis", {}),
        ("/datahub/quality", {}),
    ):
        with CaptureQueriesContext(connections["replica"]) as on_replica:
            answer = staff_api.get(path, params)
        assert answer.status_code == 200, (path, answer.content)
        assert on_replica.captured_queries, path

    # Writes go to the primary, even inside a marked block; so does a whole checkout, which nobody marks.
    with dbrouting.reads_from_replica():
        written = Product.objects.create(title="Written while marked", slug="written")
    assert written._state.db == "default"

    warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
    inventory.set_channel_locations(channel=web_channel, location_codes=["wh", warehouse.code])
    shop = Shop(web_channel, warehouse, make_key)
    variant = shop.variant(stock=3)
    with CaptureQueriesContext(connections["replica"]) as on_replica:
        order = shop.checkout({variant: 1})
    assert on_replica.captured_queries == []
    assert Order.objects.filter(pk=order.pk).exists()


def test_the_replica_is_lagging_only_when_it_has_not_replayed_what_the_primary_wrote(
    hoodie, routed, settings
):
    settings.OMNISHOP_REPLICA_MAX_LAG_SECONDS = 0.2
    settings.OMNISHOP_REPLICA_CHECK_SECONDS = 0.0  # every read checks, so the test sees each change at once
    time.sleep(0.3)  # nothing written: the replica's last replayed transaction grows old, it is not behind
    # (a background WAL record — a standby snapshot — may be in flight for a few ms: wait for it, not for lag)
    until(lambda: dbrouting.replica_health() == dbrouting.ReplicaHealth(True, 0.0, "ok"), timeout=2)

    routed.pause()
    Product.objects.filter(pk=hoodie.pk).update(title="Renamed on the primary")
    time.sleep(0.3)  # the last transaction the replica replayed is now older than the lag allowed
    health = dbrouting.replica_health()
    assert not health.usable and health.lag_seconds is not None and health.lag_seconds > 0.2
    with dbrouting.reads_from_replica():
        assert dbrouting.read_alias() == "default"
    assert _title(Client()) == "Renamed on the primary"

    routed.resume()
    with dbrouting.reads_from_replica():
        until(lambda: dbrouting.read_alias() == "replica")
    assert _title(Client()) == "Renamed on the primary"


def test_a_client_that_wrote_reads_its_write_from_the_primary_while_the_replica_is_behind(
    hoodie, routed, settings, web_channel, make_key
):
    writer = Client()
    secret = make_key(web_channel, scopes=["catalog:master"])
    routed.pause()
    patched = ApiClient(writer).with_key(secret).patch(f"/catalog/products/{hoodie.pk}", {"title": "Renamed"})
    assert patched.status_code == 200, patched.content
    assert dbrouting.COOKIE in patched.cookies

    assert _title(writer) == "Renamed"  # sticky: the primary
    assert (
        _title(Client()) == "Chaz Kangeroo Hoodie"
    )  # anyone else: the paused replica, within the lag allowed

    settings.OMNISHOP_REPLICA_STICKY_SECONDS = 1
    time.sleep(1.1)
    assert _title(writer) == "Chaz Kangeroo Hoodie"  # the cookie has expired: back on the replica
    routed.resume()
    routed.caught_up_with(_primary_flush_lsn())
    assert _title(Client()) == "Renamed"


def test_a_replica_that_is_down_sends_reads_to_the_primary_without_an_error(hoodie, routed, settings):
    settings.OMNISHOP_REPLICA_CHECK_SECONDS = 60  # the last check ("usable") outlives the replica
    with dbrouting.reads_from_replica():
        assert dbrouting.read_alias() == "replica"
    routed.stop("immediate")  # started again by the next test that needs it
    # The cached check still says "usable": the read fails on the replica, the fast path retries on the primary.
    assert fast_path_get("/api/v1/storefront/web/products/hoodie").status_code == 200
    health = dbrouting.replica_health()
    assert not health.usable and "failed" in health.reason
    dbrouting.forget_replica_health()
    assert _title(Client()) == "Chaz Kangeroo Hoodie"
    assert "unreachable" in dbrouting.replica_health().reason


def test_a_replica_that_dies_between_checks_costs_a_django_view_no_error(hoodie, routed, settings):
    """The Django path (ninja endpoints, the analytics pages): a read that fails on a replica that died since
    the last check is run again on the primary, once, and the replica is marked down until the next check."""
    settings.OMNISHOP_REPLICA_CHECK_SECONDS = 60  # the last check ("usable") outlives the replica
    assert _title(Client()) == "Chaz Kangeroo Hoodie"  # read on the replica, health cached as usable
    assert dbrouting.replica_health().usable
    routed.stop("immediate")
    assert _title(Client()) == "Chaz Kangeroo Hoodie"  # 200 (the retry on the primary), not 500
    health = dbrouting.replica_health()
    assert not health.usable and "unreachable" in health.reason
    assert _title(Client()) == "Chaz Kangeroo Hoodie"  # and now straight to the primary, no retry needed


def test_the_web_shops_pages_read_the_catalogue_from_the_replica_and_the_visitor_from_the_primary(
    hoodie, routed, settings, web_channel
):
    settings.OMNISHOP_WEB_CHANNEL = web_channel.code
    routed.pause()
    Product.objects.filter(pk=hoodie.pk).update(title="Renamed on the primary")
    # Signed in while the replica is paused: the session exists on the primary only.
    user = get_user_model().objects.create_user("ada", "ada@example.com", "correct horse")
    shopper = Client()
    shopper.force_login(user)

    guest = Client()
    for path in ("/p/hoodie/", "/", "/sitemap.xml"):
        with CaptureQueriesContext(connections["replica"]) as on_replica:
            page = guest.get(path)
        assert page.status_code == 200, (path, page.status_code)
        assert on_replica.captured_queries, path  # the catalogue came from the replica
        if path != "/sitemap.xml":
            body = page.content.decode()
            # The paused replica's copy, within the lag allowed: the catalogue was read there.
            assert "Chaz Kangeroo Hoodie" in body and "Renamed on the primary" not in body, path

    with CaptureQueriesContext(connections["replica"]) as on_replica:
        page = shopper.get("/p/hoodie/")
    assert page.status_code == 200
    # Signed in: the session, read from the primary (the replica has never seen it).
    assert "Your account" in page.content.decode()
    assert not any("django_session" in (q["sql"] or "") for q in on_replica.captured_queries)

    routed.resume()
    routed.caught_up_with(_primary_flush_lsn())
    assert "Renamed on the primary" in guest.get("/p/hoodie/").content.decode()
