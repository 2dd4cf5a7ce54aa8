"""What the connectors promise whatever the channel does: coalesced stock pushes, rate limits and Retry-After
honoured, leases that keep two workers off one task, and a faulty channel (500s, 429s, hangs beyond the
timeout) after which every change has arrived exactly once — while checkouts never wait for a channel.

Fakes: fakes/shopify.py (https://shopify.dev/docs/api/admin-graphql/2025-01, rate limits:
https://shopify.dev/docs/api/usage/rate-limits) and fakes/woocommerce.py
(https://woocommerce.github.io/woocommerce-rest-api-docs/)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.connectors import ratelimit, services
from omnishop.connectors.models import ChannelConnection, ConnectorTask, SyncLog
from omnishop.connectors.services import queue
from omnishop.core import egress

from .conftest import Event, drain


def test_a_newer_stock_figure_replaces_the_pending_older_one(shopify_shop):
    v = shopify_shop.variant(sku="TEE", stock=3)
    shopify_shop.fake.add_product(sku="TEE", quantity=0)
    code = shopify_shop.channel.code
    services.sink([Event("stock.availability_changed", code, {"sku": "TEE", "available": n}) for n in (5, 4)])
    services.sink([Event("stock.availability_changed", code, {"sku": "TEE", "available": 3})])
    task = ConnectorTask.objects.get()
    assert task.payload["available"] == 3
    drain()
    assert shopify_shop.fake.count("stock", "TEE") == 1
    assert shopify_shop.fake.available("TEE") == shopify_shop.available(v) == 3


def test_a_change_while_the_older_push_runs_is_pushed_after_it(shopify_shop):
    shopify_shop.variant(sku="TEE", stock=3)
    code = shopify_shop.channel.code
    services.sink([Event("stock.availability_changed", code, {"sku": "TEE", "available": 3})])
    claimed = queue.claim(connection=shopify_shop.connection, limit=10)
    services.sink([Event("stock.availability_changed", code, {"sku": "TEE", "available": 2})])
    assert ConnectorTask.objects.filter(status="pending").count() == 1  # not merged into the running one
    queue.retry(claimed[0], code="http_5xx", message="boom")  # the running one fails: superseded, not doubled
    assert ConnectorTask.objects.filter(status="pending").count() == 1
    assert ConnectorTask.objects.get(pk=claimed[0].pk).error_code == "superseded"


def test_two_workers_never_claim_the_same_task_and_a_dead_workers_lease_expires(shopify_shop):
    for i in range(6):
        services.enqueue(connection=shopify_shop.connection, operation="stock", key=f"S{i}")
    first = queue.claim(connection=shopify_shop.connection, limit=4)
    second = queue.claim(connection=shopify_shop.connection, limit=4)
    assert len(first) == 4 and len(second) == 2
    assert not {t.pk for t in first} & {t.pk for t in second}
    assert queue.claim(connection=shopify_shop.connection, limit=4) == []
    ConnectorTask.objects.filter(pk=first[0].pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    again = queue.claim(connection=shopify_shop.connection, limit=4)
    assert [t.pk for t in again] == [first[0].pk] and again[0].attempts == 2


def test_token_bucket_allows_a_burst_then_paces(shopify_shop):
    ChannelConnection.objects.filter(pk=shopify_shop.connection.pk).update(
        rate_per_second=2, burst=3, tokens=3, tokens_at=None
    )
    waits = [ratelimit.take(shopify_shop.connection.pk) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0 < waits[3] <= 0.5
    time.sleep(0.55)
    assert ratelimit.take(shopify_shop.connection.pk) == 0.0


def test_the_worker_waits_for_the_bucket_instead_of_calling(woo_shop):
    ChannelConnection.objects.filter(pk=woo_shop.connection.pk).update(
        rate_per_second=0.01, burst=1, tokens=1, tokens_at=None
    )
    for sku in ("A", "B"):
        woo_shop.variant(sku=sku, stock=1)
        woo_shop.fake.add_product(sku=sku)
    services.enqueue(connection=woo_shop.connection, operation="pull_orders")
    services.enqueue(connection=woo_shop.connection, operation="stock", key="A")
    services.work_due()
    # One token: the pull ran (pulls go first); the stock batch waits for the next token — not called, and
    # the attempt is not counted.
    assert ConnectorTask.objects.get(operation="pull_orders").status == "done"
    waiting = ConnectorTask.objects.get(operation="stock")
    assert waiting.status == "pending" and waiting.attempts == 0 and waiting.next_attempt_at > timezone.now()
    assert not [r for r in woo_shop.fake.requests if r.path.endswith("/batch")]


def test_429_retry_after_holds_every_call_to_that_channel(woo_shop):
    woo_shop.variant(sku="A", stock=2)
    woo_shop.fake.add_product(sku="A")
    woo_shop.fake.fail_next(1, "429", retry_after=30)
    services.enqueue(connection=woo_shop.connection, operation="stock", key="A")
    services.work_due()
    connection = ChannelConnection.objects.get(pk=woo_shop.connection.pk)
    assert connection.next_allowed_at > timezone.now() + timedelta(seconds=25)
    calls = len(woo_shop.fake.requests)
    services.enqueue(connection=woo_shop.connection, operation="pull_orders")
    assert services.work_due() == 0
    assert len(woo_shop.fake.requests) == calls
    assert SyncLog.objects.filter(status="retry", error_code="rate_limited").exists()


def test_shopify_throttled_answer_is_a_rate_limit_not_a_failure(shopify_shop):
    shopify_shop.variant(sku="A", stock=2)
    shopify_shop.fake.add_product(sku="A")
    shopify_shop.fake.fail_next(1, "throttled")
    services.enqueue(connection=shopify_shop.connection, operation="stock", key="A")
    answered_by = timezone.now()  # the throttle's wait starts after this; it may be over by the check below
    services.work_due()
    task = ConnectorTask.objects.get()
    assert (task.status, task.error_code) == ("pending", "rate_limited")
    assert ChannelConnection.objects.get().next_allowed_at > answered_by
    drain()
    assert shopify_shop.fake.available("A") == 2


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
def test_a_faulty_channel_gets_every_change_exactly_once_after_it_recovers(request, db, kind):
    shop = request.getfixturevalue("shopify_shop" if kind == "shopify" else "woo_shop")
    fake = shop.fake
    skus = [f"F-{i}" for i in range(8)]
    for i, sku in enumerate(skus):
        shop.variant(sku=sku, price=f"{10 + i}.00", stock=i + 1)
        fake.add_product(sku=sku, price="1.00", quantity=99)
    oid = fake.add_order(lines=[(skus[0], 1, "10.00")])
    services.pull_orders(connection=shop.connection)
    number = shop.connection.orders.get().order.number
    stock_after_sale = {sku: shop.available(v) for sku, v in ((s, _variant(s)) for s in skus)}
    fake.requests.clear()
    # The channel breaks: 500s, 429s with Retry-After, and calls that hang past our timeout.
    fake.fail_next(3, "500")
    fake.fail_next(2, "429", retry_after=0.2)
    fake.fail_next(2, "hang")
    fake.fail_next(2, "500")
    code = shop.channel.code
    services.sink(
        [Event("stock.availability_changed", code, {"sku": s, "available": 0}) for s in skus]
        + [Event("listing.changed", code, {"sku": s, "currency": "GBP"}) for s in skus]
        + [
            Event(
                "order.shipped",
                code,
                {
                    "order": {"number": number},
                    "change": {"after": {"fulfilment": 1, "carrier": "DHL", "tracking_number": "JD0001"}},
                },
            )
        ]
    )
    # Meanwhile a checkout on the same channel: it writes its events and never calls the broken channel.
    from omnishop.orders import services as orders

    orders.create_shipping_method(channel=shop.channel, code="std", name="Standard", kind="flat", price="0")
    calls, started = len(fake.requests), time.monotonic()
    orders.place_order(
        channel=shop.channel,
        quantities={skus[-1]: 1},
        shipping_method="std",
        shipping_address={
            "name": "Ada",
            "line1": "1 Row",
            "city": "London",
            "postcode": "N1 1AA",
            "country": "GB",
        },
        payment=orders.PaymentRequest(provider="test_card", token="4242424242424242"),
        key=f"faulty-{kind}",
        email="ada@example.com",
        actor="test",
    )
    assert len(fake.requests) == calls and time.monotonic() - started < 1.0
    stock_after_sale[skus[-1]] -= 1
    services.enqueue(connection=shop.connection, operation="stock", key=skus[-1])  # what the relay would do
    deadline = time.monotonic() + 60
    while ConnectorTask.objects.filter(status__in=["pending", "running"]).exists():
        assert time.monotonic() < deadline, list(
            ConnectorTask.objects.values("operation", "key", "status", "error_code")
        )
        ConnectorTask.objects.filter(status="pending").update(
            next_attempt_at=timezone.now()
        )  # skip backoff sleeps
        services.work_due()  # Retry-After is honoured for real (0.2 s)
        time.sleep(0.05)
    assert not fake.faults, "every fault was served"
    assert not ConnectorTask.objects.filter(status="failed").exists()
    for i, sku in enumerate(skus):
        assert fake.count("stock", sku) == 1, sku
        quantity = fake.available(sku) if kind == "shopify" else fake.item_by_sku(sku)["stock_quantity"]
        assert quantity == stock_after_sale[sku]
        price = fake.variant_by_sku(sku)["price"] if kind == "shopify" else fake.item_by_sku(sku)["price"]
        assert price == f"{10 + i}.00"
    if kind == "shopify":
        assert fake.count("fulfilment", oid) == 1
        assert fake.orders[oid]["fulfillments"][0]["trackingInfo"][0]["number"] == "JD0001"
    else:
        assert len([n for n in fake.notes[oid] if "JD0001" in n["note"]]) == 1
        assert fake.orders[oid]["status"] == "completed"
    # Each kind of fault was met and recorded as "will retry", never as a lost change.
    seen = set(SyncLog.objects.filter(status="retry").values_list("error_code", flat=True))
    assert {"http_5xx", "rate_limited", "timeout"} <= seen, seen


def _variant(sku):
    from omnishop.catalog.models import Variant

    return Variant.objects.get(sku=sku)


def test_placing_an_order_on_a_connected_channel_makes_no_http_call(shopify_shop, monkeypatch):
    from omnishop.orders import services as orders

    calls = []
    real = egress.request
    monkeypatch.setattr(egress, "request", lambda *a, **k: calls.append(a) or real(*a, **k))
    shopify_shop.variant(sku="TEE", stock=5)
    shopify_shop.fake.add_product(sku="TEE", quantity=5)
    shopify_shop.fake.fail_next(100, "hang")  # a channel that would stall anyone who called it
    orders.create_shipping_method(
        channel=shopify_shop.channel, code="std", name="Standard", kind="flat", price="0"
    )
    started = time.monotonic()
    order = orders.place_order(
        channel=shopify_shop.channel,
        quantities={"TEE": 2},
        shipping_method="std",
        shipping_address={
            "name": "Ada",
            "line1": "1 Row",
            "city": "London",
            "postcode": "N1 1AA",
            "country": "GB",
        },
        payment=orders.PaymentRequest(provider="test_card", token="4242424242424242"),
        key="checkout-1",
        email="ada@example.com",
        actor="test",
    )
    assert order.status == "paid"
    assert time.monotonic() - started < 1.0
    assert calls == [] and shopify_shop.fake.requests == []


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_running_at_once_push_each_change_once(woo_shop):
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    skus = [f"C-{i}" for i in range(60)]
    for i, sku in enumerate(skus):
        woo_shop.variant(sku=sku, stock=i + 1)
        woo_shop.fake.add_product(sku=sku, quantity=999)
    services.sink(
        [Event("stock.availability_changed", woo_shop.channel.code, {"sku": s, "available": 1}) for s in skus]
    )
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        while services.work_due(limit=5):
            pass
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [woo_shop.fake.count("stock", s) for s in skus] == [1] * 60
    assert [woo_shop.fake.item_by_sku(s)["stock_quantity"] for s in skus] == list(range(1, 61))
    assert set(ConnectorTask.objects.values_list("status", flat=True)) == {"done"}


@pytest.mark.django_db
def test_a_finished_import_re_syncs_the_channel_it_wrote_to(woo_shop):
    """Imports write in bulk and announce once: the connected channel gets a full sync, not one push per row."""
    from omnishop.connectors.models import ConnectorTask
    from omnishop.connectors.services.sink import sink
    from omnishop.core import outbox

    woo_shop.variant(sku="IMP-1")
    woo_shop.variant(sku="IMP-2")
    ConnectorTask.objects.all().delete()
    finished = outbox.emit(
        "import.finished",
        aggregate_type="import",
        aggregate_id=1,
        channel=woo_shop.channel.code,
        payload={"job_id": 1, "status": "succeeded", "imported": 2, "updated": 0, "merged": 0},
    )
    failed = outbox.emit(
        "import.finished",
        aggregate_type="import",
        aggregate_id=2,
        channel=woo_shop.channel.code,
        payload={"job_id": 2, "status": "failed", "imported": 0, "updated": 0, "merged": 0},
    )
    sink([failed])
    assert not ConnectorTask.objects.exists()
    sink([finished])
    queued = set(ConnectorTask.objects.values_list("operation", "key"))
    assert {("listing", "IMP-1"), ("stock", "IMP-1"), ("listing", "IMP-2"), ("stock", "IMP-2")} <= queued
