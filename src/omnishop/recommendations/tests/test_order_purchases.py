"""Purchases come from orders: a paid order writes one purchase event per line, once, when the outbox relay
hands its `order.paid` on (after its commit, off the checkout's request; ADR 0036)."""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.core import outbox
from omnishop.inventory import services as inventory
from omnishop.orders import services as orders
from omnishop.orders.models import Order
from omnishop.payments import services as payments
from omnishop.payments.models import Payment
from omnishop.recommendations.models import Event
from omnishop.recommendations.services import order_events
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


def relay() -> None:
    """What the relay thread of `omnishop serve` (or `omnishop relay`) does after the commit."""
    while outbox.relay_once():
        pass


def paid_time(order: Order):
    entries = order.events.filter(kind__in=("placed", "status_changed")).order_by("created_at", "pk")
    return next(e.created_at for e in entries if (e.after or {}).get("status") == "paid")


@pytest.mark.django_db
def test_a_paid_checkout_counts_one_purchase_per_line_for_its_customer(shop, ada):
    mug, tea = shop.variant(), shop.variant()
    order = shop.checkout({mug: 2, tea: 1}, customer=ada)
    relay()
    assert order.status == Order.Status.PAID
    rows = list(purchases(order))
    assert [(e.variant_id, e.product_id, e.quantity, e.customer_id) for e in rows] == sorted(
        [(mug.pk, mug.product_id, 2, ada.pk), (tea.pk, tea.product_id, 1, ada.pk)]
    )
    assert {e.occurred_at for e in rows} == {paid_time(order)}


@pytest.mark.django_db
def test_nothing_is_counted_on_the_checkouts_request_only_when_the_relay_hands_order_paid_on(shop, ada):
    mug = shop.variant()
    order = shop.checkout({mug: 1}, customer=ada)
    assert order.status == Order.Status.PAID
    assert not purchases(order).exists()
    relay()
    assert purchases(order).count() == 1


@pytest.mark.django_db
def test_a_rolled_back_checkout_leaves_no_event_and_counts_nothing(shop, ada):
    from django.db import transaction

    mug = shop.variant()
    with pytest.raises(RuntimeError), transaction.atomic():
        shop.checkout({mug: 1}, customer=ada)
        raise RuntimeError("the caller's transaction fails after the checkout")
    relay()
    assert not Event.objects.filter(kind="purchase").exists()


@pytest.mark.django_db
def test_an_order_confirmed_after_3d_secure_counts_once_however_often_it_is_announced_paid(shop, ada):
    from omnishop.core.models import OutboxEvent
    from omnishop.orders.services import listeners as paid_hook

    mug = shop.variant()
    order = shop.checkout({mug: 3}, customer=ada, card=CARD_3DS)
    relay()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert not purchases(order).exists()
    payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    relay()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert [(e.variant_id, e.quantity) for e in purchases(order)] == [(mug.pk, 3)]
    # Announced again, the event handed over twice (a relay that crashed before marking it dispatched), and a
    # direct second call: nothing changes.
    paid_hook.order_paid(order)
    relay()
    order_events.sink(OutboxEvent.objects.filter(aggregate_id=order.number, type="order.paid"))
    assert record_order_purchases(order) == 0
    assert purchases(order).count() == 1


@pytest.mark.django_db
def test_a_pos_sale_created_already_paid_counts_its_lines_as_one_guest_basket(make_channel):
    store = Shop(make_channel("store", "pos_store", "GBP"))
    mug, tea = store.variant(), store.variant()
    order, created = orders.create_channel_order(
        channel=store.channel,
        lines=[orders.ChannelLine(sku=mug.sku, quantity=1), orders.ChannelLine(sku=tea.sku, quantity=2)],
        handed_over=True,
        actor="channel:store",
    )
    relay()
    assert created and order.status == Order.Status.FULFILLED
    rows = list(purchases(order))
    assert [(e.variant_id, e.quantity) for e in rows] == sorted([(mug.pk, 1), (tea.pk, 2)])
    assert {(e.customer_id, e.anonymous_id) for e in rows} == {(None, f"order:{order.number}")}
    assert {e.occurred_at for e in rows} == {paid_time(order)}


