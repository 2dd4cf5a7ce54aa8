"""Serving from memory stays exact: retraining, unpublishing, deactivating and selling out show in the very next
answer, the in-memory map of sellable products answers as a fresh read would, and each call is one statement."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnishop.catalog import services as catalog
from omnishop.catalog.models import ChannelListing
from omnishop.core import outbox
from omnishop.inventory import services as inventory
from omnishop.inventory.models import StockLevel, StockLocation
from omnishop.recommendations import services
from omnishop.recommendations.models import ServingGeneration
from omnishop.recommendations.services import sellable
from omnishop.recommendations.services.serving import forget_version

from .conftest import ago
from .test_serving import names, shop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


def unpublish(channel, product) -> None:
    catalog.set_listings_published(
        listings=ChannelListing.objects.filter(channel=channel, variant__product=product), published=False
    )


def publish(channel, product) -> None:
    catalog.set_listings_published(
        listings=ChannelListing.objects.filter(channel=channel, variant__product=product), published=True
    )


def every_answer(channel, products, customers) -> dict:
    tea, coffee = products["tea"].pk, products["coffee"].pk
    return {
        "customer": services.for_customer(channel=channel, customer=customers["c7"]),
        "similar": services.similar_products(channel=channel, product_id=tea),
        "together": services.bought_together(channel=channel, product_id=tea),
        "cart": services.for_cart(channel=channel, product_ids=[tea, coffee]),
        "session": services.for_session(channel=channel, anonymous_id="visitor-1"),
    }


@pytest.fixture
def trained(shop, web_channel):  # noqa: F811
    products, customers = shop
    services.record_events(
        channel=web_channel,
        events=[
            {
                "kind": "view",
                "product_id": products["tea"].pk,
                "anonymous_id": "visitor-1",
                "occurred_at": ago(minutes=2),
            }
        ],
    )
    services.train()
    return products, customers


def test_an_unpublished_product_leaves_the_very_next_answer(trained, web_channel):
    products, customers = trained
    before = names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)
    assert before[0] == "biscuits"  # and the channel's map of sellable products is now in memory
    unpublish(web_channel, products["biscuits"])
    assert "biscuits" not in names(
        services.for_customer(channel=web_channel, customer=customers["c7"]), products
    )
    assert "biscuits" not in names(
        services.similar_products(channel=web_channel, product_id=products["tea"].pk), products
    )
    publish(web_channel, products["biscuits"])
    assert (
        names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)[0] == "biscuits"
    )


def test_a_deactivated_product_leaves_every_channel_at_once(trained, web_channel, market_channel):
    products, _ = trained
    assert "biscuits" in names(
        services.bought_together(channel=market_channel, product_id=products["tea"].pk), products
    )
    assert "biscuits" in names(
        services.bought_together(channel=web_channel, product_id=products["tea"].pk), products
    )
    catalog.update_product(product=products["biscuits"], is_active=False)
    for channel in (web_channel, market_channel):
        answer = services.bought_together(channel=channel, product_id=products["tea"].pk)
        assert "biscuits" not in names(answer, products)


def test_selling_the_last_unit_removes_the_product_from_the_next_answer(trained, web_channel):
    products, customers = trained
    warehouse = inventory.create_location(code="wh", name="Warehouse")
    inventory.set_channel_locations(channel=web_channel, location_codes=["wh"])
    for name in ("tea", "biscuits", "coffee", "milk"):
        inventory.receive_stock(variant=products[name].variants.first(), location=warehouse, quantity=1)
    assert (
        names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)[0] == "biscuits"
    )
    sku = products["biscuits"].variants.first().sku
    inventory.reserve_stock(
        channel=web_channel, lines=[inventory.LineRequest(sku=sku, quantity=1)], key="last-one"
    )
    assert "biscuits" not in names(
        services.for_customer(channel=web_channel, customer=customers["c7"]), products
    )


def test_a_retrained_version_serves_from_its_first_call(trained, web_channel):
    products, customers = trained
    assert "milk" not in names(
        services.for_customer(channel=web_channel, customer=customers["c7"], limit=1), products
    )
    # c7 (a tea drinker) now buys coffee like everyone who buys milk; the next version knows it
    services.record_events(
        channel=web_channel,
        events=[
            {
                "kind": "purchase",
                "product_id": products["coffee"].pk,
                "customer_id": customers["c7"].pk,
                "occurred_at": ago(days=3),
            }
        ],
    )
    first = services.for_customer(channel=web_channel, customer=customers["c7"], exclude_purchased_days=0)
    services.train()
    second = services.for_customer(channel=web_channel, customer=customers["c7"], exclude_purchased_days=0)
    assert first != second
    assert names(second, products).index("milk") < names(first, products).index("milk")


def test_a_change_announced_by_another_process_is_seen_through_the_generation(
    trained, web_channel, django_capture_on_commit_callbacks
):
    """Another process's change reaches this one only through the counter: here the listing is withdrawn by
    raw SQL (no outbox event in this process), so only the raised generation can reveal it."""
    products, customers = trained
    assert "biscuits" in names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)
    ChannelListing.objects.filter(channel=web_channel, variant__product=products["biscuits"]).update(
        is_published=False
    )
    assert "biscuits" in names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)
    with django_capture_on_commit_callbacks(execute=True):
        sellable.raise_generations([web_channel.code])
    assert ServingGeneration.objects.get(scope=web_channel.code).generation == 1
    assert "biscuits" not in names(
        services.for_customer(channel=web_channel, customer=customers["c7"]), products
    )


def test_a_listing_change_raises_the_channel_generation_when_the_relay_fans_it_out(
    trained, web_channel, market_channel, django_capture_on_commit_callbacks
):
    """The writer's commit costs no counter update (ADR 0050); the relay raises each scope once per batch."""
    products, _ = trained
    outbox.relay_once()
    before = dict(ServingGeneration.objects.values_list("scope", "generation"))
    with django_capture_on_commit_callbacks(execute=True):
        unpublish(web_channel, products["milk"])
    with django_capture_on_commit_callbacks(execute=True):
        catalog.update_product(product=products["milk"], title="Whole milk")
        catalog.update_product(product=products["milk"], title="Semi-skimmed milk")
    assert dict(ServingGeneration.objects.values_list("scope", "generation")) == before
    assert outbox.relay_once() >= 3
    after = dict(ServingGeneration.objects.values_list("scope", "generation"))
    assert after[web_channel.code] == before.get(web_channel.code, 0) + 1
    assert after[""] == before.get("", 0) + 1
    assert after.get(market_channel.code) == before.get(market_channel.code)


