"""The back-office customer 360: one read gathers orders from every channel, returns, payments, store
credit and merges, in a number of queries that does not grow with the customer's history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.customers import services as customers
from omnishop.customers.models import Customer
from omnishop.inventory import services as inventory
from omnishop.orders import services

from .conftest import Shop

pytestmark = pytest.mark.django_db
MAX_QUERIES = 12


@pytest.fixture
def market(market_channel, make_key, shop):
    inventory.set_channel_locations(channel=market_channel, location_codes=[shop.warehouse.code])
    return Shop(market_channel, shop.warehouse, make_key)


def delivered(shop, customer, key):
    variant = shop.variant(price="10.00", stock=5)
    order = shop.checkout({variant: 1}, key=key, customer=customer)
    for fulfilment in services.create_fulfilments(order=order, actor="t"):
        services.ship_fulfilment(fulfilment=fulfilment, carrier="dhl", tracking_number="T1", actor="t")
        services.mark_delivered(fulfilment=fulfilment, actor="t")
    return services.get_order(order.number)


def market_order(market, customer, external_id):
    variant = market.variant(price="20.00", stock=5)
    order, _ = services.create_channel_order(
        channel=market.channel,
        lines=[services.ChannelLine(variant.sku, 1)],
        external_id=external_id,
        customer=customer,
        actor="channel:market",
    )
    return order


def test_the_overview_shows_orders_of_both_channels_returns_payments_credit_and_merges(
    shop, market, customer, give_credit, django_assert_max_num_queries
):
    web_order = delivered(shop, customer, "w1")
    line = web_order.lines.get()
    rma = services.request_return(order=web_order, lines=[(line.pk, 1, "too small")], actor="shopper")
    amazon = market_order(market, customer, "AMZ-100001")
    give_credit(customer, "5.00")
    twin = Customer.objects.create(email="ada.l@example.com", first_name="Ada", last_name="L")
    record = customers.merge_customers(survivor=customer, merged=twin, reason="same person")

    with django_assert_max_num_queries(MAX_QUERIES):
        view = services.customer_overview(customer=customer)

    assert {(o["number"], o["channel"]) for o in view["orders"]["items"]} == {
        (web_order.number, "web"),
        (amazon.number, "marketplace"),
    }
    assert [r.number for r in view["returns"]] == [rma.number]
    assert {p.channel.code for p in view["payments"]} == {"web", "marketplace"}
    assert [(a.currency, a.balance) for a in view["credit_accounts"]] == [("GBP", Decimal("5.0000"))]
    assert [e.amount for e in view["credit_entries"]] == [Decimal("5.0000")]
    assert [m.pk for m in view["merges"]] == [record.pk]
    assert view["merged_from"] == [twin.pk]


def test_a_long_history_costs_no_more_queries(
    shop, market, customer, give_credit, django_assert_max_num_queries
):
    for n in range(6):
        delivered(shop, customer, f"k{n}")
        market_order(market, customer, f"AMZ-2000{n:02d}")
        give_credit(customer, "1.00")
    with django_assert_max_num_queries(MAX_QUERIES):
        view = services.customer_overview(customer=customer)
    assert len(view["orders"]["items"]) == 12
    assert len(view["payments"]) == 12
    assert len(view["credit_entries"]) == 6
