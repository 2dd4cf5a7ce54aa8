"""The Shopify connector against the fake Shopify Admin GraphQL API 2025-01 (fakes/shopify.py), written from
https://shopify.dev/docs/api/admin-graphql/2025-01 — inventorySetQuantities, productVariantsBulkUpdate,
orders, fulfillmentCreate, orderCancel, refundCreate, tagsAdd — and the webhook page
https://shopify.dev/docs/apps/build/webhooks/subscribe/https."""

from __future__ import annotations

from decimal import Decimal

import orjson

from omnishop.catalog.models import ChannelListing
from omnishop.connectors import services
from omnishop.connectors.models import ConnectorTask, ListingMapping, OrderMapping, SyncLog
from omnishop.orders.models import Order

from .conftest import Event, drain


def test_stock_push_sets_the_channels_available_to_promise_with_compare_and_set(shopify_shop):
    v = shopify_shop.variant(sku="TEE-S", stock=7)
    shopify_shop.fake.add_product(sku="TEE-S", quantity=2)
    services.sink(
        [Event("stock.availability_changed", shopify_shop.channel.code, {"sku": "TEE-S", "available": 7})]
    )
    drain()
    assert shopify_shop.fake.available("TEE-S") == 7
    mapping = ListingMapping.objects.get(sku="TEE-S")
    assert mapping.variant == v and mapping.last_quantity == 7
    # Someone sold one on Shopify meanwhile: the compare-and-set notices, learns the figure and sets ours.
    item = shopify_shop.fake.variant_by_sku("TEE-S")["inventoryItem"]
    shopify_shop.fake.inventory[(item, "gid://shopify/Location/1")] = 6
    services.enqueue(connection=shopify_shop.connection, operation="stock", key="TEE-S")
    drain()
    assert shopify_shop.fake.available("TEE-S") == 7
    sets = [
        orjson.loads(r.body)["variables"]["input"]["quantities"][0]
        for r in shopify_shop.fake.requests
        if b"inventorySetQuantities" in r.body
    ]
    # First push: learnt 2, set 7. Second: compared with 7 (stale: 6), learnt 6, set 7 comparing with 6.
    assert [(q["compareQuantity"], q["quantity"]) for q in sets] == [(2, 7), (7, 7), (6, 7)]


def test_price_push_updates_variant_prices_and_publication(shopify_shop):
    shopify_shop.variant(sku="MUG", price="12.50")
    shopify_shop.fake.add_product(sku="MUG", price="9.00", status="DRAFT")
    services.sink(
        [
            Event(
                "listing.changed",
                shopify_shop.channel.code,
                {"sku": "MUG", "price": "12.50", "currency": "GBP", "published": True},
            )
        ]
    )
    drain()
    variant = shopify_shop.fake.variant_by_sku("MUG")
    assert variant["price"] == "12.50"
    assert shopify_shop.fake.products[variant["product"]]["status"] == "ACTIVE"


def test_a_listing_not_on_shopify_yet_is_created_with_its_variant(shopify_shop):
    shopify_shop.variant(sku="NEW-1", price="5.00", stock=3)
    services.enqueue(connection=shopify_shop.connection, operation="listing", key="NEW-1")
    services.enqueue(connection=shopify_shop.connection, operation="stock", key="NEW-1")
    drain()
    assert shopify_shop.fake.count("create", "NEW-1") == 1
    assert shopify_shop.fake.variant_by_sku("NEW-1")["price"] == "5.00"
    assert shopify_shop.fake.available("NEW-1") == 3


