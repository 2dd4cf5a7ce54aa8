"""Purchases come from orders: a paid order writes one purchase event per line, once, after its commit."""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.inventory import services as inventory
from omnishop.orders import services as orders
from omnishop.orders.models import Order
from omnishop.orders.services import listeners as paid_hook
from omnishop.payments import services as payments
from omnishop.payments.models import Payment
from omnishop.recommendations.models import Event
from omnishop.recommendations.services.order_events import record_order_purchases

_seq = itertools.count(1)
ADDRESS = {"name": "Ada Lovelace", "line1": "1 Analytical Row", "city": "London", "country": "GB"}
CARD_OK = "4242424242424242"
CARD_3DS = "4000002500003155"


class Shop:
    """A channel with a warehouse, a shipping method and tax, set up through the orders' services."""

    def __init__(self, channel):
        self.channel = channel
        self.warehouse = inventory.create_location(code=f"wh-{channel.code}", name="Warehouse")
        inventory.set_channel_locations(channel=channel, location_codes=[self.warehouse.code])
        orders.create_shipping_method(
            channel=channel, code="standard", name="Standard", kind="flat", price="4.95"
        )
        orders.set_tax_rate(channel=channel, country="*", rate="0.20")

    def variant(self, *, stock: int = 10) -> Variant:
        n = next(_seq)
        product = Product.objects.create(title=f"Product {n}", slug=f"order-product-{n}")
        variant = Variant.objects.create(product=product, sku=f"ORD-{n}")
        ChannelListing.objects.create(
            channel=self.channel, variant=variant, is_published=True, price=Decimal("10.00"), currency="GBP"
        )
        if stock:
            inventory.receive_stock(variant=variant, location=self.warehouse, quantity=stock, reference="t")
        return variant

    def checkout(self, lines: dict, *, card: str = CARD_OK, customer=None, key: str = "k1") -> Order:
        return orders.place_order(
            channel=self.channel,
            quantities={v.sku: q for v, q in lines.items()},
            shipping_method="standard",
            shipping_address=ADDRESS,
            payment=orders.PaymentRequest(provider="test_card", token=card),
            key=key,
            customer=customer,
            email="ada@example.com",
            actor="test",
        )


@pytest.fixture
def shop(web_channel):
    return Shop(web_channel)


@pytest.fixture
def ada(db):
    from omnishop.customers.models import Customer

    return Customer.objects.create(email="ada@example.com", first_name="Ada", last_name="Lovelace")


def purchases(order: Order):
    return Event.objects.filter(kind="purchase", source="orders", channel=order.channel).order_by(
        "variant_id"
    )


def paid_time(order: Order):
    entries = order.events.filter(kind__in=("placed", "status_changed")).order_by("created_at", "pk")
    return next(e.created_at for e in entries if (e.after or {}).get("status") == "paid")


@pytest.mark.django_db
def test_a_paid_checkout_counts_one_purchase_per_line_for_its_customer(
    shop, ada, django_capture_on_commit_callbacks
):
    mug, tea = shop.variant(), shop.variant()
    with django_capture_on_commit_callbacks(execute=True):
        order = shop.checkout({mug: 2, tea: 1}, customer=ada)
    assert order.status == Order.Status.PAID
    rows = list(purchases(order))
    assert [(e.variant_id, e.product_id, e.quantity, e.customer_id) for e in rows] == sorted(
        [(mug.pk, mug.product_id, 2, ada.pk), (tea.pk, tea.product_id, 1, ada.pk)]
    )
    assert {e.occurred_at for e in rows} == {paid_time(order)}


@pytest.mark.django_db
def test_nothing_is_counted_before_the_commit_or_when_the_checkout_rolls_back(
    shop, ada, django_capture_on_commit_callbacks
):
    mug = shop.variant()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        order = shop.checkout({mug: 1}, customer=ada)
    assert order.status == Order.Status.PAID
    assert not purchases(order).exists()
    assert len(pending) == 1


