"""What channels are told: order events in the order's own sequence, coalesced stock figures, the event feed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from omnishop.conftest import ApiClient
from omnishop.core import outbox
from omnishop.core.errors import DomainError
from omnishop.core.models import OutboxEvent
from omnishop.inventory import services as inventory
from omnishop.inventory.models import StockEvent
from omnishop.inventory.services.stock_events import fold_stock_changes
from omnishop.orders import services

pytestmark = pytest.mark.django_db


def order_events(number):
    return list(
        OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=number)
        .order_by("sequence")
        .values_list("type", "sequence")
    )


def fold_all():
    return fold_stock_changes(now=timezone.now() + timedelta(seconds=60))


def test_an_order_announces_placed_paid_fulfilled_shipped_delivered_in_sequence(shop):
    v = shop.variant(stock=5, sku="MUG-1")
    order = shop.checkout({v: 2})
    fulfilments = services.create_fulfilments(order=order, actor="test")
    services.ship_fulfilment(
        fulfilment=fulfilments[0], carrier="dhl", tracking_number="JD0001", actor="warehouse"
    )
    services.mark_delivered(fulfilment=fulfilments[0], actor="carrier")
    types = order_events(order.number)
    assert [t for t, _ in types] == [
        "order.placed",
        "order.paid",
        "order.fulfilled",
        "order.shipped",
        "order.delivered",
    ]
    assert [s for _, s in types] == [1, 2, 3, 4, 5]
    shipped = OutboxEvent.objects.get(aggregate_id=order.number, type="order.shipped").envelope()
    assert shipped["channel"] == shop.channel.code
    assert shipped["data"]["order"]["number"] == order.number
    after = shipped["data"]["change"]["after"]
    assert (after["carrier"], after["tracking_number"]) == ("dhl", "JD0001")
    assert after["lines"] == [{"sku": "MUG-1", "quantity": 2}]


def test_cancelling_announces_the_cancellation_and_the_refund(shop):
    v = shop.variant(stock=5)
    order = shop.checkout({v: 1})
    services.cancel_order(order=order, actor="test", reason="changed mind")
    types = [t for t, _ in order_events(order.number)]
    assert "order.cancelled" in types and "order.refunded" in types
    assert types.index("order.placed") == 0


def test_a_failed_checkout_announces_nothing(shop):
    v = shop.variant(stock=1)
    before = OutboxEvent.objects.filter(type="order.placed").count()
    with pytest.raises(DomainError) as refused:
        shop.checkout({v: 5})
    assert refused.value.code == "insufficient_stock"
    assert OutboxEvent.objects.filter(type="order.placed").count() == before


def test_many_stock_changes_of_one_sku_fold_into_one_event_per_channel_with_the_latest_figure(
    shop, market_channel
):
    inventory.set_channel_locations(channel=market_channel, location_codes=[shop.warehouse.code])
    v = shop.variant(stock=10, sku="TEE-1")
    for _ in range(4):
        inventory.receive_stock(variant=v, location=shop.warehouse, quantity=1, reference="t")
    shop.checkout({v: 3})
    assert fold_stock_changes() == 0  # inside the window: wait for more changes
    assert fold_all() >= 6
    events = OutboxEvent.objects.filter(type="stock.availability_changed", aggregate_id__endswith=":TEE-1")
    by_channel = {e.channel: e.payload for e in events}
    assert set(by_channel) == {shop.channel.code, market_channel.code}
    assert by_channel[shop.channel.code]["available"] == 11  # 14 received, 3 allocated
    assert by_channel[shop.channel.code]["in_stock"] is True
    assert events.count() == 2
    assert not StockEvent.objects.filter(delivered_at__isnull=True).exists()
    assert fold_all() == 0  # folded marks are not folded again


def test_a_fold_writes_its_events_together_whatever_the_number_of_skus(shop, market_channel):
    inventory.set_channel_locations(channel=market_channel, location_codes=[shop.warehouse.code])

    def fold_counting(skus: list) -> int:
        for v in skus:
            inventory.receive_stock(variant=v, location=shop.warehouse, quantity=1, reference="t")
        with CaptureQueriesContext(connection) as statements:
            fold_all()
        return len(statements.captured_queries)

    few = [shop.variant(stock=0, sku=f"FEW-{n}") for n in range(2)]
    many = [shop.variant(stock=0, sku=f"MANY-{n}") for n in range(30)]
    fold_all()
    assert fold_counting(many) == fold_counting(few)  # not one INSERT and one sequence upsert per event
    # Each SKU and channel is its own aggregate: a second fold continues its sequence.
    fold_counting(few)
    sequences = OutboxEvent.objects.filter(
        type="stock.availability_changed", aggregate_id=f"{shop.channel.code}:FEW-0"
    ).values_list("sequence", flat=True)
    assert sorted(sequences) == list(range(1, len(sequences) + 1)) and len(sequences) >= 2
    latest = OutboxEvent.objects.filter(aggregate_id=f"{market_channel.code}:MANY-29").get()
    assert (latest.channel, latest.payload["available"], latest.payload["sku"]) == (
        market_channel.code,
        1,
        "MANY-29",
    )


def test_a_location_no_channel_sells_from_announces_nothing(shop):
    back_room = inventory.create_location(code="back", name="Back room")
    v = shop.variant(stock=0, sku="HIDDEN")
    inventory.receive_stock(variant=v, location=back_room, quantity=3, reference="t")
    fold_all()
    assert not OutboxEvent.objects.filter(
        type="stock.availability_changed", aggregate_id__endswith=":HIDDEN"
    ).exists()


# --- GET /api/v1/events --------------------------------------------------------------------------------


def test_a_channel_key_reads_its_own_channel_events_and_follows_the_cursor(shop, market_channel, make_key):
    v = shop.variant(stock=5)
    order = shop.checkout({v: 1})
    outbox.emit("customer.created", aggregate_type="customer", aggregate_id="1", payload={"customer_id": 1})
    reader = ApiClient(headers={"Authorization": f"Bearer {make_key(shop.channel, scopes=['events:read'])}"})
    page = reader.get("/events", {"type": "order.*", "limit": 1})
    assert page.status_code == 200, page.content
    body = page.json()
    assert [e["type"] for e in body["items"]] == ["order.placed"] and body["has_more"]
    assert body["items"][0]["aggregate"] == {"type": "order", "id": order.number, "sequence": 1}
    rest = reader.get("/events", {"type": "order.*", "after": body["next_cursor"]}).json()
    assert [e["type"] for e in rest["items"]] == ["order.paid"]
    everything = reader.get("/events", {"limit": 500}).json()["items"]
    assert "customer.created" not in {e["type"] for e in everything}  # other contexts' data stays private
    other = ApiClient(headers={"Authorization": f"Bearer {make_key(market_channel, scopes=['events:read'])}"})
    assert [e for e in other.get("/events", {"type": "order.*"}).json()["items"]] == []


def test_staff_read_every_event_and_bad_queries_get_clear_errors(shop, staff_api, make_key):
    outbox.emit("customer.created", aggregate_type="customer", aggregate_id="1", payload={"customer_id": 1})
    assert staff_api.get("/events", {"type": "customer.created"}).json()["items"][0]["data"] == {
        "customer_id": 1
    }
    bad_type = staff_api.get("/events", {"type": "order.exploded"})
    assert bad_type.status_code == 422 and bad_type.json()["error"]["code"] == "unknown_event_type"
    bad_cursor = staff_api.get("/events", {"after": "%%%"})
    assert bad_cursor.status_code == 422 and bad_cursor.json()["error"]["code"] == "invalid_cursor"
    assert staff_api.get("/events", {"limit": 0}).status_code == 422
    assert ApiClient().get("/events").status_code == 401
    no_scope = ApiClient(
        headers={"Authorization": f"Bearer {make_key(shop.channel, scopes=['orders:read'])}"}
    )
    assert no_scope.get("/events").status_code == 403


def test_folded_stock_marks_are_purged_a_day_later_and_unfolded_ones_kept(shop):
    from omnishop.inventory.services.stock_events import purge_folded

    v = shop.variant(stock=3)
    fold_all()
    inventory.receive_stock(variant=v, location=shop.warehouse, quantity=1, reference="t")
    assert purge_folded(now=timezone.now() + timedelta(days=2)) >= 1
    assert StockEvent.objects.filter(delivered_at__isnull=True).count() == 1


def test_an_announced_change_carries_the_order_and_the_whole_change_as_the_timeline_records_it(shop):
    """Every field of the envelope channels receive: the order's figures and the change's kind, actor, before
    and after (the same values as the timeline entry)."""
    from .conftest import ADDRESS

    v = shop.variant(price="12.00", stock=5)
    order = shop.checkout({v: 1})
    order = services.change_address(order=order, address={**ADDRESS, "line1": "9 New Road"}, actor="shopper")
    entry = order.events.get(kind="address_changed")
    event = OutboxEvent.objects.get(aggregate_id=order.number, type="order.address_changed").envelope()
    assert event["aggregate"]["type"] == "order"
    assert event["channel"] == shop.channel.code
    assert event["data"]["order"] == {
        "number": order.number,
        "channel": shop.channel.code,
        "external_id": order.external_id,
        "status": order.status,
        "currency": order.currency,
        "total": "16.95",  # in the currency's minor unit, however the order was loaded
        "customer_id": order.customer_id,
    }
    assert order.total == Decimal("16.95")
    assert event["data"]["change"] == {
        "kind": "address_changed",
        "actor": "shopper",
        "before": entry.before,
        "after": entry.after,
    }
    assert entry.before["address"]["line1"] != "9 New Road" == entry.after["address"]["line1"]


def test_a_payment_change_announces_a_refund_only_when_money_went_back_however_little(shop):
    """order.refunded follows every payment change that carries refunds (the cumulative amount in
    data.change.after.refunded), and only those: a 3-D Secure payment completing is no refund."""
    from omnishop.payments import services as payments
    from omnishop.payments.models import Payment

    v = shop.variant(price="12.00", stock=3)
    order = shop.checkout({v: 1}, card="4000002500003155")  # needs 3-D Secure: waits as pending_payment
    payment = Payment.objects.get(reference=order.number)
    payments.confirm_payment(payment=payment)
    assert [t for t, _ in order_events(order.number)] == ["order.placed", "order.paid"]
    payments.refund_payment(
        payment=Payment.objects.get(pk=payment.pk), amount=Decimal("0.50"), key="goodwill"
    )
    refunded = OutboxEvent.objects.get(aggregate_id=order.number, type="order.refunded").envelope()
    assert Decimal(refunded["data"]["change"]["after"]["refunded"]) == Decimal("0.50")


def test_an_order_read_without_its_channel_is_announced_under_its_channels_code(shop):
    """The envelope's channel comes from the loaded channel when there is one, else from the process's
    table of channel codes (one query per channel per process)."""
    from omnishop.orders import states
    from omnishop.orders.models import Order

    order = shop.checkout({shop.variant(stock=2): 1})
    states._channel_codes.clear()
    bare = Order.objects.get(pk=order.pk)
    assert "channel" not in bare._state.fields_cache
    states.event(bare, "exception", actor="test", after={"reason": "address_unverified"})
    announced = (
        OutboxEvent.objects.filter(aggregate_id=order.number, type="order.exception")
        .latest("sequence")
        .envelope()
    )
    assert announced["channel"] == announced["data"]["order"]["channel"] == shop.channel.code
    assert states._channel_codes == {shop.channel.pk: shop.channel.code}