def test_a_price_in_the_wrong_currency_is_refused_with_a_clear_error(shopify_shop):
    v = shopify_shop.variant(sku="EUR-1", price="10.00")
    shopify_shop.fake.add_product(sku="EUR-1", price="8.00")
    ChannelListing.objects.filter(variant=v).update(currency="EUR")
    services.enqueue(connection=shopify_shop.connection, operation="listing", key="EUR-1")
    drain()
    task = ConnectorTask.objects.get(operation="listing", key="EUR-1")
    assert task.status == "failed" and task.error_code == "currency_mismatch"
    assert "EUR" in task.error_message and "GBP" in task.error_message
    assert shopify_shop.fake.variant_by_sku("EUR-1")["price"] == "8.00"
    assert SyncLog.objects.filter(operation="listing", error_code="currency_mismatch").exists()


def test_orders_are_pulled_by_cursor_once_and_acknowledged(shopify_shop):
    shopify_shop.variant(sku="TEE-S", price="10.00", stock=10)
    oid = shopify_shop.fake.add_order(lines=[("TEE-S", 2, "10.00")])
    shopify_shop.fake.add_order(lines=[("TEE-S", 1, "10.00")], paid=False)
    counts = services.pull_orders(connection=shopify_shop.connection)
    assert counts["imported"] == 1
    again = services.pull_orders(connection=shopify_shop.connection)
    assert again["imported"] == 0
    assert Order.objects.filter(channel=shopify_shop.channel).count() == 1
    mapping = OrderMapping.objects.get(remote_order_id=oid)
    assert mapping.order.external_id == oid and mapping.order.status == "paid"
    assert mapping.acknowledged_at is not None
    assert f"omnishop:{mapping.order.number}" in shopify_shop.fake.orders[oid]["tags"]
    assert shopify_shop.fake.count("tags", oid) == 1
    # The cursor went forward: the second pull asked only for orders updated since the newest seen.
    queries = [orjson.loads(r.body) for r in shopify_shop.fake.requests if b"query orders" in r.body]
    assert queries[0]["variables"]["query"] is None
    assert "updated_at:>=" in queries[-1]["variables"]["query"]


def test_orders_are_paged_through_with_end_cursor(shopify_shop):
    shopify_shop.variant(sku="TEE-S", price="10.00", stock=200)
    for _ in range(60):
        shopify_shop.fake.add_order(lines=[("TEE-S", 1, "10.00")])
    counts = services.pull_orders(connection=shopify_shop.connection)
    assert counts["imported"] == 60
    pages = [
        orjson.loads(r.body)["variables"]["after"]
        for r in shopify_shop.fake.requests
        if b"query orders" in r.body
    ]
    assert pages[0] is None and pages[1] is not None


def test_an_order_for_an_unknown_sku_is_recorded_not_lost(shopify_shop):
    oid = shopify_shop.fake.add_order(lines=[("NOPE", 1, "10.00")])
    counts = services.pull_orders(connection=shopify_shop.connection)
    assert counts["failed"] == 1
    mapping = OrderMapping.objects.get(remote_order_id=oid)
    assert (
        mapping.status == "failed" and mapping.error_code == "unknown_sku" and "NOPE" in mapping.error_message
    )
    assert mapping.payload["id"] == oid
    log = SyncLog.objects.filter(operation="pull_orders").first()
    assert log.count_failed == 1 and log.error_code == "unknown_sku"
    # Once the SKU exists, a retry imports it.
    shopify_shop.variant(sku="NOPE", stock=5)
    services.retry_failed_order(mapping=mapping)
    mapping.refresh_from_db()
    assert mapping.status == "imported" and mapping.order is not None