@pytest.mark.django_db
def test_an_order_confirmed_after_3d_secure_counts_once_however_often_it_is_announced_paid(
    shop, ada, django_capture_on_commit_callbacks
):
    mug = shop.variant()
    with django_capture_on_commit_callbacks(execute=True):
        order = shop.checkout({mug: 3}, customer=ada, card=CARD_3DS)
    assert order.status == Order.Status.PENDING_PAYMENT
    assert not purchases(order).exists()
    with django_capture_on_commit_callbacks(execute=True):
        payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert [(e.variant_id, e.quantity) for e in purchases(order)] == [(mug.pk, 3)]
    # A repeated notification (a retried job, a second worker) and a direct second call change nothing.
    with django_capture_on_commit_callbacks(execute=True):
        paid_hook.order_paid(order)
    assert record_order_purchases(order) == 0
    assert purchases(order).count() == 1


@pytest.mark.django_db
def test_a_pos_sale_created_already_paid_counts_its_lines_as_one_guest_basket(
    make_channel, django_capture_on_commit_callbacks
):
    store = Shop(make_channel("store", "pos_store", "GBP"))
    mug, tea = store.variant(), store.variant()
    with django_capture_on_commit_callbacks(execute=True):
        order, created = orders.create_channel_order(
            channel=store.channel,
            lines=[orders.ChannelLine(sku=mug.sku, quantity=1), orders.ChannelLine(sku=tea.sku, quantity=2)],
            handed_over=True,
            actor="channel:store",
        )
    assert created and order.status == Order.Status.FULFILLED
    rows = list(purchases(order))
    assert [(e.variant_id, e.quantity) for e in rows] == sorted([(mug.pk, 1), (tea.pk, 2)])
    assert {(e.customer_id, e.anonymous_id) for e in rows} == {(None, f"order:{order.number}")}
    assert {e.occurred_at for e in rows} == {paid_time(order)}


@pytest.mark.django_db
def test_an_order_cancelled_before_payment_counts_nothing(shop, ada, django_capture_on_commit_callbacks):
    mug = shop.variant()
    with django_capture_on_commit_callbacks(execute=True):
        order = shop.checkout({mug: 1}, customer=ada, card=CARD_3DS)
        order = orders.cancel_order(order=order, actor="test", reason="changed mind")
    assert order.status == Order.Status.CANCELLED
    assert record_order_purchases(order) == 0
    assert not Event.objects.filter(kind="purchase").exists()


@pytest.mark.django_db
def test_partly_cancelled_lines_count_only_what_was_kept(shop, ada, django_capture_on_commit_callbacks):
    mug, tea = shop.variant(), shop.variant()
    with django_capture_on_commit_callbacks(execute=True):
        order = shop.checkout({mug: 3, tea: 1}, customer=ada, card=CARD_3DS)
        line = order.lines.get(variant=tea)
        order = orders.cancel_order(order=order, quantities={line.pk: 1}, actor="test")
        payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert [(e.variant_id, e.quantity) for e in purchases(order)] == [(mug.pk, 3)]


@pytest.mark.django_db
def test_a_failing_listener_is_logged_and_neither_breaks_checkout_nor_the_purchase_count(
    shop, ada, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken(order):
        raise RuntimeError("listener down")

    monkeypatch.setattr(paid_hook, "LISTENERS", [broken, *paid_hook.LISTENERS])
    mug = shop.variant()
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        order = shop.checkout({mug: 1}, customer=ada)
    assert order.status == Order.Status.PAID
    assert purchases(order).count() == 1
    assert "order-paid listener" in caplog.text and "listener down" in caplog.text


@pytest.mark.django_db
def test_purchases_of_a_merged_customer_go_to_the_surviving_record(
    shop, ada, django_capture_on_commit_callbacks
):
    from omnishop.customers.models import Customer

    survivor = Customer.objects.create(email="ada.l@example.com")
    Customer.objects.filter(pk=ada.pk).update(merged_into=survivor)
    ada.refresh_from_db()
    mug = shop.variant()
    with django_capture_on_commit_callbacks(execute=True):
        order = shop.checkout({mug: 1}, customer=ada, card=CARD_3DS)
        payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    assert list(purchases(order).values_list("customer_id", flat=True)) == [survivor.pk]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_announcing_the_same_paid_order_at_once_count_it_once(shop, ada):
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    mug, tea = shop.variant(), shop.variant()
    order = shop.checkout({mug: 1, tea: 2}, customer=ada)  # autocommit: the listener already ran
    Event.objects.all().delete()

    def announce(_):
        try:
            return record_order_purchases(order)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        written = list(pool.map(announce, range(6)))
    assert sorted(written) == [0, 0, 0, 0, 0, 2]
    assert purchases(order).count() == 2
