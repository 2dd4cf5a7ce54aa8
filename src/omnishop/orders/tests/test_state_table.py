"""The order state table, pair by pair, against the operations that use it.

For every move the table allows there is a scenario that brings a real order into the starting status through
the services and performs the real operation (ship, deliver, complete, return, cancel, merge, payment
webhook, backorder) that makes the move. The timeline's `status_changed` events record every move the
services made, so a move the code makes that the table lacks (or a table entry no code uses) is caught.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import orjson
import pytest

from omnishop.core.errors import InvalidTransition
from omnishop.inventory import services as inventory
from omnishop.orders import services
from omnishop.orders.models import Order, OrderEvent, OrderException
from omnishop.orders.states import TRANSITIONS, transition
from omnishop.payments import services as payments
from omnishop.payments.models import Payment

from .conftest import ADDRESS, assert_books_balance

pytestmark = pytest.mark.django_db

S = Order.Status
CARD_3DS = "4000002500003155"
_keys = itertools.count(1)


# --- ways to bring an order into a status, all through the services ---------------------------------------


def paid_order(shop, customer=None, qty=2):
    v = shop.variant(price="10.00", stock=10)
    return shop.checkout({v: qty}, key=f"paid-{next(_keys)}", customer=customer)


def pending_order(shop, customer=None, qty=2):
    """A bank-transfer order: placed, the money not there yet."""
    v = shop.variant(price="10.00", stock=10)
    return shop.checkout(
        {v: qty}, key=f"transfer-{next(_keys)}", provider="manual", card="", customer=customer
    )


def two_parcel_order(shop):
    """A paid order whose two lines ship from two warehouses (two fulfilments)."""
    north = inventory.create_location(code="north", name="North")
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, north.code])
    a = shop.variant(stock=1)
    b = shop.variant(stock=0)
    inventory.receive_stock(variant=b, location=north, quantity=1, reference="t")
    order = shop.checkout({a: 1, b: 1}, key=f"two-parcels-{next(_keys)}")
    return order, services.create_fulfilments(order=order, actor="t")


def ship(fulfilment):
    services.ship_fulfilment(fulfilment=fulfilment, carrier="dhl", tracking_number="T1", actor="t")


def fulfilled_order(shop):
    order = paid_order(shop)
    for f in services.create_fulfilments(order=order, actor="t"):
        ship(f)
    return services.get_order(order.number)


def delivered_order(shop):
    order = fulfilled_order(shop)
    for f in order.fulfilments.all():
        services.mark_delivered(fulfilment=f, actor="carrier:dhl")
    return services.get_order(order.number)


def completed_order(shop):
    return services.complete_order(order=delivered_order(shop), actor="staff")


def return_units(shop, order, qty):
    line = order.lines.get()
    rma = services.request_return(order=order, lines=[(line.pk, qty, "too small")], actor="shopper")
    services.decide_return(rma=rma, approve=True, actor="staff")
    services.receive_return(
        rma=rma, dispositions={line.pk: "restock"}, location_code=shop.warehouse.code, actor="staff"
    )
    return services.get_order(order.number)


def partially_returned_order(shop):
    return return_units(shop, delivered_order(shop), 1)


def on_hold_order(shop, paid_amount=None):
    """A marketplace order imported while its SKU is out of stock: it waits in the exception queue."""
    v = shop.variant(price="10.00", stock=0)
    order, _ = services.create_channel_order(
        channel=shop.channel,
        lines=[services.ChannelLine(sku=v.sku, quantity=2)],
        external_id="AMZ-1",
        shipping_address=ADDRESS,
        paid_amount=paid_amount,
        actor="channel:marketplace",
    )
    assert order.status == S.ON_HOLD
    return order, v


def backorder_filled(shop, order, variant):
    inventory.receive_stock(variant=variant, location=shop.warehouse, quantity=2, reference="po")
    item = OrderException.objects.get(order=order)
    released = services.resolve_exception(item=item, action="backorder", actor="staff")
    # out of the backorder queue, its exception closed
    assert released.backordered_at is None
    item.refresh_from_db()
    assert (item.resolution, item.resolved_at is not None) == ("allocated", True)
    return released


@pytest.fixture
def stripe_sdk(settings):
    """Stripe's API on 127.0.0.1 (payments/tests/stripe_fake.py): its 3-D Secure test card waits for the shopper."""
    from omnishop.connectors.fakes.base import FakeServer
    from omnishop.payments.tests.stripe_fake import SECRET_KEY, StripeFake

    server = FakeServer(StripeFake()).start()
    settings.OMNISHOP_STRIPE_SECRET_KEY = SECRET_KEY
    settings.OMNISHOP_STRIPE_WEBHOOK_SECRET = "whsec_test_x"
    settings.OMNISHOP_STRIPE_API_BASE = server.url
    yield server.app
    server.stop()