def test_fulfilment_with_tracking_reaches_shopify_once(shopify_shop):
    shopify_shop.variant(sku="TEE-S", stock=10)
    oid = shopify_shop.fake.add_order(lines=[("TEE-S", 1, "10.00")])
    services.pull_orders(connection=shopify_shop.connection)
    order = OrderMapping.objects.get(remote_order_id=oid).order
    shipped = {
        "order": {"number": order.number, "currency": "GBP"},
        "change": {"after": {"fulfilment": 1, "carrier": "Royal Mail", "tracking_number": "RM123GB"}},
    }
    services.sink([Event("order.shipped", shopify_shop.channel.code, shipped)])
    drain()
    services.enqueue(
        connection=shopify_shop.connection,
        operation="fulfilment",
        key=f"{order.number}:1",
        payload={
            "number": order.number,
            "fulfilment": 1,
            "carrier": "Royal Mail",
            "tracking_number": "RM123GB",
        },
    )
    drain()
    fulfilments = shopify_shop.fake.orders[oid]["fulfillments"]
    assert len(fulfilments) == 1
    assert list(ConnectorTask.objects.values_list("status", "error_code")) == [
        ("done", ""),
        ("done", "already_applied"),
    ]
    assert fulfilments[0]["trackingInfo"][0] == {"company": "Royal Mail", "number": "RM123GB", "url": None}


def test_cancellation_and_refund_reach_shopify(shopify_shop):
    shopify_shop.variant(sku="TEE-S", stock=10)
    oid = shopify_shop.fake.add_order(lines=[("TEE-S", 1, "10.00")])
    services.pull_orders(connection=shopify_shop.connection)
    number = OrderMapping.objects.get(remote_order_id=oid).order.number
    order = {"number": number, "currency": "GBP"}
    services.sink(
        [
            Event(
                "order.refunded",
                shopify_shop.channel.code,
                {"order": order, "change": {"kind": "payment", "after": {"refunded": "4.00"}}},
            ),
            Event(
                "order.cancelled",
                shopify_shop.channel.code,
                {"order": order, "change": {"kind": "cancelled", "after": {}}},
            ),
        ]
    )
    drain()
    assert shopify_shop.fake.orders[oid]["cancelledAt"] is not None
    assert shopify_shop.fake.count("cancel", oid) == 1 and shopify_shop.fake.count("refund", oid) == 1
    assert "4.00 GBP" in shopify_shop.fake.orders[oid]["refunds"][0]["note"]
    # The same cumulative refund announced again is not a second refund.
    services.enqueue(
        connection=shopify_shop.connection,
        operation="refund",
        key=number,
        payload={"number": number, "refunded_total": "4.00", "currency": "GBP"},
    )
    drain()
    assert shopify_shop.fake.count("refund", oid) == 1


def test_orders_of_other_channels_are_not_sent_to_shopify(shopify_shop):
    services.sink(
        [
            Event(
                "order.shipped",
                shopify_shop.channel.code,
                {"order": {"number": "WEB-1"}, "change": {"after": {"fulfilment": 1}}},
            )
        ]
    )
    assert not ConnectorTask.objects.exists()


def test_a_signed_webhook_queues_a_pull_of_that_order(shopify_shop, api):
    shopify_shop.variant(sku="TEE-S", stock=10)
    oid = shopify_shop.fake.add_order(lines=[("TEE-S", 1, "10.00")])
    body, headers = shopify_shop.fake.webhook("orders/create", oid)
    response = api.post(
        f"/connectors/shopify/{shopify_shop.channel.code}/webhooks", raw=body, headers=headers
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"topic": "orders/create", "queued": True}
    drain()
    assert OrderMapping.objects.get(remote_order_id=oid).status == "imported"


