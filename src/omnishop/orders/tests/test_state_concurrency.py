"""PostgreSQL, real parallel connections: two changes of one order's status at the same moment — one wins,
the other is refused with the status it lost to, and the timeline records only the winner; one marketplace
order imported by several workers at once is one order (the losers meet the unique index and answer it)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from omnishop.core.errors import InvalidTransition
from omnishop.orders import services
from omnishop.orders.models import Order
from omnishop.orders.states import transition

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")


def test_two_simultaneous_moves_of_one_order_one_wins_the_other_is_refused(shop):
    v = shop.variant(stock=5)
    number = shop.checkout({v: 1}).number
    for f in services.create_fulfilments(order=services.get_order(number), actor="t"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="1", actor="t")
    wanted = [Order.Status.DELIVERED, Order.Status.COMPLETED]
    loaded = threading.Barrier(2)

    def move(to):
        try:
            order = services.get_order(number)  # both copies say "fulfilled"
            loaded.wait(timeout=10)
            transition(order, to, actor=f"worker:{to}")
            return ("moved", to)
        except InvalidTransition as exc:
            return ("refused", exc.details["current"])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(move, wanted))
    final = services.get_order(number).status
    assert sorted(o[0] for o in outcomes) == ["moved", "refused"]
    assert ("moved", final) in outcomes and ("refused", final) in outcomes
    moves = list(
        Order.objects.get(number=number).events.filter(kind="status_changed").values_list("after", flat=True)
    )
    assert moves == [{"status": "fulfilled"}, {"status": final}]


def test_the_same_marketplace_order_imported_twice_at_once_is_one_order(shop):
    v = shop.variant(stock=5)
    loaded = threading.Barrier(4)

    def import_it(i):
        try:
            loaded.wait(timeout=10)
            order, created = services.create_channel_order(
                channel=shop.channel,
                lines=[services.ChannelLine(sku=v.sku, quantity=1)],
                external_id="AMZ-RACE",
                actor=f"worker:{i}",
            )
            return order.number, created
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(import_it, range(4)))
    assert len({number for number, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False, False, False, True]
    assert Order.objects.filter(external_id="AMZ-RACE").count() == 1
    assert shop.stock(v).allocated == 1