def stripe_webhook(kind: str, status: str, settings) -> None:
    import hashlib
    import hmac
    import time

    intent = Payment.objects.get(provider="stripe").external_id
    body = orjson.dumps(
        {
            "id": f"evt_{kind}",
            "object": "event",
            "type": kind,
            "data": {"object": {"id": intent, "status": status, "currency": "gbp", "amount_received": 0}},
        }
    )
    ts = str(int(time.time()))
    mac = hmac.new(settings.OMNISHOP_STRIPE_WEBHOOK_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256)
    payments.handle_webhook(
        provider="stripe", body=body, headers={"Stripe-Signature": f"t={ts},v1={mac.hexdigest()}"}
    )


# --- every allowed pair, through the operation that makes it -----------------------------------------------


def _pending_paid(shop, **_):
    order = shop.checkout({shop.variant(stock=3): 1}, key=f"3ds-{next(_keys)}", card=CARD_3DS)
    return order, lambda: payments.confirm_payment(payment=Payment.objects.get(reference=order.number))


def _pending_on_hold(shop, settings, request, **_):
    request.getfixturevalue("stripe_sdk")
    order = shop.checkout(
        {shop.variant(stock=3): 1}, provider="stripe", card="pm_card_authenticationRequired"
    )
    return order, lambda: stripe_webhook("payment_intent.payment_failed", "requires_payment_method", settings)


def _pending_cancelled(shop, **_):
    order = pending_order(shop)
    return order, lambda: services.cancel_order(order=order, actor="shopper")


def _pending_merged(shop, customer, **_):
    first = pending_order(shop, customer)
    second = pending_order(shop, customer)
    return second, lambda: services.merge_orders(orders=[first, second], actor="staff")


def _paid_partially_fulfilled(shop, **_):
    order, (first, _second) = two_parcel_order(shop)
    return order, lambda: ship(first)


def _paid_fulfilled(shop, **_):
    order = paid_order(shop)
    (only,) = services.create_fulfilments(order=order, actor="t")
    return order, lambda: ship(only)


def _paid_cancelled(shop, **_):
    order = paid_order(shop)
    return order, lambda: services.cancel_order(order=order, actor="shopper")


def _paid_merged(shop, customer, **_):
    first = paid_order(shop, customer)
    second = paid_order(shop, customer)
    return second, lambda: services.merge_orders(orders=[first, second], actor="staff")


def _on_hold_paid(shop, **_):
    order, v = on_hold_order(shop)
    return order, lambda: backorder_filled(shop, order, v)


def _on_hold_pending(shop, **_):
    order, v = on_hold_order(shop, paid_amount="5.00")
    return order, lambda: backorder_filled(shop, order, v)


def _on_hold_cancelled(shop, **_):
    order, _v = on_hold_order(shop)
    return order, lambda: services.cancel_order(order=order, actor="staff")


