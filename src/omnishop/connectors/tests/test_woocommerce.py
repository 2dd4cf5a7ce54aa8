"""The WooCommerce connector against the fake WooCommerce REST API v3 (fakes/woocommerce.py), written from
https://woocommerce.github.io/woocommerce-rest-api-docs/ (#batch-update-products,
#batch-update-product-variations, #list-all-orders, #pagination, #create-an-order-note, #update-an-order,
#create-a-refund) and https://woocommerce.com/document/webhooks/ (X-WC-Webhook-Signature)."""

from __future__ import annotations

import base64

import orjson

from omnishop.connectors import services
from omnishop.connectors.models import ConnectorTask, ListingMapping, OrderMapping, SyncLog
from omnishop.orders.models import Order

from .conftest import Event, drain


def test_stock_of_simple_products_and_variations_goes_out_in_batches_of_at_most_100(woo_shop):
    fake = woo_shop.fake
    skus = [f"S-{i}" for i in range(120)]
    for i, sku in enumerate(skus):
        woo_shop.variant(sku=sku, stock=i + 1)
        fake.add_product(sku=sku, quantity=0)
    woo_shop.variant(sku="SHIRT-M", stock=4)
    woo_shop.variant(sku="SHIRT-L", stock=6)
    pid, (m, large) = fake.add_variable(
        name="Shirt", variations=[("SHIRT-M", "10.00", 0), ("SHIRT-L", "10.00", 0)]
    )
    services.sink(
        [
            Event("stock.availability_changed", woo_shop.channel.code, {"sku": s, "available": 1})
            for s in [*skus, "SHIRT-M", "SHIRT-L"]
        ]
    )
    drain()
    assert [fake.item_by_sku(s)["stock_quantity"] for s in skus] == list(range(1, 121))
    assert fake.variations[m]["stock_quantity"] == 4 and fake.variations[large]["stock_quantity"] == 6
    batches = [r for r in fake.requests if r.path.endswith("/batch")]
    assert all(len(r.json()["update"]) <= 100 for r in batches)
    assert any(r.path == f"/wp-json/wc/v3/products/{pid}/variations/batch" for r in batches)
    assert ListingMapping.objects.get(sku="SHIRT-M").remote_variant_id == str(m)
    # Basic auth with the consumer key and secret on every call.
    expected = "Basic " + base64.b64encode(b"ck_demo:cs_demo").decode()
    assert {r.headers["Authorization"] for r in fake.requests} == {expected}


def test_one_refused_item_of_a_batch_fails_alone(woo_shop):
    woo_shop.variant(sku="OK", stock=3)
    woo_shop.variant(sku="GONE", stock=3)
    woo_shop.fake.add_product(sku="OK")
    gone = woo_shop.fake.add_product(sku="GONE")
    services.sink(
        [
            Event("stock.availability_changed", woo_shop.channel.code, {"sku": s, "available": 3})
            for s in ("OK", "GONE")
        ]
    )
    ListingMapping.objects.all().delete()
    services.work_due()  # maps both by SKU and pushes
    assert woo_shop.fake.item_by_sku("OK")["stock_quantity"] == 3
    del woo_shop.fake.products[gone]  # deleted on WooCommerce between mapping and the next push
    services.enqueue(connection=woo_shop.connection, operation="stock", key="OK")
    services.enqueue(connection=woo_shop.connection, operation="stock", key="GONE")
    drain()
    failed = ConnectorTask.objects.get(key="GONE", status="failed")
    assert failed.error_code == "woocommerce_rest_product_invalid_id"
    log = SyncLog.objects.filter(operation="stock").first()
    assert (log.status, log.count_ok, log.count_failed) == ("partial", 1, 1)


def test_prices_and_publication_of_listings(woo_shop):
    v = woo_shop.variant(sku="MUG", price="12.50")
    woo_shop.fake.add_product(sku="MUG", price="9.00")
    from omnishop.catalog.models import ChannelListing

    ChannelListing.objects.filter(variant=v).update(compare_at_price="15.00", is_published=False)
    services.sink(
        [Event("listing.changed", woo_shop.channel.code, {"sku": "MUG", "price": "12.50", "currency": "GBP"})]
    )
    drain()
    item = woo_shop.fake.item_by_sku("MUG")
    assert (item["regular_price"], item["sale_price"], item["price"], item["status"]) == (
        "15.00",
        "12.50",
        "12.50",
        "draft",
    )


def test_a_listing_not_on_woocommerce_is_created_then_stocked(woo_shop):
    woo_shop.variant(sku="NEW", price="4.00", stock=9)
    services.enqueue(connection=woo_shop.connection, operation="listing", key="NEW")
    drain()
    item = woo_shop.fake.item_by_sku("NEW")
    assert (item["regular_price"], item["stock_quantity"], item["status"]) == ("4.00", 9, "publish")


