"""The exception queue (marketplace orders out of stock, FIFO backorders, substitutes) and returns."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.inventory import services as inventory
from omnishop.inventory.models import StockMovement
from omnishop.orders import services
from omnishop.orders.errors import QuantityTooLarge
from omnishop.orders.models import Order, OrderException
from omnishop.payments import credit

from .conftest import assert_books_balance
from .test_lifecycle import ship_all

pytestmark = pytest.mark.django_db


def marketplace_order(shop, lines, external_id, customer=None):
    order, _ = services.create_channel_order(
        channel=shop.channel,
        lines=[services.ChannelLine(sku=v.sku, quantity=q) for v, q in lines.items()],
        external_id=external_id,
        customer=customer,
        actor="channel:web",
    )
    return order


def test_marketplace_order_is_created_once_per_external_id(shop):
    v = shop.variant(stock=5)
    first, created = services.create_channel_order(
        channel=shop.channel,
        lines=[services.ChannelLine(sku=v.sku, quantity=1)],
        external_id="AMZ-1",
        actor="t",
    )
    again, created_again = services.create_channel_order(
        channel=shop.channel,
        lines=[services.ChannelLine(sku=v.sku, quantity=1)],
        external_id="AMZ-1",
        actor="t",
    )
    assert (created, created_again) == (True, False) and first.pk == again.pk
    assert first.status == Order.Status.PAID and services.paid(first) == first.total
    assert shop.stock(v).allocated == 1


def test_out_of_stock_import_waits_in_the_exception_queue_and_backorders_fill_first_in_first_out(shop):
    v = shop.variant(stock=0)
    older = marketplace_order(shop, {v: 2}, "M-1")
    younger = marketplace_order(shop, {v: 1}, "M-2")
    assert older.status == younger.status == Order.Status.ON_HOLD
    for order in (older, younger):
        item = OrderException.objects.get(order=order)
        assert item.reason == "out_of_stock"
        services.resolve_exception(item=item, action="backorder", actor="staff")
    inventory.receive_stock(variant=v, location=shop.warehouse, quantity=1, reference="po")
    # one unit: the older order needs two, so the younger one must not jump the queue
    assert services.allocate_backorders() == []
    inventory.receive_stock(variant=v, location=shop.warehouse, quantity=2, reference="po")
    assert services.allocate_backorders() == [older.number, younger.number]
    assert services.get_order(older.number).status == Order.Status.PAID
    assert OrderException.objects.filter(resolved_at__isnull=True).count() == 0
    assert_books_balance()


def test_received_stock_goes_to_waiting_backorders_as_soon_as_the_receipt_commits(
    shop, django_capture_on_commit_callbacks
):
    v = shop.variant(stock=0)
    other = shop.variant(stock=0)
    older = marketplace_order(shop, {v: 2}, "M-11")
    younger = marketplace_order(shop, {v: 1}, "M-12")
    for order in (older, younger):
        services.resolve_exception(
            item=OrderException.objects.get(order=order), action="backorder", actor="t"
        )
    with django_capture_on_commit_callbacks(execute=True):
        inventory.receive_stock(variant=other, location=shop.warehouse, quantity=5, reference="po")
        inventory.receive_stock(variant=v, location=shop.warehouse, quantity=1, reference="po")
    # one unit: the older order needs two, and the younger one must not jump the queue
    assert {services.get_order(o.number).status for o in (older, younger)} == {Order.Status.ON_HOLD}
    with django_capture_on_commit_callbacks(execute=True):
        inventory.receive_stock(variant=v, location=shop.warehouse, quantity=2, reference="po")
    assert services.get_order(older.number).status == services.get_order(younger.number).status == "paid"
    assert shop.stock(v).allocated == 3 and shop.stock(other).allocated == 0
    assert OrderException.objects.filter(resolved_at__isnull=True).count() == 0
    assert_books_balance()


def test_cancel_unavailable_cancels_and_refunds_only_the_missing_units(shop):
    have = shop.variant(price="10.00", stock=1)
    missing = shop.variant(price="7.00", stock=0)
    order = marketplace_order(shop, {have: 1, missing: 1}, "M-3")
    assert order.status == Order.Status.ON_HOLD and services.paid(order) == order.total
    assert shop.stock(have).allocated == 1  # what is there is held at once
    paid_before = services.paid(order)
    order = services.resolve_exception(
        item=OrderException.objects.get(order=order), action="cancel_unavailable", actor="staff"
    )
    assert order.status == Order.Status.PAID
    assert paid_before - services.paid(order) == Decimal("7.00")
    assert order.lines.get(variant=missing).cancelled == 1
    assert_books_balance()


def test_substitute_replaces_the_missing_variant_and_releases_the_order(shop):
    gone = shop.variant(price="9.00", stock=0)
    alike = shop.variant(price="9.50", stock=3)
    order = marketplace_order(shop, {gone: 1}, "M-5")
    line = order.lines.get()
    order = services.resolve_exception(
        item=OrderException.objects.get(order=order),
        action="substitute",
        substitutes={line.pk: alike.sku},
        actor="staff",
    )
    assert order.status == Order.Status.PAID
    assert order.lines.get().sku == alike.sku
    assert shop.stock(alike).allocated == 1


def test_return_with_restock_refunds_to_the_card_and_puts_units_back_on_sale(shop):
    v = shop.variant(price="10.00", stock=3)
    order = ship_all(shop.checkout({v: 2}))
    line = order.lines.get()
    rma = services.request_return(order=order, lines=[(line.pk, 1, "too small")], actor="shopper")
    with pytest.raises(QuantityTooLarge):
        services.request_return(order=order, lines=[(line.pk, 2, "again")], actor="shopper")
    services.decide_return(rma=rma, approve=True, actor="staff")
    paid_before = services.paid(order)
    services.receive_return(
        rma=rma, dispositions={line.pk: "restock"}, location_code="main-wh", actor="staff"
    )
    order = services.get_order(order.number)
    assert order.status == Order.Status.PARTIALLY_RETURNED
    assert paid_before - services.paid(order) == Decimal("10.00")
    assert shop.stock(v).on_hand == 2
    assert StockMovement.objects.filter(kind="return", reference=order.number).count() == 1
    assert order.lines.get().returned == 1
    assert_books_balance()


def test_written_off_return_refunded_as_store_credit_does_not_restock(shop, customer):
    v = shop.variant(price="10.00", stock=2)
    order = ship_all(shop.checkout({v: 1}, customer=customer))
    line = order.lines.get()
    rma = services.request_return(
        order=order, lines=[(line.pk, 1, "broken")], refund_to="store_credit", actor="shopper"
    )
    services.decide_return(rma=rma, approve=True, actor="staff")
    services.receive_return(rma=rma, dispositions={line.pk: "write_off"}, location_code=None, actor="staff")
    order = services.get_order(order.number)
    assert order.status == Order.Status.RETURNED
    assert credit.balance_of(customer=customer, currency="GBP") == Decimal("10.00")
    assert shop.stock(v).on_hand == 1
    assert_books_balance()


def test_nothing_can_be_returned_before_it_shipped(shop):
    from omnishop.core.errors import InvalidTransition

    v = shop.variant(stock=2)
    order = shop.checkout({v: 1})
    with pytest.raises(InvalidTransition):
        services.request_return(order=order, lines=[(order.lines.get().pk, 1, "")], actor="shopper")


def test_exchange_is_a_return_plus_a_new_order_paid_by_the_returned_value(shop, customer, api):
    small = shop.variant(price="10.00", stock=3)
    large = shop.variant(price="8.00", stock=3)
    order = ship_all(shop.checkout({small: 1}, customer=customer))
    line = order.lines.get()
    rma = services.request_return(
        order=order, lines=[(line.pk, 1, "wrong size")], refund_to="exchange", actor="shopper"
    )
    services.decide_return(rma=rma, approve=True, actor="staff")
    paid_before = services.paid(order)
    r = api.with_key(shop.key).post(
        f"/orders/returns/{rma.number}/exchange", {"lines": [{"sku": large.sku, "quantity": 1}]}
    )
    assert r.status_code == 201, r.content
    new = Order.objects.get(number=r.json()["number"])
    assert new.exchange_for_id == rma.pk and new.status == Order.Status.PAID
    assert services.paid(new) == new.total == Decimal("8.00")
    # the 2.00 the replacement costs less comes back as store credit; the card is not refunded
    assert credit.balance_of(customer=customer, currency="GBP") == Decimal("2.00")
    services.receive_return(
        rma=rma, dispositions={line.pk: "restock"}, location_code="main-wh", actor="staff"
    )
    assert services.paid(order) == paid_before
    assert shop.stock(small).on_hand == 3 and shop.stock(large).allocated == 1
    again = api.with_key(shop.key).post(
        f"/orders/returns/{rma.number}/exchange", {"lines": [{"sku": large.sku, "quantity": 1}]}
    )
    assert again.json()["number"] == new.number
    assert_books_balance()
