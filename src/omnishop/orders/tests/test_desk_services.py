"""The orders services behind the back-office desk: the order search, staff refunds and store credit (keyed,
so a form posted twice acts once), staff notes, parcels on a shipment, the merge candidates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from omnishop.core.errors import InvalidTransition, ValidationFailed
from omnishop.customers.models import Customer
from omnishop.orders import services
from omnishop.orders.errors import CreditExceedsPaid
from omnishop.orders.models import Order, OrderEvent
from omnishop.payments import credit
from omnishop.payments.errors import RefundExceedsCaptured, RefundKeyReused
from omnishop.payments.models import Refund

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


def found(**criteria) -> list[str]:
    return [o.number for o in services.search_orders(**criteria)]


def test_search_finds_an_order_by_number_external_id_email_phone_and_every_word_of_the_name(shop, customer):
    customer.phone = "+447911123456"
    customer.save()
    v = shop.variant(stock=10)
    ada = shop.checkout({v: 1}, key="a", customer=customer)
    guest = shop.checkout({v: 1}, key="g")
    Order.objects.filter(pk=guest.pk).update(email="guest@example.com", external_id="AMZ-77")
    assert found(text=ada.number) == [ada.number]
    assert found(text=ada.number[:-3].lower()) == [ada.number]  # the start of it, any case
    assert found(text="AMZ-77") == [guest.number]
    assert found(text="GUEST@example.com") == [guest.number]
    assert found(text="07911 123456") == [ada.number]  # the phone as staff type it
    assert found(text="ada love") == [ada.number]
    assert found(text="ada smith") == []


def test_search_filters_by_sku_status_channel_and_placed_dates_newest_first(shop, market_channel):
    v, w = shop.variant(stock=10), shop.variant(stock=10)
    old = shop.checkout({v: 1}, key="o")
    new = shop.checkout({w: 1}, key="n")
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    services.cancel_order(order=new, actor="t")
    today = timezone.localdate()
    assert found() == [new.number, old.number]
    assert found(sku=v.sku.lower()) == [old.number]
    assert found(status="cancelled") == [new.number]
    assert found(channel="web") == [new.number, old.number] and found(channel=market_channel.code) == []
    assert found(placed_from=today) == [new.number]
    assert found(placed_to=today - timedelta(days=5)) == [old.number]
    assert found(placed_from=date(2000, 1, 1), placed_to=today) == [new.number, old.number]


def test_search_reads_a_page_with_channel_and_customer_in_one_query(shop):
    v = shop.variant(stock=50)
    for i in range(20):
        c = Customer.objects.create(email=f"c{i}@example.com", first_name="C", last_name=str(i))
        shop.checkout({v: 1}, key=f"k{i}", customer=c)
    with CaptureQueriesContext(connection) as queries:
        rows = [(o.number, o.channel.code, str(o.customer)) for o in services.search_orders(text="c")[:50]]
    assert len(rows) == 20 and len(queries) == 1


def test_a_staff_refund_goes_back_to_the_card_once_per_key(shop):
    order = shop.checkout({shop.variant(price="30.00"): 1})
    first = services.refund_order(order=order, amount=Decimal("10.00"), key="form-1", actor="staff:1")
    again = services.refund_order(order=order, amount=Decimal("10.00"), key="form-1", actor="staff:1")
    assert [r.pk for r in first] == [r.pk for r in again]
    assert services.paid(order) == order.total - Decimal("10.00")
    assert OrderEvent.objects.filter(order=order, kind="refunded", actor="staff:1").count() == 1
    with pytest.raises(RefundKeyReused):
        services.refund_order(order=order, amount=Decimal("11.00"), key="form-1", actor="staff:1")
    with pytest.raises(RefundExceedsCaptured):
        services.refund_order(order=order, amount=Decimal("100.00"), key="form-2", actor="staff:1")
    with pytest.raises(ValidationFailed):
        services.refund_order(order=order, amount=Decimal("-1"), key="form-3", actor="staff:1")
    assert Refund.objects.count() == 1
    money = services.money_of(order)
    assert (money["refunded"], money["paid"]) == (Decimal("10.00"), order.total - Decimal("10.00"))


def test_store_credit_for_an_order_is_keyed_and_bounded_by_what_was_paid(shop, customer):
    order = shop.checkout({shop.variant(price="10.00"): 1}, customer=customer)
    services.credit_order(order=order, amount=Decimal("4.00"), key="c-1", actor="staff:1")
    services.credit_order(order=order, amount=Decimal("4.00"), key="c-1", actor="staff:1")
    assert credit.balance_of(customer=customer, currency="GBP") == Decimal("4.00")
    assert services.credited_on(order) == Decimal("4.00")
    with pytest.raises(CreditExceedsPaid):
        services.credit_order(order=order, amount=order.total - Decimal("3.99"), key="c-2", actor="staff:1")
    guest = shop.checkout({shop.variant(): 1}, key="guest")
    with pytest.raises(ValidationFailed):
        services.credit_order(order=guest, amount=Decimal("1.00"), key="c-3", actor="staff:1")
    assert OrderEvent.objects.filter(kind="store_credit_issued").count() == 1
    assert_books_balance()


def test_a_staff_note_lands_on_the_timeline_once_per_key(shop):
    order = shop.checkout({shop.variant(): 1})
    note = services.add_note(order=order, text="  Called the customer ", actor="staff:3", key="n1")
    assert services.add_note(order=order, text="Called the customer", actor="staff:3", key="n1").pk == note.pk
    assert (note.kind, note.message, note.actor) == ("note", "Called the customer", "staff:3")
    with pytest.raises(ValidationFailed):
        services.add_note(order=order, text="   ", actor="staff:3")
    with pytest.raises(ValidationFailed):
        services.add_note(order=order, text="x" * 501, actor="staff:3")


def test_a_shipment_records_its_parcels_and_refuses_zero(shop):
    order = shop.checkout({shop.variant(): 1})
    (f,) = services.create_fulfilments(order=order, actor="t")
    with pytest.raises(ValidationFailed):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T1", parcels=0, actor="t")
    services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T1", parcels=3, actor="t")
    assert OrderEvent.objects.get(order=order, kind="shipped").after["parcels"] == 3
    with pytest.raises(InvalidTransition):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T1", actor="t")


def test_merge_candidates_are_the_customers_other_open_unshipped_orders(shop, customer):
    v = shop.variant(stock=10)
    a = shop.checkout({v: 1}, key="a", customer=customer)
    b = shop.checkout({v: 1}, key="b", customer=customer)
    shipped = shop.checkout({v: 1}, key="c", customer=customer)
    (f,) = services.create_fulfilments(order=shipped, actor="t")
    services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T", actor="t")
    shop.checkout({v: 1}, key="d")  # a guest's
    assert [o.number for o in services.mergeable_with(a)] == [b.number]
    assert list(services.mergeable_with(shop.checkout({v: 1}, key="e"))) == []
