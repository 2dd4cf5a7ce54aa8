"""Changing a placed order: cancel (whole, partial, on hold, pending), address change, split and merge —
the refusals with their code and field, the money to the cent and the refund keys, the stock held."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from omnishop.core.errors import DomainError
from omnishop.inventory import services as inventory
from omnishop.orders import services
from omnishop.orders.models import Fulfilment, Order, OrderException
from omnishop.orders.services import listeners
from omnishop.payments import services as payments
from omnishop.payments.models import Payment, Refund

from .conftest import ADDRESS, Shop, assert_books_balance

pytestmark = pytest.mark.django_db
S = Order.Status
_keys = itertools.count(1)


def refused(fn, code: str, field: str | None):
    with pytest.raises(DomainError) as caught:
        fn()
    assert (caught.value.code, caught.value.field) == (code, field), caught.value.as_dict()
    return caught.value


def buy(shop, lines, customer=None, provider="test_card", card="4242424242424242", address=ADDRESS):
    return shop.checkout(
        lines, key=f"k{next(_keys)}", customer=customer, provider=provider, card=card, address=address
    )


def refunds(order):
    return sorted(
        (r.key, r.amount) for r in Refund.objects.filter(payment__reference=order.payment_reference)
    )


def payment_of(order):
    return Payment.objects.get(
        reference=order.payment_reference, status__in=["captured", "pending", "voided"]
    )


# --- cancel ------------------------------------------------------------------------------------------------


def test_cancelling_a_whole_paid_order_refunds_every_penny_under_the_orders_key(shop):
    v = shop.variant(price="10.00", stock=3)
    order = buy(shop, {v: 2})
    p = payment_of(order)
    order = services.cancel_order(order=order, actor="shopper:1", reason="changed mind")
    assert order.status == S.CANCELLED
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (0, 0, 0, 0)
    assert refunds(order) == [(f"cancel:{order.number}:1:{p.pk}", Decimal("24.95"))]
    assert Refund.objects.get().reason == "changed mind"
    assert services.paid(order) == 0 and shop.stock(v).allocated == 0
    line = order.lines.get()
    assert (line.cancelled, line.allocated) == (2, 0)
    event = order.events.get(kind="cancelled")
    assert (event.actor, event.message) == ("shopper:1", "changed mind")
    assert event.before == {"subtotal": "20.00", "shipping": "4.95", "tax": "4.16", "total": "24.95"}
    assert event.after == {
        "subtotal": "0.00",
        "shipping": "0.00",
        "tax": "0.00",
        "total": "0.00",
        "lines": {str(line.pk): 2},
        "refunded": "24.95",
    }
    moved = order.events.get(kind="status_changed")
    assert (moved.message, moved.actor) == ("changed mind", "shopper:1")
    assert_books_balance()


def test_a_cancel_without_a_reason_is_refunded_as_cancelled(shop):
    order = buy(shop, {shop.variant(stock=3): 1})
    services.cancel_order(order=order, actor="staff")
    assert Refund.objects.get().reason == "cancelled"


def test_cancelling_some_units_refunds_exactly_their_share_and_keeps_the_rest_held(shop):
    a = shop.variant(price="10.00", stock=5)
    b = shop.variant(price="6.35", stock=5)
    order = buy(shop, {a: 3, b: 1})
    line_a = order.lines.get(variant=a)
    p = payment_of(order)
    order = services.cancel_order(order=order, quantities={line_a.pk: 2}, actor="staff")
    assert order.status == S.PAID
    # shipping is not re-quoted by a cancel: 10.00 + 6.35 + 4.95
    assert (order.subtotal, order.shipping_total, order.total) == (
        Decimal("16.35"),
        Decimal("4.95"),
        Decimal("21.30"),
    )
    assert order.tax_total == Decimal("1.67") + Decimal("1.06") + Decimal("0.83")
    assert refunds(order) == [(f"cancel:{order.number}:1:{p.pk}", Decimal("20.00"))]
    assert services.paid(order) == order.total
    assert (shop.stock(a).allocated, shop.stock(b).allocated) == (1, 1)
    event = order.events.get(kind="cancelled_lines")
    assert event.after["lines"] == {str(line_a.pk): 2} and event.after["refunded"] == "20.00"
    assert not order.events.filter(kind="status_changed").exists()
    # a second partial cancel gets its own refund key
    order = services.cancel_order(order=order, quantities={line_a.pk: 1}, actor="staff")
    assert refunds(order) == sorted(
        [
            (f"cancel:{order.number}:1:{p.pk}", Decimal("20.00")),
            (f"cancel:{order.number}:3:{p.pk}", Decimal("10.00")),  # placed, payment, cancelled_lines
        ]
    )
    assert_books_balance()


def test_cancel_names_the_bad_line_or_quantity(shop):
    v = shop.variant(stock=5)
    order = buy(shop, {shop.variant(stock=5): 1, v: 2})
    line = order.lines.get(variant=v)
    other = order.lines.exclude(pk=line.pk).get()
    refused(
        lambda: services.cancel_order(order=order, quantities={other.pk: 1, 999999: 1}, actor="t"),
        "validation_error",
        "lines[1].line",
    )
    for bad in (0, -1, True, "1", 1.0):
        refused(
            lambda bad=bad: services.cancel_order(
                order=order, quantities={other.pk: 1, line.pk: bad}, actor="t"
            ),
            "validation_error",
            "lines[1].quantity",
        )
    refused(
        lambda: services.cancel_order(order=order, quantities={other.pk: 1, line.pk: 3}, actor="t"),
        "quantity_too_large",
        "lines[1].quantity",
    )
    refused(lambda: services.cancel_order(order=order, quantities={}, actor="t"), "nothing_to_do", "lines")
    assert Refund.objects.count() == 0 and services.get_order(order.number).total == order.total
    assert order.lines.filter(cancelled__gt=0).count() == 0


def test_a_shipped_order_cannot_be_cancelled(shop):
    order = buy(shop, {shop.variant(stock=5): 1})
    for f in services.create_fulfilments(order=order, actor="t"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="1", actor="t")
    error = refused(lambda: services.cancel_order(order=order, actor="t"), "invalid_transition", "status")
    assert error.details == {"current": "fulfilled"}


def test_only_the_unshipped_units_of_a_partly_shipped_order_can_be_cancelled(shop):
    north = inventory.create_location(code="north", name="North")
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, north.code])
    a = shop.variant(price="10.00", stock=1)
    b = shop.variant(price="5.00", stock=0)
    inventory.receive_stock(variant=b, location=north, quantity=2, reference="t")
    order = buy(shop, {a: 1, b: 2})
    first = next(
        f for f in services.create_fulfilments(order=order, actor="t") if f.location == shop.warehouse
    )
    services.ship_fulfilment(fulfilment=first, carrier="dhl", tracking_number="1", actor="t")
    order = services.get_order(order.number)
    shipped = order.lines.get(variant=a)
    refused(
        lambda: services.cancel_order(order=order, quantities={shipped.pk: 1}, actor="t"),
        "quantity_too_large",
        "lines[0].quantity",
    )
    p = payment_of(order)
    order = services.cancel_order(order=order, actor="t")
    assert order.status == S.FULFILLED
    # the shipped line and the shipping stay paid; the two unshipped units are refunded
    assert refunds(order) == [(f"cancel:{order.number}:4:{p.pk}", Decimal("10.00"))]
    assert order.total == Decimal("14.95") and services.paid(order) == Decimal("14.95")
    assert p.status == "captured"
    assert shop.stock(b, north).allocated == 0
    assert_books_balance()


def test_cancelling_a_pending_transfer_voids_it_and_refunds_nothing(shop):
    order = buy(shop, {shop.variant(stock=5): 1}, provider="manual", card="")
    order = services.cancel_order(order=order, actor="shopper")
    assert order.status == S.CANCELLED
    assert Payment.objects.get().status == "voided" and Refund.objects.count() == 0


def test_cancelling_part_of_a_pending_transfer_lowers_what_is_still_due(shop):
    a = shop.variant(price="10.00", stock=5)
    b = shop.variant(price="5.00", stock=5)
    order = buy(shop, {a: 1, b: 1}, provider="manual", card="")
    order = services.cancel_order(order=order, quantities={order.lines.get(variant=b).pk: 1}, actor="shopper")
    assert order.status == S.PENDING_PAYMENT and order.total == Decimal("14.95")
    p = Payment.objects.get()
    assert (p.status, p.amount) == ("pending", Decimal("14.95"))
    # nothing was paid, so the timeline says nothing was refunded
    assert order.events.get(kind="cancelled_lines").after["refunded"] == "0"


def channel_order(shop, lines, paid_amount=None, external_id=None):
    order, _ = services.create_channel_order(
        channel=shop.channel,
        lines=[services.ChannelLine(sku=v.sku, quantity=q) for v, q in lines.items()],
        external_id=external_id or f"M-{next(_keys)}",
        shipping_address=ADDRESS,
        paid_amount=paid_amount,
        actor="channel:marketplace",
    )
    return order


def test_cancelling_the_unpaid_part_of_an_order_settles_it_as_paid(
    shop, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr(listeners, "LISTENERS", [told.append])
    a = shop.variant(price="10.00", stock=5)
    b = shop.variant(price="7.00", stock=5)
    order = channel_order(shop, {a: 1, b: 1}, paid_amount="10.00")
    assert order.status == S.PENDING_PAYMENT
    with django_capture_on_commit_callbacks(execute=True):
        order = services.cancel_order(
            order=order, quantities={order.lines.get(variant=b).pk: 1}, actor="staff"
        )
    assert (order.status, order.total, services.paid(order)) == (S.PAID, Decimal("10.00"), Decimal("10.00"))
    assert Refund.objects.count() == 0 and [o.number for o in told] == [order.number]
    assert order.events.filter(kind="status_changed").latest("pk").after == {"status": "paid"}


def test_cancelling_an_on_hold_order_releases_what_it_held_refunds_and_closes_its_exception(shop):
    have = shop.variant(price="10.00", stock=1)
    missing = shop.variant(price="7.00", stock=0)
    order = channel_order(shop, {have: 1, missing: 1})
    assert order.status == S.ON_HOLD and shop.stock(have).allocated == 1
    p = Payment.objects.get(reference=order.number)
    order = services.cancel_order(order=order, actor="staff")
    assert order.status == S.CANCELLED
    assert refunds(order) == [(f"cancel:{order.number}:2:{p.pk}", Decimal("17.00"))]
    assert shop.stock(have).allocated == 0
    item = OrderException.objects.get(order=order)
    assert item.resolution == "cancelled" and item.resolved_at is not None
    assert_books_balance()


def test_cancelling_some_missing_units_of_an_on_hold_order_keeps_what_is_held(shop):
    have = shop.variant(price="10.00", stock=1)
    missing = shop.variant(price="7.00", stock=0)
    order = channel_order(shop, {have: 1, missing: 2})
    short = order.lines.get(variant=missing)
    p = Payment.objects.get(reference=order.number)
    order = services.cancel_order(order=order, quantities={short.pk: 1}, actor="staff")
    assert order.status == S.ON_HOLD
    assert [(x.allocated, x.cancelled) for x in order.lines.order_by("pk")] == [(1, 0), (0, 1)]
    assert shop.stock(have).allocated == 1
    assert order.total == Decimal("17.00") and services.paid(order) == Decimal("17.00")
    assert refunds(order) == [(f"cancel:{order.number}:2:{p.pk}", Decimal("7.00"))]
    assert OrderException.objects.get(order=order).resolved_at is None
    assert_books_balance()


# --- address change --------------------------------------------------------------------------------------------


@pytest.fixture
def net_shop(make_channel, make_key):
    """A shop whose prices are net of tax (B2B): the destination changes what the customer pays."""
    channel = make_channel("b2b", "web", "GBP", prices_include_tax=False)
    wh = inventory.create_location(code="b2b-wh", name="B2B")
    inventory.set_channel_locations(channel=channel, location_codes=[wh.code])
    return Shop(channel, wh, make_key)


def test_a_new_address_requotes_tax_and_refunds_the_difference(net_shop):
    v = net_shop.variant(price="10.00", stock=5)
    order = buy(net_shop, {v: 2})
    # GB 20 %: 20.00 + 4.00 tax, shipping 4.95 + 0.99
    assert (order.tax_total, order.total) == (Decimal("4.99"), Decimal("29.94"))
    p = payment_of(order)
    order = services.change_address(order=order, address={**ADDRESS, "country": "fr"}, actor="shopper:1")
    # FR at the '*' 10 %: 2.00 + 0.50 (0.495 half up)
    assert (order.tax_total, order.total) == (Decimal("2.50"), Decimal("27.45"))
    assert order.shipping_address["country"] == "FR"
    assert refunds(order) == [(f"address:{order.number}:1:{p.pk}", Decimal("2.49"))]
    assert Refund.objects.get().reason == "address change"
    assert services.paid(order) == order.total
    event = order.events.get(kind="address_changed")
    assert event.actor == "shopper:1"
    assert event.before["address"]["country"] == "GB" and event.after["address"]["country"] == "FR"
    assert (event.before["total"], event.after["total"], event.after["refunded"]) == (
        "29.94",
        "27.45",
        "2.49",
    )


def test_a_dearer_address_refunds_nothing(net_shop):
    v = net_shop.variant(price="10.00", stock=5)
    order = buy(net_shop, {v: 1}, address={**ADDRESS, "country": "FR"})
    order = services.change_address(order=order, address=ADDRESS, actor="shopper")
    assert Refund.objects.count() == 0
    assert order.events.get(kind="address_changed").after["refunded"] == "0"


def test_a_new_address_requotes_shipping(shop):
    services.create_shipping_method(
        channel=shop.channel, code="uk-only", name="UK", kind="flat", price="3.00", countries=["GB"]
    )
    order = shop.checkout({shop.variant(stock=5): 1}, key="uk", method="uk-only")
    refused(
        lambda: services.change_address(order=order, address={**ADDRESS, "country": "FR"}, actor="t"),
        "shipping_method_unavailable",
        "shipping_method",
    )
    assert services.get_order(order.number).shipping_address["country"] == "GB"


def test_the_address_is_locked_once_shipped_or_closed(shop):
    order = buy(shop, {shop.variant(stock=5): 1})
    refused(
        lambda: services.change_address(order=order, address={"name": "x"}, actor="t"),
        "invalid_address",
        "shipping_address.line1",
    )
    for f in services.create_fulfilments(order=order, actor="t"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="1", actor="t")
    error = refused(
        lambda: services.change_address(order=order, address=ADDRESS, actor="t"),
        "address_locked",
        "shipping_address",
    )
    assert error.details == {"current": "fulfilled"}
    cancelled = services.cancel_order(order=buy(shop, {shop.variant(stock=5): 1}), actor="t")
    error = refused(
        lambda: services.change_address(order=cancelled, address=ADDRESS, actor="t"),
        "address_locked",
        "shipping_address",
    )
    assert error.details == {"current": "cancelled"}


# --- split -----------------------------------------------------------------------------------------------------


def test_a_split_child_has_its_own_lines_totals_and_timeline_and_shares_the_payment(shop, customer):
    a = shop.variant(price="10.00", stock=5, weight=300)
    b = shop.variant(price="5.00", stock=5)
    order = buy(shop, {a: 2, b: 1}, customer=customer)
    line_a, line_b = order.lines.get(variant=a), order.lines.get(variant=b)
    child = services.split_order(order=order, quantities={line_a.pk: 1, line_b.pk: 1}, actor="staff:2")
    parent = services.get_order(order.number)
    assert child.number == f"{order.number}-S1" and child.parent == parent
    assert (child.status, child.payment_reference, child.channel, child.customer, child.email) == (
        S.PAID,
        order.number,
        shop.channel,
        customer,
        order.email,
    )
    assert (child.currency, child.prices_include_tax, child.shipping_address, child.backordered_at) == (
        "GBP",
        True,
        order.shipping_address,
        None,
    )
    assert (child.shipping_method, child.shipping_method_name) == (shop.standard, "Standard")
    assert child.tracking_token and child.tracking_token != parent.tracking_token
    # the child ships free; the parent keeps the shipping it was paid for
    assert (child.subtotal, child.shipping_total, child.tax_total, child.total) == (
        Decimal("15.00"),
        Decimal("0.00"),
        Decimal("2.50"),
        Decimal("15.00"),
    )
    assert (parent.subtotal, parent.shipping_total, parent.tax_total, parent.total) == (
        Decimal("10.00"),
        Decimal("4.95"),
        Decimal("2.50"),
        Decimal("14.95"),
    )
    assert [
        (x.sku, x.quantity, x.allocated, x.unit_price, x.weight_grams) for x in child.lines.order_by("sku")
    ] == [
        (a.sku, 1, 1, Decimal("10.00"), 300),
        (b.sku, 1, 1, Decimal("5.00"), 0),
    ]
    assert [(x.sku, x.quantity, x.allocated, x.weight_grams) for x in parent.lines.all()] == [
        (a.sku, 1, 1, 300)
    ]
    assert (shop.stock(a).allocated, shop.stock(b).allocated) == (2, 1)
    assert Refund.objects.count() == 0 and services.paid(parent) == Decimal("29.95")
    split = parent.events.get(kind="split")
    assert (split.actor, split.before["total"], split.after) == (
        "staff:2",
        "29.95",
        {"subtotal": "10.00", "shipping": "4.95", "tax": "2.50", "total": "14.95", "child": child.number},
    )
    split_from = child.events.get()
    assert (split_from.kind, split_from.actor, split_from.after) == (
        "split_from",
        "staff:2",
        {"parent": parent.number, "subtotal": "15.00", "shipping": "0.00", "tax": "2.50", "total": "15.00"},
    )
    assert_books_balance()


def test_each_split_gets_the_next_number(shop):
    v = shop.variant(stock=5)
    order = buy(shop, {v: 3})
    line = order.lines.get()
    first = services.split_order(order=order, quantities={line.pk: 1}, actor="t")
    second = services.split_order(order=order, quantities={line.pk: 1}, actor="t")
    assert (first.number, second.number) == (f"{order.number}-S1", f"{order.number}-S2")
    assert [
        services.get_order(n).lines.get().quantity for n in (order.number, first.number, second.number)
    ] == [1, 1, 1]


def test_a_cancelled_split_child_is_refunded_from_the_shared_payment(shop):
    v = shop.variant(price="10.00", stock=5)
    order = buy(shop, {v: 2})
    p = payment_of(order)
    child = services.split_order(order=order, quantities={order.lines.get().pk: 1}, actor="t")
    child = services.cancel_order(order=child, actor="t")
    assert child.status == S.CANCELLED
    assert refunds(order) == [(f"cancel:{child.number}:1:{p.pk}", Decimal("10.00"))]
    assert services.paid(order) == services.family_total(order) == Decimal("14.95")


def test_split_refusals_name_the_field(shop):
    v = shop.variant(stock=5)
    w = shop.variant(stock=5)
    order = buy(shop, {v: 2, w: 1})
    line, other = order.lines.get(variant=v), order.lines.get(variant=w)
    refused(lambda: services.split_order(order=order, quantities={}, actor="t"), "validation_error", "lines")
    refused(
        lambda: services.split_order(order=order, quantities={line.pk: 1, 99999: 1}, actor="t"),
        "validation_error",
        "lines[1].line",
    )
    for bad in (0, -1, 3, True, "1"):
        refused(
            lambda bad=bad: services.split_order(
                order=order, quantities={other.pk: 1, line.pk: bad}, actor="t"
            ),
            "quantity_too_large",
            "lines[1].quantity",
        )
    refused(
        lambda: services.split_order(order=order, quantities={line.pk: 2, other.pk: 1}, actor="t"),
        "validation_error",
        "lines",
    )
    assert Order.objects.count() == 1
    for f in services.create_fulfilments(order=order, actor="t"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="1", actor="t")
    refused(
        lambda: services.split_order(order=order, quantities={line.pk: 1}, actor="t"),
        "invalid_transition",
        "status",
    )


def test_splitting_off_the_missing_units_releases_the_rest_of_an_on_hold_order(
    shop, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr(listeners, "LISTENERS", [told.append])
    have = shop.variant(price="10.00", stock=1)
    missing = shop.variant(price="7.00", stock=0)
    order = channel_order(shop, {have: 1, missing: 1})
    with django_capture_on_commit_callbacks(execute=True):
        child = services.split_order(
            order=order, quantities={order.lines.get(variant=missing).pk: 1}, actor="staff"
        )
    parent = services.get_order(order.number)
    assert (parent.status, child.status) == (S.PAID, S.ON_HOLD)
    assert [(x.sku, x.allocated) for x in parent.lines.all()] == [(have.sku, 1)]
    assert [(x.sku, x.allocated) for x in child.lines.all()] == [(missing.sku, 0)]
    item = OrderException.objects.get(order=parent)
    assert (item.resolution, item.resolved_at is not None) == ("allocated", True)
    assert parent.events.filter(kind="status_changed").latest("pk").message == "All units held."
    assert [o.number for o in told] == [parent.number]
    assert shop.stock(have).allocated == 1
    assert_books_balance()


def test_a_held_unit_moves_with_the_split_when_every_unit_is_held(shop):
    v = shop.variant(stock=3)
    order = buy(shop, {v: 3})
    child = services.split_order(order=order, quantities={order.lines.get().pk: 2}, actor="t")
    assert child.lines.get().allocated == 2 and services.get_order(order.number).lines.get().allocated == 1
    assert shop.stock(v).allocated == 3
    assert_books_balance()


# --- merge -----------------------------------------------------------------------------------------------------


def test_merging_combines_lines_of_the_same_variant_and_refunds_the_second_shipping(shop, customer):
    a = shop.variant(price="10.00", stock=5, weight=200)
    b = shop.variant(price="5.00", stock=5)
    first = buy(shop, {a: 1}, customer=customer)
    second = buy(shop, {a: 2, b: 1}, customer=customer)
    services.create_fulfilments(order=second, actor="t")
    p2 = payment_of(second)
    merged = services.merge_orders(orders=[second, first], actor="staff:3")
    assert merged.number == first.number and merged.status == S.PAID
    assert [(x.sku, x.quantity, x.allocated, x.weight_grams) for x in merged.lines.order_by("sku")] == [
        (a.sku, 3, 3, 600),
        (b.sku, 1, 1, 0),
    ]
    assert (merged.subtotal, merged.shipping_total, merged.total) == (
        Decimal("35.00"),
        Decimal("4.95"),
        Decimal("39.95"),
    )
    assert refunds(merged) == [(f"merge:{merged.number}:2:{p2.pk}", Decimal("4.95"))]
    assert Refund.objects.get().reason == "shipping re-quoted on merge"
    assert services.paid(merged) == merged.total
    gone = services.get_order(second.number)
    assert (
        gone.status,
        gone.merged_into,
        gone.total,
        gone.subtotal,
        gone.tax_total,
        gone.shipping_total,
    ) == (
        S.MERGED,
        merged,
        0,
        0,
        0,
        0,
    )
    assert gone.lines.count() == 0
    assert not Fulfilment.objects.filter(status="pending").exists()
    moved = gone.events.get(kind="status_changed")
    assert (moved.actor, moved.message) == ("staff:3", f"Merged into {first.number}.")
    event = merged.events.get(kind="merged")
    assert (event.actor, event.before["total"], event.after["total"], event.after["merged"]) == (
        "staff:3",
        "14.95",
        "39.95",
        [second.number],
    )
    assert shop.stock(a).allocated == 3
    assert_books_balance()


def test_orders_with_different_prices_for_one_variant_do_not_merge(shop, customer):
    from omnishop.catalog.models import ChannelListing

    v = shop.variant(price="10.00", stock=5)
    first = buy(shop, {v: 1}, customer=customer)
    ChannelListing.objects.filter(variant=v).update(price=Decimal("12.00"))
    second = buy(shop, {v: 1}, customer=customer)
    refused(lambda: services.merge_orders(orders=[first, second], actor="t"), "not_mergeable", "orders")
    assert services.get_order(second.number).status == S.PAID
    assert services.get_order(first.number).lines.get().quantity == 1 and Refund.objects.count() == 0


def test_merge_rules(shop, customer, make_channel):
    from omnishop.customers.models import Customer

    v = shop.variant(stock=20)
    other_customer = Customer.objects.create(email="bob@example.com")
    first = buy(shop, {v: 1}, customer=customer)
    refused(lambda: services.merge_orders(orders=[first], actor="t"), "validation_error", "orders")
    refused(lambda: services.merge_orders(orders=[], actor="t"), "validation_error", "orders")
    refused(lambda: services.merge_orders(orders=[first, first], actor="t"), "validation_error", "orders")
    guest = buy(shop, {v: 1})
    refused(lambda: services.merge_orders(orders=[first, guest], actor="t"), "not_mergeable", "orders")
    refused(
        lambda: services.merge_orders(orders=[guest, buy(shop, {v: 1})], actor="t"), "not_mergeable", "orders"
    )
    bob = buy(shop, {v: 1}, customer=other_customer)
    refused(lambda: services.merge_orders(orders=[first, bob], actor="t"), "not_mergeable", "orders")
    elsewhere = buy(shop, {v: 1}, customer=customer, address={**ADDRESS, "line1": "2 Analytical Row"})
    refused(lambda: services.merge_orders(orders=[first, elsewhere], actor="t"), "not_mergeable", "orders")
    shipped = buy(shop, {v: 1}, customer=customer)
    for f in services.create_fulfilments(order=shipped, actor="t"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="1", actor="t")
    refused(lambda: services.merge_orders(orders=[first, shipped], actor="t"), "not_mergeable", "orders")
    cancelled = services.cancel_order(order=buy(shop, {v: 1}, customer=customer), actor="t")
    refused(lambda: services.merge_orders(orders=[cancelled, first], actor="t"), "not_mergeable", "orders")
    two = buy(shop, {v: 2}, customer=customer)
    child = services.split_order(order=two, quantities={two.lines.get().pk: 1}, actor="t")
    refused(lambda: services.merge_orders(orders=[first, child], actor="t"), "not_mergeable", "orders")
    assert (
        services.get_order(first.number).status == S.PAID
        and not Order.objects.filter(status=S.MERGED).exists()
    )


def test_orders_of_different_channels_do_not_merge(shop, customer, make_channel, make_key):
    v = shop.variant(stock=5)
    other = make_channel("shop2", "web", "GBP")
    wh = inventory.create_location(code="wh2", name="WH2")
    inventory.set_channel_locations(channel=other, location_codes=[wh.code])
    shop2 = Shop(other, wh, make_key)
    w = shop2.variant(stock=5)
    refused(
        lambda: services.merge_orders(
            orders=[buy(shop, {v: 1}, customer=customer), buy(shop2, {w: 1}, customer=customer)], actor="t"
        ),
        "not_mergeable",
        "orders",
    )


def test_unpaid_orders_merge_and_the_transfers_due_shrink_to_the_new_total(shop, customer):
    v = shop.variant(price="10.00", stock=5)
    first = buy(shop, {v: 1}, customer=customer, provider="manual", card="")
    second = buy(shop, {v: 2}, customer=customer, provider="manual", card="")
    merged = services.merge_orders(orders=[first, second], actor="staff")
    assert (merged.status, merged.total) == (S.PENDING_PAYMENT, Decimal("34.95"))
    assert services.get_order(second.number).status == S.MERGED
    due = sorted(Payment.objects.filter(reference=first.number).values_list("amount", flat=True))
    assert due == [Decimal("10.00"), Decimal("24.95")] and sum(due) == merged.total
    assert Refund.objects.count() == 0
    for p in Payment.objects.filter(reference=first.number):
        payments.confirm_payment(payment=p)
    assert services.get_order(first.number).status == S.PAID
    assert services.paid(merged) == Decimal("34.95")


def test_an_unpaid_order_merged_with_a_paid_one_still_waits_for_its_money(shop, customer):
    v = shop.variant(price="10.00", stock=5)
    first = buy(shop, {v: 1}, customer=customer, provider="manual", card="")
    second = buy(shop, {v: 2}, customer=customer)
    merged = services.merge_orders(orders=[first, second], actor="staff")
    assert (merged.status, merged.total, services.paid(merged)) == (
        S.PENDING_PAYMENT,
        Decimal("34.95"),
        Decimal("24.95"),
    )
    assert Payment.objects.get(reference=first.number, status="pending").amount == Decimal("10.00")


def test_a_partial_cancel_does_not_requote_the_shipping(shop):
    services.create_shipping_method(
        channel=shop.channel,
        code="free50",
        name="Free over 50",
        kind="free_over",
        price="3.00",
        free_over="50.00",
    )
    v = shop.variant(price="30.00", stock=5)
    order = shop.checkout({v: 2}, key="free", method="free50")
    assert order.shipping_total == 0
    order = services.cancel_order(order=order, quantities={order.lines.get().pk: 1}, actor="t")
    assert (order.shipping_total, order.total) == (Decimal("0.00"), Decimal("30.00"))
    assert services.paid(order) == Decimal("30.00")


def test_splitting_a_single_unit_line_moves_its_whole_weight(shop):
    a = shop.variant(stock=5, weight=300)
    b = shop.variant(stock=5)
    order = buy(shop, {a: 1, b: 1})
    child = services.split_order(order=order, quantities={order.lines.get(variant=a).pk: 1}, actor="t")
    assert child.lines.get().weight_grams == 300
    assert list(services.get_order(order.number).lines.values_list("sku", flat=True)) == [b.sku]


def test_merging_adds_up_cancelled_units_and_cancels_every_pending_parcel(shop, customer):
    v = shop.variant(price="10.00", stock=9)
    first = buy(shop, {v: 1}, customer=customer)
    second = buy(shop, {v: 3}, customer=customer)
    second = services.cancel_order(order=second, quantities={second.lines.get().pk: 1}, actor="t")
    services.create_fulfilments(order=first, actor="t")
    services.create_fulfilments(order=second, actor="t")
    merged = services.merge_orders(orders=[first, second], actor="t")
    line = merged.lines.get()
    assert (line.quantity, line.cancelled, line.allocated) == (4, 1, 3)
    assert merged.total == Decimal("34.95") and services.paid(merged) == merged.total
    assert set(Fulfilment.objects.values_list("status", flat=True)) == {"cancelled"}
    for f in services.create_fulfilments(order=merged, actor="t"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="1", actor="t")
    assert shop.stock(v).on_hand == 6 and services.get_order(merged.number).status == S.FULFILLED
    assert_books_balance()


def test_merging_a_part_paid_order_with_a_paid_one_settles_it_as_paid(
    shop, customer, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr(listeners, "LISTENERS", [told.append])
    v = shop.variant(price="10.00", stock=5)
    first, _ = services.create_channel_order(
        channel=shop.channel,
        lines=[services.ChannelLine(sku=v.sku, quantity=1)],
        customer=customer,
        shipping_address=ADDRESS,
        shipping_method="standard",
        paid_amount="10.00",
        actor="channel:phone",
    )
    assert (first.status, first.total) == (S.PENDING_PAYMENT, Decimal("14.95"))
    second = buy(shop, {v: 1}, customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        merged = services.merge_orders(orders=[second, first], actor="staff")
    assert merged.number == first.number
    assert (merged.status, merged.total, services.paid(merged)) == (
        S.PAID,
        Decimal("24.95"),
        Decimal("24.95"),
    )
    assert Refund.objects.count() == 0 and [o.number for o in told] == [merged.number]
    assert merged.events.filter(kind="status_changed").latest("pk").after == {"status": "paid"}


def test_a_refund_of_less_than_a_pound_is_still_made(shop):
    a = shop.variant(price="0.40", stock=5)
    b = shop.variant(price="10.00", stock=5)
    order = buy(shop, {a: 1, b: 1})
    p = payment_of(order)
    order = services.cancel_order(order=order, quantities={order.lines.get(variant=a).pk: 1}, actor="t")
    assert refunds(order) == [(f"cancel:{order.number}:1:{p.pk}", Decimal("0.40"))]
    assert services.paid(order) == order.total == Decimal("14.95")


def test_cancelling_an_order_paid_less_than_one_pound_refunds_it(shop):
    v = shop.variant(price="0.80", stock=5)
    order = channel_order(shop, {v: 1}, paid_amount="0.80")
    assert order.status == S.PAID and services.paid(order) == Decimal("0.80")
    order = services.cancel_order(order=order, actor="staff")
    assert order.status == S.CANCELLED and services.paid(order) == 0
    assert [amount for _, amount in refunds(order)] == [Decimal("0.80")]
    assert order.events.get(kind="cancelled").after["refunded"] == "0.80"


def test_refunds_in_a_three_decimal_currency_are_exact_to_the_fils(make_channel, make_key):
    channel = make_channel("bh", "web", "BHD", country="BH")
    wh = inventory.create_location(code="bh-wh", name="Manama")
    inventory.set_channel_locations(channel=channel, location_codes=[wh.code])
    shop = Shop(channel, wh, make_key)
    a = shop.variant(price="1.235", stock=5)
    b = shop.variant(price="2.000", stock=5)
    order = buy(shop, {a: 1, b: 1}, address={**ADDRESS, "country": "BH"})
    assert order.total == Decimal("8.185")
    p = payment_of(order)
    order = services.cancel_order(order=order, quantities={order.lines.get(variant=a).pk: 1}, actor="t")
    assert refunds(order) == [(f"cancel:{order.number}:1:{p.pk}", Decimal("1.235"))]
    assert services.paid(order) == order.total == Decimal("6.950")


def test_merging_three_orders_moves_every_line_and_combines_repeats(
    shop, customer, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr(listeners, "LISTENERS", [told.append])
    a, b, c = (shop.variant(price="10.00", stock=9) for _ in range(3))
    stranger = buy(shop, {a: 1})
    (parcel,) = services.create_fulfilments(order=stranger, actor="t")
    first = buy(shop, {a: 1}, customer=customer)
    second = buy(shop, {b: 1, c: 2}, customer=customer)
    third = buy(shop, {c: 1, b: 1}, customer=customer)
    services.create_fulfilments(order=first, actor="t")
    with django_capture_on_commit_callbacks(execute=True):
        merged = services.merge_orders(orders=[third, first, second], actor="t")
    assert merged.number == first.number
    assert sorted((x.variant_id, x.quantity, x.allocated) for x in merged.lines.all()) == [
        (a.pk, 1, 1),
        (b.pk, 2, 2),
        (c.pk, 3, 3),
    ]
    assert merged.total == Decimal("64.95") and services.paid(merged) == merged.total
    assert told == []  # it was paid before and is paid now: no second "order paid"
    parcel.refresh_from_db()
    assert parcel.status == "pending"  # another customer's parcel is not touched
    assert_books_balance()


def test_a_split_moves_titles_and_weights_and_keeps_the_parents_shipping_as_paid(shop):
    services.create_shipping_method(
        channel=shop.channel,
        code="bands",
        name="Bands",
        kind="weight",
        bands=[{"up_to_grams": 1000, "price": "3.00"}, {"up_to_grams": 5000, "price": "7.50"}],
    )
    v = shop.variant(price="10.00", stock=5, weight=400)
    order = shop.checkout({v: 3}, key="bands", method="bands")
    assert order.shipping_total == Decimal("7.50")
    child = services.split_order(order=order, quantities={order.lines.get().pk: 2}, actor="t")
    parent = services.get_order(order.number)
    (moved,), (kept,) = child.lines.all(), parent.lines.all()
    assert (moved.title, moved.quantity, moved.weight_grams) == (kept.title, 2, 800)
    assert (kept.quantity, kept.weight_grams) == (1, 400)
    # the parent's 400 g would now cost 3.00, but what was paid for shipping stays with it
    assert (parent.shipping_total, parent.total, child.total) == (
        Decimal("7.50"),
        Decimal("17.50"),
        Decimal("20.00"),
    )


def test_a_backordered_orders_split_child_waits_in_the_backorder_queue_too(shop):
    have = shop.variant(price="10.00", stock=1)
    missing = shop.variant(price="7.00", stock=0)
    order = channel_order(shop, {have: 1, missing: 2})
    order = services.resolve_exception(
        item=OrderException.objects.get(order=order), action="backorder", actor="staff"
    )
    assert order.backordered_at is not None and order.status == S.ON_HOLD
    child = services.split_order(
        order=order, quantities={order.lines.get(variant=missing).pk: 2}, actor="staff"
    )
    assert child.backordered_at == order.backordered_at and child.status == S.ON_HOLD
    assert services.get_order(order.number).status == S.PAID
    inventory.receive_stock(variant=missing, location=shop.warehouse, quantity=2, reference="po")
    assert services.allocate_backorders(channel=shop.channel) == [child.number]
    child = services.get_order(child.number)
    assert (child.status, child.backordered_at, child.lines.get().allocated) == (S.PAID, None, 2)
    assert_books_balance()


def test_cancelling_a_pending_order_voids_only_its_own_transfer(shop):
    v = shop.variant(stock=5)
    mine = buy(shop, {v: 1}, provider="manual", card="")
    theirs = buy(shop, {v: 1}, provider="manual", card="")
    services.cancel_order(order=mine, actor="t")
    assert Payment.objects.get(reference=mine.number).status == "voided"
    assert Payment.objects.get(reference=theirs.number).status == "pending"


def test_splitting_off_the_held_units_of_an_on_hold_order_releases_the_child(shop):
    have = shop.variant(price="10.00", stock=1)
    missing = shop.variant(price="7.00", stock=0)
    order = channel_order(shop, {have: 1, missing: 1})
    child = services.split_order(
        order=order, quantities={order.lines.get(variant=have).pk: 1}, actor="staff:4"
    )
    assert (child.status, services.get_order(order.number).status) == (S.PAID, S.ON_HOLD)
    moved = child.events.get(kind="status_changed")
    assert (moved.actor, moved.message, moved.after) == ("staff:4", "All units held.", {"status": "paid"})