@pytest.mark.parametrize("stock", [False, True], ids=["publication-only", "stock-tracked"])
def test_each_call_is_one_statement_and_one_more_for_stock(
    trained, web_channel, stock, django_assert_max_num_queries
):
    products, customers = trained
    if stock:
        warehouse = inventory.create_location(code="wh", name="Warehouse")
        inventory.set_channel_locations(channel=web_channel, location_codes=["wh"])
        for name in ("tea", "biscuits", "coffee", "milk"):
            inventory.receive_stock(variant=products[name].variants.first(), location=warehouse, quantity=3)
    every_answer(web_channel, products, customers)  # builds the channel's map of sellable products
    for name, answer in every_answer(web_channel, products, customers).items():
        assert answer, name
    with django_assert_max_num_queries(5 * (2 if stock else 1)):
        every_answer(web_channel, products, customers)


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["unpublish", "publish", "deactivate", "activate", "sell_out", "restock", "rename"]),
        st.sampled_from(["tea", "biscuits", "coffee", "milk"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_answers_from_memory_equal_answers_read_fresh_after_any_catalogue_changes(
    trained, web_channel, market_channel, operations
):
    products, customers = trained
    warehouse = StockLocation.objects.filter(code="hyp").first() or inventory.create_location(
        code="hyp", name="H"
    )
    inventory.set_channel_locations(channel=web_channel, location_codes=["hyp"])
    for product in products.values():
        variant = product.variants.first()
        StockLevel.objects.filter(variant=variant, location=warehouse).delete()
        inventory.receive_stock(variant=variant, location=warehouse, quantity=2)
    every_answer(web_channel, products, customers)  # warm
    for operation, name in operations:
        product = products[name]
        if operation == "unpublish":
            unpublish(web_channel, product)
        elif operation == "publish":
            publish(web_channel, product)
        elif operation in ("deactivate", "activate"):
            catalog.update_product(product=product, is_active=operation == "activate")
        elif operation == "rename":
            catalog.update_product(product=product, title=f"{product.title}!")
        else:
            variant = product.variants.first()
            level = StockLevel.objects.get(variant=variant, location=warehouse)
            delta = -level.on_hand if operation == "sell_out" else 2
            if delta:
                inventory.adjust_stock(
                    variant=variant, location=warehouse, delta=delta, reason_code="correction"
                )
        for channel in (web_channel, market_channel):
            served = every_answer(channel, products, customers)
            forget_version()
            assert served == every_answer(channel, products, customers)