def _partially_fulfilled_fulfilled_by_shipping(shop, **_):
    order, (first, second) = two_parcel_order(shop)
    ship(first)
    return services.get_order(order.number), lambda: ship(second)


def _partially_fulfilled_fulfilled_by_cancelling(shop, **_):
    order, (first, _second) = two_parcel_order(shop)
    ship(first)
    order = services.get_order(order.number)
    return order, lambda: services.cancel_order(order=order, actor="shopper")


def _complete(make):
    def scenario(shop, **_):
        order = make(shop)
        return order, lambda: services.complete_order(order=order, actor="staff")

    return scenario


def _return(make, qty):
    def scenario(shop, **_):
        order = make(shop)
        return order, lambda: return_units(shop, order, qty)

    return scenario


def _deliver(shop, **_):
    order = fulfilled_order(shop)
    return order, lambda: [
        services.mark_delivered(fulfilment=f, actor="carrier") for f in order.fulfilments.all()
    ]


SCENARIOS = {
    (S.PENDING_PAYMENT, S.PAID): [_pending_paid],
    (S.PENDING_PAYMENT, S.ON_HOLD): [_pending_on_hold],
    (S.PENDING_PAYMENT, S.CANCELLED): [_pending_cancelled],
    (S.PENDING_PAYMENT, S.MERGED): [_pending_merged],
    (S.PAID, S.PARTIALLY_FULFILLED): [_paid_partially_fulfilled],
    (S.PAID, S.FULFILLED): [_paid_fulfilled],
    (S.PAID, S.CANCELLED): [_paid_cancelled],
    (S.PAID, S.MERGED): [_paid_merged],
    (S.ON_HOLD, S.PAID): [_on_hold_paid],
    (S.ON_HOLD, S.PENDING_PAYMENT): [_on_hold_pending],
    (S.ON_HOLD, S.CANCELLED): [_on_hold_cancelled],
    (S.PARTIALLY_FULFILLED, S.FULFILLED): [
        _partially_fulfilled_fulfilled_by_shipping,
        _partially_fulfilled_fulfilled_by_cancelling,
    ],
    (S.FULFILLED, S.DELIVERED): [_deliver],
    (S.FULFILLED, S.COMPLETED): [_complete(fulfilled_order)],
    (S.FULFILLED, S.PARTIALLY_RETURNED): [_return(fulfilled_order, 1)],
    (S.FULFILLED, S.RETURNED): [_return(fulfilled_order, 2)],
    (S.DELIVERED, S.COMPLETED): [_complete(delivered_order)],
    (S.DELIVERED, S.PARTIALLY_RETURNED): [_return(delivered_order, 1)],
    (S.DELIVERED, S.RETURNED): [_return(delivered_order, 2)],
    (S.COMPLETED, S.PARTIALLY_RETURNED): [_return(completed_order, 1)],
    (S.COMPLETED, S.RETURNED): [_return(completed_order, 2)],
    (S.PARTIALLY_RETURNED, S.RETURNED): [_return(partially_returned_order, 1)],
    (S.PARTIALLY_RETURNED, S.COMPLETED): [_complete(partially_returned_order)],
}
CASES = [
    pytest.param(start, end, scenario, id=f"{start}->{end}:{scenario.__name__}")
    for (start, end), scenarios in SCENARIOS.items()
    for scenario in scenarios
]


def moves_made() -> set[tuple[str, str]]:
    """Every status change the services made, read back from the timeline."""
    return {(e.before["status"], e.after["status"]) for e in OrderEvent.objects.filter(kind="status_changed")}


