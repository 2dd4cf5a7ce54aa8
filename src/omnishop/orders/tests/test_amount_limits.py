"""Amounts an order stores fit their columns (DecimalField(max_digits=14, decimal_places=4): below 10^10).

Each unit price fits, but price × quantity, or the sum of lines, can pass what `line_total`, `subtotal` or
`total` hold: PostgreSQL then refuses the INSERT (numeric field overflow, a 500). The services refuse such
an order with 422 `amount_too_large` before anything is written or charged."""

from __future__ import annotations

import pytest

from omnishop.orders import services
from omnishop.orders.errors import AmountTooLarge
from omnishop.orders.models import Order
from omnishop.payments.models import Payment

from .conftest import ADDRESS

pytestmark = pytest.mark.django_db(transaction=False)


def _nothing_kept(shop, *variants):
    assert not Order.objects.exists() and not Payment.objects.exists()
    for v in variants:
        level = shop.stock(v)
        assert (level.allocated, level.reserved) == (0, 0)


def test_a_channel_order_line_above_what_line_total_holds_is_refused_over_http(api, shop):
    v = shop.variant(price="10.00", stock=5)
    payload = {
        "external_id": "AMZ-HUGE",
        "lines": [{"sku": v.sku, "quantity": 2, "unit_price": "9999999999.00"}],
        "shipping_address": ADDRESS,
    }
    r = api.with_key(shop.key).post("/orders/channel-orders", payload)
    assert r.status_code == 422, r.content
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("amount_too_large", "lines[0].quantity")
    _nothing_kept(shop, v)


def test_a_checkout_whose_line_total_overflows_is_refused_before_the_charge(shop):
    v = shop.variant(price="9999999999.00", stock=5)
    with pytest.raises(AmountTooLarge) as refused:
        shop.checkout({v: 2})
    assert refused.value.field == "lines[0].quantity"
    _nothing_kept(shop, v)


def test_a_checkout_whose_shipping_takes_it_past_the_total_is_refused_on_the_method(shop):
    v = shop.variant(price="9999999999.00", stock=5)
    with pytest.raises(AmountTooLarge) as refused:
        shop.checkout({v: 1})
    assert refused.value.field == "shipping_method"
    _nothing_kept(shop, v)


def test_lines_that_fit_but_sum_past_the_order_total_are_refused(shop):
    a = shop.variant(price="6000000000.00", stock=5)
    b = shop.variant(price="6000000000.00", stock=5)
    with pytest.raises(AmountTooLarge) as refused:
        shop.checkout({a: 1, b: 1})
    assert refused.value.field == "lines"
    _nothing_kept(shop, a, b)


def test_shipping_that_takes_a_channel_order_past_the_total_is_refused(shop):
    v = shop.variant(price="9999999999.00", stock=5)
    with pytest.raises(AmountTooLarge) as refused:
        services.create_channel_order(
            channel=shop.channel,
            lines=[services.ChannelLine(v.sku, 1)],
            shipping_total="10.00",
            actor="test",
        )
    assert refused.value.field == "shipping_total"
    _nothing_kept(shop, v)


def test_a_shipping_method_that_takes_a_channel_order_past_the_total_is_refused_on_the_method(shop):
    v = shop.variant(price="9999999999.00", stock=5)
    with pytest.raises(AmountTooLarge) as refused:
        services.create_channel_order(
            channel=shop.channel,
            lines=[services.ChannelLine(v.sku, 1)],
            shipping_method=shop.standard.code,
            actor="test",
        )
    assert refused.value.field == "shipping_method"
    _nothing_kept(shop, v)


def test_the_largest_order_that_fits_is_taken(shop):
    v = shop.variant(price="9999999999.00", stock=5)
    order, created = services.create_channel_order(
        channel=shop.channel, lines=[services.ChannelLine(v.sku, 1)], actor="test"
    )
    assert created and order.lines.get().line_total == order.total