def test_a_webhook_with_a_bad_signature_is_refused_and_nothing_is_applied(shopify_shop, api):
    oid = shopify_shop.fake.add_order(lines=[("TEE-S", 1, "10.00")])
    body, headers = shopify_shop.fake.webhook("orders/create", oid, secret="not-the-secret")
    response = api.post(
        f"/connectors/shopify/{shopify_shop.channel.code}/webhooks", raw=body, headers=headers
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    body, headers = shopify_shop.fake.webhook("orders/create", oid)
    response = api.post(
        f"/connectors/shopify/{shopify_shop.channel.code}/webhooks", raw=body + b" ", headers=headers
    )
    assert response.status_code == 401
    assert not ConnectorTask.objects.exists()


def test_reconcile_repairs_drift_injected_into_shopify(shopify_shop):
    shopify_shop.variant(sku="A", price="10.00", stock=5)
    shopify_shop.variant(sku="B", price="20.00", stock=8)
    shopify_shop.fake.add_product(sku="A", price="10.00", quantity=0)
    shopify_shop.fake.add_product(sku="B", price="20.00", quantity=0)
    services.sync_now(connection=shopify_shop.connection)
    services.enqueue(connection=shopify_shop.connection, operation="listing", key="A")
    services.enqueue(connection=shopify_shop.connection, operation="listing", key="B")
    drain()
    clean = services.reconcile(connection=shopify_shop.connection)
    assert (clean.checked, clean.stock_drift, clean.price_drift) == (2, 0, 0)
    # Drift: someone edits Shopify by hand.
    item = shopify_shop.fake.variant_by_sku("A")["inventoryItem"]
    shopify_shop.fake.inventory[(item, "gid://shopify/Location/1")] = 99
    shopify_shop.fake.variant_by_sku("B")["price"] = "1.00"
    report = services.reconcile(connection=shopify_shop.connection)
    assert (report.stock_drift, report.price_drift, report.repairs_enqueued) == (1, 1, 2)
    assert {d["sku"] for d in report.differences} == {"A", "B"}
    drain()
    assert shopify_shop.fake.available("A") == 5
    assert shopify_shop.fake.variant_by_sku("B")["price"] == "20.00"
    after = services.reconcile(connection=shopify_shop.connection)
    assert (after.stock_drift, after.price_drift) == (0, 0)


def test_listing_prices_are_sent_with_two_decimals(shopify_shop):
    shopify_shop.variant(sku="P", price="3.1")
    shopify_shop.fake.add_product(sku="P", price="1.00")
    services.enqueue(connection=shopify_shop.connection, operation="listing", key="P")
    drain()
    assert shopify_shop.fake.variant_by_sku("P")["price"] == "3.10"
    assert ListingMapping.objects.get(sku="P").last_price == Decimal("3.1")


def test_a_malformed_shopify_order_is_recorded_and_the_pull_goes_on(shopify_shop):
    shopify_shop.variant(sku="TEE", stock=5)
    bad = shopify_shop.fake.add_order(lines=[("TEE", 1, "10.00")])
    del shopify_shop.fake.orders[bad]["lineItems"]
    good = shopify_shop.fake.add_order(lines=[("TEE", 1, "10.00")])
    counts = services.pull_orders(connection=shopify_shop.connection)
    assert (counts["imported"], counts["failed"]) == (1, 1)
    assert OrderMapping.objects.get(remote_order_id=bad).error_code == "malformed_order"
    assert OrderMapping.objects.get(remote_order_id=good).status == "imported"


def test_one_stale_quantity_does_not_hold_back_the_rest_of_the_batch(shopify_shop):
    for sku in ("A", "B"):
        shopify_shop.variant(sku=sku, stock=4)
        shopify_shop.fake.add_product(sku=sku, quantity=0)
    for sku in ("A", "B"):
        services.enqueue(connection=shopify_shop.connection, operation="stock", key=sku)
    drain()
    item = shopify_shop.fake.variant_by_sku("A")["inventoryItem"]
    shopify_shop.fake.inventory[(item, "gid://shopify/Location/1")] = 1  # sold on Shopify
    from omnishop.inventory import services as inventory

    for v in ("A", "B"):
        inventory.receive_stock(
            variant=_variant(v), location=shopify_shop.warehouse, quantity=1, reference="t"
        )
        services.enqueue(connection=shopify_shop.connection, operation="stock", key=v)
    services.work_due()  # one round, no backoff
    assert (shopify_shop.fake.available("A"), shopify_shop.fake.available("B")) == (5, 5)
    assert set(ConnectorTask.objects.values_list("status", flat=True)) == {"done"}


def _variant(sku):
    from omnishop.catalog.models import Variant

    return Variant.objects.get(sku=sku)
