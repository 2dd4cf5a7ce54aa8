"""Through the real outbox: a sale on the web shop reaches Shopify's and WooCommerce's fakes as the new
available quantity; a price change and a shipment with tracking reach the channel; all by the relay loop
(`core.outbox.run_once`: relay → connectors.sink → connectors.work_due). Fakes written from
https://shopify.dev/docs/api/admin-graphql/2025-01 and https://woocommerce.github.io/woocommerce-rest-api-docs/."""

from __future__ import annotations

import time

import pytest

from omnishop.catalog.listings import upsert_listing
from omnishop.connectors import services
from omnishop.connectors.models import OrderMapping
from omnishop.core import outbox
from omnishop.inventory import services as inventory
from omnishop.orders import services as orders

ADDRESS = {"name": "Ada", "line1": "1 Row", "city": "London", "postcode": "N1 1AA", "country": "GB"}


@pytest.fixture(autouse=True)
def relay_settings(settings):
    settings.OMNISHOP_STOCK_EVENT_WINDOW = 0
    assert "omnishop.connectors.services.sink" in settings.OMNISHOP_OUTBOX_SINKS
    assert "omnishop.connectors.services.work_due" in settings.OMNISHOP_RELAY_WORKERS


def relay_until(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the change did not arrive"
        outbox.run_once()


def test_a_web_sale_reaches_both_marketplaces_as_the_new_available_quantity(
    shopify_shop, woo_shop, make_channel
):
    web = make_channel("web", "web", "GBP")
    # One warehouse serves all three channels.
    for shop in (shopify_shop, woo_shop):
        inventory.set_channel_locations(channel=shop.channel, location_codes=[shopify_shop.warehouse.code])
    inventory.set_channel_locations(channel=web, location_codes=[shopify_shop.warehouse.code])
    v = shopify_shop.variant(sku="TEE", stock=10)
    upsert_listing(channel=woo_shop.channel, variant=v, price="10.00", is_published=True)
    upsert_listing(channel=web, variant=v, price="10.00", is_published=True)
    shopify_shop.fake.add_product(sku="TEE", quantity=10)
    woo_shop.fake.add_product(sku="TEE", quantity=10)
    orders.create_shipping_method(channel=web, code="std", name="Standard", kind="flat", price="0")
    orders.place_order(
        channel=web,
        quantities={"TEE": 3},
        shipping_method="std",
        shipping_address=ADDRESS,
        payment=orders.PaymentRequest(provider="test_card", token="4242424242424242"),
        key="e2e-1",
        email="ada@example.com",
        actor="test",
    )
    relay_until(
        lambda: (
            shopify_shop.fake.available("TEE") == 7
            and woo_shop.fake.item_by_sku("TEE")["stock_quantity"] == 7
        )
    )
    assert shopify_shop.fake.count("stock", "TEE") == 1 and woo_shop.fake.count("stock", "TEE") == 1


def test_a_price_change_reaches_the_channel(shopify_shop):
    v = shopify_shop.variant(sku="MUG", price="9.00")
    shopify_shop.fake.add_product(sku="MUG", price="9.00")
    upsert_listing(channel=shopify_shop.channel, variant=v, price="11.00")
    relay_until(lambda: shopify_shop.fake.variant_by_sku("MUG")["price"] == "11.00")


def test_a_pulled_order_shipped_here_is_fulfilled_on_the_channel_with_tracking(shopify_shop):
    shopify_shop.variant(sku="TEE", stock=5)
    oid = shopify_shop.fake.add_order(lines=[("TEE", 2, "10.00")])
    services.pull_orders(connection=shopify_shop.connection)
    order = OrderMapping.objects.get(remote_order_id=oid).order
    (fulfilment,) = orders.create_fulfilments(order=order, actor="test")
    orders.ship_fulfilment(fulfilment=fulfilment, carrier="royal-mail", tracking_number="RM1GB", actor="test")
    relay_until(lambda: shopify_shop.fake.count("fulfilment", oid) == 1)
    assert shopify_shop.fake.orders[oid]["fulfillments"][0]["trackingInfo"][0]["number"] == "RM1GB"
    for _ in range(3):
        outbox.run_once()
    assert shopify_shop.fake.count("fulfilment", oid) == 1


def test_an_order_cancelled_here_is_cancelled_on_woocommerce_once(woo_shop):
    woo_shop.variant(sku="TEE", stock=5)
    oid = woo_shop.fake.add_order(lines=[("TEE", 1, "10.00")])
    services.pull_orders(connection=woo_shop.connection)
    order = OrderMapping.objects.get(remote_order_id=str(oid)).order
    orders.cancel_order(order=order, actor="test", reason="customer asked")
    relay_until(lambda: woo_shop.fake.orders[oid]["status"] == "cancelled")
    for _ in range(3):
        outbox.run_once()
    assert woo_shop.fake.count("status", oid) == 1
    assert woo_shop.fake.refunds[oid] == []  # the cancellation covers the refund
