"""A channel order paid above its total: refused over HTTP with nothing kept, and an order that is overpaid
anyway (imported before the rule, or paid for lines later cancelled) still reads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.inventory import services as inventory
from omnishop.orders import services
from omnishop.orders.errors import Overpayment
from omnishop.orders.models import Order
from omnishop.payments import services as payments
from omnishop.payments.models import Payment

from .conftest import ADDRESS, Shop

pytestmark = pytest.mark.django_db


def test_a_channel_order_paid_above_its_total_is_refused_and_nothing_is_kept(api, shop):
    v = shop.variant(price="26.00", stock=5)
    key_api = api.with_key(shop.key)
    payload = {
        "external_id": "AMZ-OVER",
        "lines": [{"sku": v.sku, "quantity": 2}],
        "shipping_address": ADDRESS,
        "paid_amount": "100000.00",
    }
    for _ in range(2):  # the resend of the same external id is refused the same way, not a 500
        r = key_api.post("/orders/channel-orders", payload)
        assert r.status_code == 422, r.content
        error = r.json()["error"]
        assert (error["code"], error["field"]) == ("overpayment", "paid_amount")
        assert (error["details"]["paid"], error["details"]["total"]) == ("100000.00", "52.00")
    assert not Order.objects.exists() and not Payment.objects.exists()
    assert shop.stock(v).allocated == 0


def test_a_channel_order_paid_exactly_or_partly_is_taken(api, shop):
    v = shop.variant(price="26.00", stock=5)
    key_api = api.with_key(shop.key)
    line = [{"sku": v.sku, "quantity": 1}]
    exact = key_api.post("/orders/channel-orders", {"lines": line, "paid_amount": "26.00"})
    part = key_api.post("/orders/channel-orders", {"lines": line, "paid_amount": "10.00"})
    assert (exact.status_code, exact.json()["status"], exact.json()["balance_due"]) == (201, "paid", "0.00")
    assert (part.status_code, part.json()["status"], part.json()["balance_due"]) == (
        201,
        "pending_payment",
        "16.00",
    )


def test_the_service_refuses_an_overpaid_channel_order_for_every_caller_and_keeps_nothing(shop):
    v = shop.variant(price="26.00", stock=5)
    with pytest.raises(Overpayment) as refused:
        services.create_channel_order(
            channel=shop.channel,
            lines=[services.ChannelLine(v.sku, 2)],
            external_id="POS-OVER",
            paid_amount="100000.00",
            actor="test",
        )
    assert refused.value.field == "paid_amount"
    assert refused.value.details == {"paid": "100000.00", "total": "52.00"}
    assert not Order.objects.exists() and not Payment.objects.exists()
    assert shop.stock(v).allocated == 0


def test_an_overpaid_order_reads_with_nothing_due(api, shop):
    # Overpaid anyway: money recorded against the order after it was taken (or before the rule existed).
    v = shop.variant(price="26.00", stock=5)
    order, _ = services.create_channel_order(
        channel=shop.channel, lines=[services.ChannelLine(v.sku, 2)], paid_amount="52.00", actor="test"
    )
    payments.record_external_payment(
        channel=shop.channel,
        reference=order.payment_reference,
        amount=Decimal("99948.00"),
        currency=order.currency,
        label="paid twice",
    )
    r = api.with_key(shop.key).get(f"/orders/{order.number}")
    assert r.status_code == 200, r.content
    assert (r.json()["paid"], r.json()["balance_due"]) == ("100000.00", "0.00")


@pytest.fixture
def fils_shop(make_channel, make_key):
    channel = make_channel("bh", "marketplace", "BHD", country="BH")
    wh = inventory.create_location(code="bh-wh", name="Manama")
    inventory.set_channel_locations(channel=channel, location_codes=[wh.code])
    return Shop(channel, wh, make_key)


def test_a_channel_order_paid_to_the_fils_in_a_three_decimal_currency_is_paid(fils_shop):
    v = fils_shop.variant(price="1.234", stock=5)
    order, created = services.create_channel_order(
        channel=fils_shop.channel, lines=[services.ChannelLine(v.sku, 1)], paid_amount="1.234", actor="test"
    )
    assert created and (order.total, order.status) == (Decimal("1.234"), Order.Status.PAID)


def test_an_overpaid_channel_order_names_its_total_to_the_fils(fils_shop):
    v = fils_shop.variant(price="1.234", stock=5)
    with pytest.raises(Overpayment) as refused:
        services.create_channel_order(
            channel=fils_shop.channel,
            lines=[services.ChannelLine(v.sku, 1)],
            paid_amount="2.000",
            actor="test",
        )
    assert refused.value.details == {"paid": "2.000", "total": "1.234"}