@pytest.mark.parametrize(("start", "end", "scenario"), CASES)
def test_each_allowed_move_is_made_by_the_operation_that_uses_it(
    start, end, scenario, shop, customer, settings, request
):
    order, operation = scenario(shop=shop, customer=customer, settings=settings, request=request)
    assert services.get_order(order.number).status == start
    operation()
    moved = services.get_order(order.number)
    assert moved.status == end
    last = moved.events.filter(kind="status_changed").latest("pk")
    assert (last.before, last.after) == ({"status": start}, {"status": end})
    # the services never made a move the table does not allow
    assert moves_made() <= {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert_books_balance()


def test_every_move_in_the_table_is_one_the_services_make():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == set(SCENARIOS)


def test_final_statuses_allow_no_move():
    assert {s for s, targets in TRANSITIONS.items() if not targets} == {S.RETURNED, S.CANCELLED, S.MERGED}
    assert set(TRANSITIONS) == set(S.values)


# --- moves the table refuses, through the operations that would make them ----------------------------------


def assert_refused(caught, current, wanted=None):
    error = caught.value
    assert (error.code, error.status, error.field) == ("invalid_transition", 409, "status")
    assert error.details["current"] == current
    if wanted is not None:
        assert error.details["wanted"] == wanted


def test_a_paid_order_cannot_be_completed_before_it_ships(shop):
    order = paid_order(shop)
    with pytest.raises(InvalidTransition) as caught:
        services.complete_order(order=order, actor="staff")
    assert_refused(caught, S.PAID, S.COMPLETED)
    assert services.get_order(order.number).status == S.PAID


def test_a_pending_or_partly_shipped_order_cannot_be_completed(shop):
    pending = pending_order(shop)
    with pytest.raises(InvalidTransition) as caught:
        services.complete_order(order=pending, actor="staff")
    assert_refused(caught, S.PENDING_PAYMENT, S.COMPLETED)
    order, (first, _) = two_parcel_order(shop)
    ship(first)
    with pytest.raises(InvalidTransition) as caught:
        services.complete_order(order=order, actor="staff")
    assert_refused(caught, S.PARTIALLY_FULFILLED, S.COMPLETED)


def test_a_shipped_delivered_or_returned_order_cannot_be_cancelled(shop):
    for make in (fulfilled_order, delivered_order, completed_order, partially_returned_order):
        order = make(shop)
        with pytest.raises(InvalidTransition) as caught:
            services.cancel_order(order=order, actor="shopper")
        assert_refused(caught, order.status)
        assert services.get_order(order.number).status == order.status


def test_cancelled_and_merged_orders_stay_where_they_are(shop, customer):
    cancelled = services.cancel_order(order=paid_order(shop), actor="shopper")
    for to in (S.PAID, S.PENDING_PAYMENT, S.FULFILLED, S.COMPLETED):
        with pytest.raises(InvalidTransition) as caught:
            transition(cancelled, to, actor="staff")
        assert_refused(caught, S.CANCELLED, to)
    returned = return_units(shop, delivered_order(shop), 2)
    with pytest.raises(InvalidTransition) as caught:
        services.complete_order(order=returned, actor="staff")
    assert_refused(caught, S.RETURNED, S.COMPLETED)


def test_a_completed_order_cannot_be_delivered_again_or_reopened(shop):
    order = completed_order(shop)
    for to in (S.DELIVERED, S.FULFILLED, S.PAID):
        with pytest.raises(InvalidTransition) as caught:
            transition(order, to, actor="carrier")
        assert_refused(caught, S.COMPLETED, to)


def test_moving_to_the_status_an_order_already_has_changes_nothing(shop):
    order = paid_order(shop)
    events = order.events.count()
    assert transition(order, S.PAID, actor="staff").status == S.PAID
    assert order.events.count() == events


# --- the compare-and-set guard -------------------------------------------------------------------------------


def test_a_stale_copy_of_an_order_cannot_overwrite_a_change_made_meanwhile(shop):
    order = paid_order(shop)
    mine = services.get_order(order.number)
    theirs = services.get_order(order.number)
    transition(theirs, S.CANCELLED, actor="shopper")
    events = OrderEvent.objects.filter(order=order).count()
    with pytest.raises(InvalidTransition) as caught:
        transition(mine, S.FULFILLED, actor="staff")  # paid → fulfilled is allowed, but it is no longer paid
    assert_refused(caught, S.CANCELLED, S.FULFILLED)
    assert services.get_order(order.number).status == S.CANCELLED
    assert OrderEvent.objects.filter(order=order).count() == events
    assert mine.status == S.PAID


def test_two_stale_copies_the_second_move_fails(shop):
    order = fulfilled_order(shop)
    a = services.get_order(order.number)
    b = services.get_order(order.number)
    transition(a, S.DELIVERED, actor="carrier:dhl")
    with pytest.raises(InvalidTransition) as caught:
        transition(b, S.COMPLETED, actor="staff")
    assert_refused(caught, S.DELIVERED, S.COMPLETED)
    assert services.get_order(order.number).status == S.DELIVERED
    assert not [e for e in order.events.filter(kind="status_changed") if e.after == {"status": S.COMPLETED}]


# --- the timeline event ---------------------------------------------------------------------------------------


def test_a_move_writes_one_status_changed_event_with_who_why_before_and_after(shop):
    order = fulfilled_order(shop)
    events = order.events.count()
    moved = transition(order, S.COMPLETED, actor="staff:7", message="Customer confirmed receipt.")
    assert moved.status == S.COMPLETED and moved is order
    assert services.get_order(order.number).status == S.COMPLETED
    assert order.events.count() == events + 1
    event = order.events.latest("pk")
    assert (event.kind, event.actor, event.message, event.before, event.after) == (
        "status_changed",
        "staff:7",
        "Customer confirmed receipt.",
        {"status": S.FULFILLED},
        {"status": S.COMPLETED},
    )


def test_a_move_without_a_reason_has_an_empty_message(shop):
    order = paid_order(shop)
    services.cancel_order(order=order, actor="shopper:1")
    event = order.events.filter(kind="status_changed").get()
    assert (event.actor, event.message, event.before, event.after) == (
        "shopper:1",
        "",
        {"status": S.PAID},
        {"status": S.CANCELLED},
    )


def test_a_long_reason_is_cut_to_500_characters(shop):
    order = fulfilled_order(shop)
    transition(order, S.COMPLETED, actor="staff", message="x" * 600)
    assert order.events.filter(kind="status_changed").latest("pk").message == "x" * 500


def test_the_payment_webhook_moves_are_signed_by_the_provider(shop):
    order = shop.checkout({shop.variant(stock=3): 1}, key=f"3ds-{next(_keys)}", card=CARD_3DS)
    payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    event = order.events.filter(kind="status_changed").get()
    assert (event.actor, event.message, event.after) == (
        "provider:test_card",
        "Payment captured.",
        {"status": S.PAID},
    )
    assert services.paid(order) == order.total == Decimal("14.95")


def test_a_unit_returned_before_the_rest_of_the_order_ships_is_received_and_refunded(shop):
    order, (first, second) = two_parcel_order(shop)
    ship(first)
    order = services.get_order(order.number)
    shipped = order.lines.get(fulfilled=1)
    paid_before = services.paid(order)
    rma = services.request_return(order=order, lines=[(shipped.pk, 1, "broken")], actor="shopper")
    services.decide_return(rma=rma, approve=True, actor="staff")
    services.receive_return(
        rma=rma, dispositions={shipped.pk: "write_off"}, location_code=None, actor="staff"
    )
    assert paid_before - services.paid(order) == shipped.line_total
    ship(second)
    assert services.get_order(order.number).status == S.FULFILLED


def test_a_move_the_services_make_without_a_reason_and_an_event_without_one_have_empty_messages(shop):
    order = fulfilled_order(shop)
    shipped = order.events.get(kind="status_changed")
    assert (shipped.actor, shipped.message, shipped.after) == ("t", "", {"status": S.FULFILLED})
    assert order.events.get(kind="fulfilments_created").message == ""