@pytest.mark.django_db
def test_an_order_cancelled_before_payment_counts_nothing(shop, ada):
    mug = shop.variant()
    order = shop.checkout({mug: 1}, customer=ada, card=CARD_3DS)
    order = orders.cancel_order(order=order, actor="test", reason="changed mind")
    relay()
    assert order.status == Order.Status.CANCELLED
    assert record_order_purchases(order) == 0
    assert not Event.objects.filter(kind="purchase").exists()


@pytest.mark.django_db
def test_partly_cancelled_lines_count_only_what_was_kept(shop, ada):
    mug, tea = shop.variant(), shop.variant()
    order = shop.checkout({mug: 3, tea: 1}, customer=ada, card=CARD_3DS)
    line = order.lines.get(variant=tea)
    order = orders.cancel_order(order=order, quantities={line.pk: 1}, actor="test")
    payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    relay()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert [(e.variant_id, e.quantity) for e in purchases(order)] == [(mug.pk, 3)]


@pytest.mark.django_db
def test_one_orders_failing_purchases_are_logged_and_hold_back_neither_the_others_nor_the_relay(
    shop, ada, monkeypatch, caplog
):
    from omnishop.core.models import OutboxEvent

    mug = shop.variant()
    broken_order = shop.checkout({mug: 1}, customer=ada, key="k-broken")
    order = shop.checkout({mug: 1}, customer=ada, key="k-fine")
    real = order_events.record_purchases

    def record(*, order_ids):
        written = real(order_ids=order_ids)
        if broken_order.pk in order_ids:  # its writes (and the batch's) are undone with their savepoint
            raise RuntimeError("purchases down")
        return written

    monkeypatch.setattr(order_events, "record_purchases", record)
    with caplog.at_level(logging.ERROR):
        relay()
    assert purchases(order).count() == 1  # the fine order's, not the broken one's
    assert "purchases of paid order" in caplog.text and "purchases down" in caplog.text
    assert [e.occurred_at for e in purchases(order)] == [paid_time(order)]
    # Every event was handed on (webhooks and connectors were not held back).
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_relay_batch_of_guest_orders_costs_the_statements_of_one_order(shop):
    from django.test.utils import CaptureQueriesContext

    from omnishop.core.models import OutboxEvent

    mug, tea = shop.variant(), shop.variant()
    one = [shop.checkout({mug: 1}, key="one")]
    five = [shop.checkout({mug: 1, tea: 2}, key=f"five-{i}") for i in range(5)]

    def sink(orders):
        paid = OutboxEvent.objects.filter(type="order.paid", aggregate_id__in=[o.number for o in orders])
        with CaptureQueriesContext(connection) as captured:
            order_events.sink(list(paid))
        return len(captured)

    alone = sink(one)
    assert sink(five) == alone  # one guest basket per order, one insert for the batch
    assert purchases(one[0]).count() == 1 + 5 * 2
    guests = purchases(one[0]).values_list("anonymous_id", flat=True)
    assert sorted(set(guests)) == sorted(f"order:{o.number}" for o in one + five)


@pytest.mark.django_db
def test_purchases_of_a_merged_customer_go_to_the_surviving_record(shop, ada):
    from omnishop.customers.models import Customer

    survivor = Customer.objects.create(email="ada.l@example.com")
    Customer.objects.filter(pk=ada.pk).update(merged_into=survivor)
    ada.refresh_from_db()
    mug = shop.variant()
    order = shop.checkout({mug: 1}, customer=ada, card=CARD_3DS)
    payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    relay()
    assert list(purchases(order).values_list("customer_id", flat=True)) == [survivor.pk]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_announcing_the_same_paid_order_at_once_count_it_once(shop, ada):
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    mug, tea = shop.variant(), shop.variant()
    order = shop.checkout({mug: 1, tea: 2}, customer=ada)

    def announce(_):
        try:
            return record_order_purchases(order)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        written = list(pool.map(announce, range(6)))
    assert sorted(written) == [0, 0, 0, 0, 0, 2]
    assert purchases(order).count() == 2
