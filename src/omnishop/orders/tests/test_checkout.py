"""Checkout: totals, tax, shipping methods, all-or-nothing placement, idempotency, declines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.inventory.errors import InsufficientStock
from omnishop.orders import services
from omnishop.orders.errors import ShippingMethodUnavailable, VariantUnavailable
from omnishop.orders.models import Order
from omnishop.payments.errors import InsufficientFunds, PaymentDeclined
from omnishop.payments.models import Payment

from .conftest import ADDRESS, assert_books_balance

pytestmark = pytest.mark.django_db


def test_paid_checkout_places_a_paid_order_with_stock_allocated(shop):
    v = shop.variant(price="10.00", stock=5)
    order = shop.checkout({v: 2})
    assert order.status == Order.Status.PAID
    # GB 20 % inclusive: goods 20.00 (tax 3.33), shipping 4.95 (tax 0.83)
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        Decimal("20.00"),
        Decimal("4.95"),
        Decimal("4.16"),
        Decimal("24.95"),
    )
    line = order.lines.get()
    assert (line.quantity, line.allocated, line.fulfilled) == (2, 2, 0)
    level = shop.stock(v)
    assert (level.on_hand, level.allocated, level.reserved) == (5, 2, 0)
    assert services.paid(order) == Decimal("24.95")
    assert order.events.filter(kind="placed").exists()
    assert_books_balance()


def test_tax_exclusive_channel_adds_tax_per_line_rounded_once(make_channel, make_key):
    from omnishop.inventory import services as inventory

    from .conftest import Shop

    channel = make_channel("b2b", "web", "EUR", prices_include_tax=False, country="DE")
    wh = inventory.create_location(code="eu-wh", name="EU")
    inventory.set_channel_locations(channel=channel, location_codes=[wh.code])
    shop = Shop(channel, wh, make_key)
    v = shop.variant(price="0.35", stock=10)
    order = shop.checkout({v: 3}, address={**ADDRESS, "country": "FR"})
    # FR falls back to the '*' rate 10 %: 1.05 net, tax 0.105 → 0.11 (half up), shipping 4.95 + 0.50
    assert order.subtotal == Decimal("1.05")
    assert order.tax_total == Decimal("0.11") + Decimal("0.50")
    assert order.total == Decimal("1.05") + Decimal("0.11") + Decimal("4.95") + Decimal("0.50")


def test_free_shipping_over_threshold_and_weight_bands(shop):
    services.create_shipping_method(
        channel=shop.channel,
        code="free50",
        name="Free over 50",
        kind="free_over",
        price="3.00",
        free_over="50.00",
    )
    services.create_shipping_method(
        channel=shop.channel,
        code="bands",
        name="By weight",
        kind="weight",
        bands=[{"up_to_grams": 1000, "price": "3.00"}, {"up_to_grams": 5000, "price": "7.50"}],
    )
    cheap = shop.variant(price="20.00", stock=30, weight=600)
    small = shop.checkout({cheap: 1}, key="a", method="free50")
    big = shop.checkout({cheap: 3}, key="b", method="free50")
    assert (small.shipping_total, big.shipping_total) == (Decimal("3.00"), Decimal("0"))
    light = shop.checkout({cheap: 1}, key="c", method="bands")
    heavy = shop.checkout({cheap: 2}, key="d", method="bands")
    assert (light.shipping_total, heavy.shipping_total) == (Decimal("3.00"), Decimal("7.50"))
    with pytest.raises(ShippingMethodUnavailable):
        shop.checkout({cheap: 9}, key="f", method="bands")  # 5400 g: heavier than the last band


def test_store_pickup_needs_no_address_and_takes_stock_from_the_store(shop):
    from omnishop.inventory import services as inventory

    store = inventory.create_location(
        code="soho",
        name="Soho store",
        kind="retail_store",
        serves_pickup=True,
        ships_to_customers=False,
        country="GB",
    )
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, store.code])
    services.create_shipping_method(
        channel=shop.channel, code="collect", name="Click and collect", kind="pickup", pickup_location="soho"
    )
    v = shop.variant(stock=5)
    from omnishop.inventory import services as inv

    inv.receive_stock(variant=v, location=store, quantity=2, reference="t")
    order = shop.checkout({v: 2}, method="collect", address=None)
    assert order.shipping_total == 0
    assert shop.stock(v, store).allocated == 2
    assert shop.stock(v).allocated == 0


def test_declined_card_leaves_no_order_and_frees_the_stock(shop):
    v = shop.variant(stock=1)
    with pytest.raises(PaymentDeclined):
        shop.checkout({v: 1}, card="4000000000000002")
    with pytest.raises(InsufficientFunds):
        shop.checkout({v: 1}, key="k2", card="4000000000009995")
    assert Order.objects.count() == 0
    level = shop.stock(v)
    assert (level.reserved, level.allocated) == (0, 0)
    assert set(Payment.objects.values_list("status", flat=True)) == {"failed"}
    assert_books_balance()


def test_card_requiring_action_waits_as_pending_payment_until_confirmed(shop):
    from omnishop.payments import services as payments

    v = shop.variant(stock=3)
    order = shop.checkout({v: 1}, card="4000002500003155")
    assert order.status == Order.Status.PENDING_PAYMENT
    assert shop.stock(v).allocated == 1
    payment = Payment.objects.get(reference=order.number)
    payments.confirm_payment(payment=payment)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_retried_checkout_is_answered_from_the_first_order_without_running_checkout_again(
    shop, django_assert_max_num_queries
):
    """A retry (a double click, a timed-out app) must not quote, hold stock or charge again before it finds
    the first order: with a remote provider that charge would really be made, then undone."""
    v = shop.variant(stock=5)
    first = shop.checkout({v: 1}, key="retry-me")
    with django_assert_max_num_queries(2):
        again = shop.checkout({v: 1}, key="retry-me")
    assert again.pk == first.pk and again.replayed is True


def test_same_checkout_key_twice_is_one_order_and_one_charge(shop):
    v = shop.variant(stock=5)
    first = shop.checkout({v: 1}, key="double-click")
    second = shop.checkout({v: 1}, key="double-click")
    assert first.pk == second.pk
    assert Payment.objects.count() == 1
    assert shop.stock(v).allocated == 1


def test_out_of_stock_checkout_charges_nothing(shop):
    v = shop.variant(stock=1)
    with pytest.raises(InsufficientStock):
        shop.checkout({v: 2})
    assert Payment.objects.count() == 0 and Order.objects.count() == 0


def test_unpublished_or_unknown_variant_cannot_be_bought(shop):
    hidden = shop.variant(published=False)
    with pytest.raises(VariantUnavailable):
        shop.checkout({hidden: 1})
    with pytest.raises(VariantUnavailable):
        shop.checkout({"NOPE": 1})


def test_store_credit_pays_and_refunds_back_to_the_balance(shop, customer, give_credit):
    from omnishop.payments import credit

    give_credit(customer, "30.00")
    v = shop.variant(price="10.00", stock=5)
    order = shop.checkout({v: 1}, provider="store_credit", card="", customer=customer)
    assert order.status == Order.Status.PAID
    assert credit.balance_of(customer=customer, currency="GBP") == Decimal("30.00") - order.total
    services.cancel_order(order=order, actor="test")
    assert credit.balance_of(customer=customer, currency="GBP") == Decimal("30.00")
    with pytest.raises(InsufficientFunds):
        shop.checkout({v: 4}, key="k9", provider="store_credit", card="", customer=customer)
    assert_books_balance()


@pytest.fixture
def remote_card(monkeypatch):
    """The test card behaving as a remote provider (like Stripe): the checkout takes the reservation path."""
    from omnishop.payments.providers import PROVIDERS

    monkeypatch.setattr(PROVIDERS["test_card"], "in_process", False)


def test_remote_provider_checkout_reserves_then_converts_the_reservation(shop, remote_card):
    from omnishop.inventory.models import Reservation

    v = shop.variant(stock=2)
    order = shop.checkout({v: 1})
    assert order.status == Order.Status.PAID
    assert Reservation.objects.get().status == "converted"
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)
    with pytest.raises(PaymentDeclined):
        shop.checkout({v: 1}, key="k2", card="4000000000000002")
    assert Reservation.objects.filter(status="released").count() == 1
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)
    assert_books_balance()