def test_a_price_in_the_wrong_currency_is_refused(woo_shop):
    woo_shop.variant(sku="MUG", price="12.50")
    woo_shop.fake.add_product(sku="MUG", price="9.00")
    services.sink(
        [Event("listing.changed", woo_shop.channel.code, {"sku": "MUG", "price": "12.50", "currency": "USD"})]
    )
    drain()
    task = ConnectorTask.objects.get(operation="listing")
    assert (task.status, task.error_code) == ("failed", "currency_mismatch")
    assert woo_shop.fake.item_by_sku("MUG")["regular_price"] == "9.00"


def test_orders_are_pulled_page_by_page_once_and_acknowledged_with_a_note(woo_shop):
    woo_shop.variant(sku="TEE", price="10.00", stock=500)
    ids = [woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")]) for _ in range(55)]
    woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")], status="pending")
    assert services.pull_orders(connection=woo_shop.connection)["imported"] == 55
    assert services.pull_orders(connection=woo_shop.connection)["imported"] == 0
    assert Order.objects.filter(channel=woo_shop.channel).count() == 55
    pages = [r.query for r in woo_shop.fake.requests if r.path == "/wp-json/wc/v3/orders"]
    assert [p["page"] for p in pages[:2]] == ["1", "2"]
    assert "modified_after" not in pages[0] and "modified_after" in pages[-1]
    number = OrderMapping.objects.get(remote_order_id=str(ids[0])).order.number
    assert woo_shop.fake.notes[ids[0]][0]["note"] == f"Imported into Omnishop as {number}."
    assert all(len(woo_shop.fake.notes[i]) == 1 for i in ids)


def test_an_order_in_another_currency_is_recorded_not_imported(woo_shop):
    woo_shop.variant(sku="TEE", stock=5)
    oid = woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")], currency="USD")
    services.pull_orders(connection=woo_shop.connection)
    mapping = OrderMapping.objects.get(remote_order_id=str(oid))
    assert (mapping.status, mapping.error_code) == ("failed", "currency_mismatch")


def test_an_order_for_an_unknown_sku_is_recorded(woo_shop):
    oid = woo_shop.fake.add_order(lines=[("GHOST", 1, "10.00")])
    services.pull_orders(connection=woo_shop.connection)
    mapping = OrderMapping.objects.get(remote_order_id=str(oid))
    assert (mapping.status, mapping.error_code) == ("failed", "unknown_sku")
    assert not Order.objects.exists()


def test_fulfilment_note_with_tracking_and_completed_status_once(woo_shop):
    woo_shop.variant(sku="TEE", stock=5)
    oid = woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")])
    services.pull_orders(connection=woo_shop.connection)
    number = OrderMapping.objects.get(remote_order_id=str(oid)).order.number
    shipped = {
        "order": {"number": number},
        "change": {"after": {"fulfilment": 7, "carrier": "DPD", "tracking_number": "DPD42"}},
    }
    services.sink([Event("order.shipped", woo_shop.channel.code, shipped)])
    drain()
    services.sink([Event("order.shipped", woo_shop.channel.code, shipped)])  # delivered twice by the relay
    drain()
    notes = [n for n in woo_shop.fake.notes[oid] if "DPD42" in n["note"]]
    assert len(notes) == 1 and notes[0]["customer_note"] is True
    assert woo_shop.fake.orders[oid]["status"] == "completed"


def test_cancellation_and_refund(woo_shop):
    woo_shop.variant(sku="TEE", stock=5)
    oid = woo_shop.fake.add_order(lines=[("TEE", 2, "10.00")])
    services.pull_orders(connection=woo_shop.connection)
    number = OrderMapping.objects.get(remote_order_id=str(oid)).order.number
    refund = Event(
        "order.refunded",
        woo_shop.channel.code,
        {
            "order": {"number": number, "currency": "GBP"},
            "change": {"kind": "payment", "after": {"refunded": "10.00"}},
        },
    )
    services.sink([refund])
    drain()
    services.enqueue(
        connection=woo_shop.connection,
        operation="refund",
        key=refund.event_id,
        payload={"number": number, "amount": "10.00", "currency": "GBP"},
    )
    drain()
    assert [r["amount"] for r in woo_shop.fake.refunds[oid]] == ["10.00"]
    services.sink(
        [Event("order.cancelled", woo_shop.channel.code, {"order": {"number": number}, "change": {}})]
    )
    drain()
    assert woo_shop.fake.orders[oid]["status"] == "cancelled"


def test_signed_webhook_queues_a_pull_and_a_bad_one_is_401(woo_shop, api):
    woo_shop.variant(sku="TEE", stock=5)
    oid = woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")])
    url = f"/connectors/woocommerce/{woo_shop.channel.code}/webhooks"
    body, headers = woo_shop.fake.webhook("order.created", oid, secret="wrong")
    bad = api.post(url, raw=body, headers=headers)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "webhook_signature_invalid"
    assert not ConnectorTask.objects.exists()
    body, headers = woo_shop.fake.webhook("order.created", oid)
    ok = api.post(url, raw=body, headers=headers)
    assert ok.status_code == 200 and ok.json() == {"topic": "order.created", "queued": True}
    # The same delivery again (WooCommerce retries): still one pending pull, still one order.
    api.post(url, raw=body, headers=headers)
    assert ConnectorTask.objects.filter(operation="pull_order").count() == 1
    drain()
    assert Order.objects.filter(external_id=str(oid)).count() == 1


def test_woocommerce_ping_on_webhook_creation_is_answered(woo_shop, api):
    url = f"/connectors/woocommerce/{woo_shop.channel.code}/webhooks"
    response = api.post(url, raw=b"webhook_id=7", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.json()["topic"] == "ping"


def test_webhook_for_an_unknown_channel_is_404(api, woo_shop):
    response = api.post("/connectors/woocommerce/nope/webhooks", raw=b"{}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "connection_not_found"


def test_reconcile_repairs_drift_injected_into_woocommerce(woo_shop):
    woo_shop.variant(sku="A", price="10.00", stock=5)
    woo_shop.fake.add_product(sku="A", price="10.00", quantity=5)
    ListingMapping.objects.all().delete()
    services.enqueue(connection=woo_shop.connection, operation="stock", key="A")
    drain()
    woo_shop.fake.item_by_sku("A")["stock_quantity"] = 0
    woo_shop.fake.item_by_sku("A")["regular_price"] = woo_shop.fake.item_by_sku("A")["price"] = "1.00"
    report = services.reconcile(connection=woo_shop.connection)
    assert (report.checked, report.stock_drift, report.price_drift) == (1, 1, 1)
    drain()
    item = woo_shop.fake.item_by_sku("A")
    assert (item["stock_quantity"], item["price"]) == (5, "10.00")


def test_credentials_are_refused_over_plain_http_to_a_real_host(woo_shop):
    woo_shop.connection.base_url = "http://shop.example.com"
    woo_shop.connection.save()
    services.enqueue(connection=woo_shop.connection, operation="pull_orders")
    services.work_due()
    task = ConnectorTask.objects.get()
    assert (task.status, task.error_code) == ("failed", "https_required")
    assert orjson.dumps(task.error_message)  # recorded, readable


def test_a_malformed_order_is_recorded_and_the_pull_goes_on(woo_shop):
    woo_shop.variant(sku="TEE", stock=5)
    bad = woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")])
    woo_shop.fake.orders[bad]["line_items"][0]["quantity"] = "lots"
    good = woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")])
    counts = services.pull_orders(connection=woo_shop.connection)
    assert (counts["imported"], counts["failed"]) == (1, 1)
    failed = OrderMapping.objects.get(remote_order_id=str(bad))
    assert failed.error_code == "malformed_order" and failed.payload["line_items"][0]["quantity"] == "lots"
    assert OrderMapping.objects.get(remote_order_id=str(good)).status == "imported"


def test_sync_now_publishes_the_catalogue_to_an_empty_shop_and_takes_its_orders(woo_shop, woo_fake):
    """The demo's path: an empty fake shop, driven from outside through its /_fake/ control endpoints."""
    from omnishop.core import egress

    woo_shop.variant(sku="TEE", price="10.00", stock=6)
    woo_shop.variant(sku="MUG", price="7.50", stock=2)
    services.sync_now(connection=woo_shop.connection)
    drain()
    assert (
        woo_shop.fake.item_by_sku("TEE")["stock_quantity"],
        woo_shop.fake.item_by_sku("MUG")["price"],
    ) == (6, "7.50")
    created = egress.request("POST", f"{woo_fake.url}/_fake/orders", json={"lines": [["MUG", 1, "7.50"]]})
    assert created.status_code == 201
    services.sync_now(connection=woo_shop.connection)
    drain()
    assert OrderMapping.objects.get(remote_order_id=str(created.json()["id"])).status == "imported"
    state = egress.request("GET", f"{woo_fake.url}/_fake/state").json()
    assert ["stock", "MUG", "1"] in state["applied"]  # the sale there came back as the new figure
