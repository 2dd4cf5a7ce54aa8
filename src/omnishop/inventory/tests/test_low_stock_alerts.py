"""The low-stock alert cycle: opened when free stock crosses below the reorder point, by whatever took the
stock; not at exactly the reorder point; one open alert per stock level however often stock dips again;
closed when a receipt lifts free stock back to the reorder point; opened again on the next crossing."""

import pytest

from omnishop.inventory import services
from omnishop.inventory.models import LowStockAlert, StockLevel
from omnishop.inventory.services import LineRequest, SkuQuantity

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db

REORDER_POINT = 5


@pytest.fixture
def lamp(shop, warehouse, make_variant, stock):
    """10 lamps at the web shop's warehouse, reorder point 5 (as replenishment stores it)."""
    variant = make_variant("LAMP")
    stock(variant, warehouse, 10)
    StockLevel.objects.filter(variant=variant).update(reorder_point=REORDER_POINT)
    return variant


def reserve(channel, quantity: int, key: str):
    return services.reserve_stock(channel=channel, lines=[LineRequest("LAMP", quantity)], key=key)


def alerts() -> list[tuple[int, int, bool]]:
    """(free, reorder point, open?) of every alert, oldest first."""
    return [(a.free, a.reorder_point, a.resolved_at is None) for a in LowStockAlert.objects.order_by("id")]


def test_selling_down_to_exactly_the_reorder_point_opens_no_alert(shop, lamp):
    reserve(shop, 5, "a")
    assert alerts() == []


def test_the_unit_that_takes_free_stock_below_the_reorder_point_opens_an_alert(shop, lamp, warehouse):
    reserve(shop, 5, "a")
    reserve(shop, 1, "b")
    alert = LowStockAlert.objects.get()
    assert (alert.variant_id, alert.location_id) == (lamp.pk, warehouse.pk)
    assert alerts() == [(4, REORDER_POINT, True)]


def test_a_drop_from_far_above_to_far_below_opens_one_alert(shop, lamp):
    reserve(shop, 9, "a")
    assert alerts() == [(1, REORDER_POINT, True)]


def test_selling_further_while_an_alert_is_open_keeps_that_one_alert(shop, lamp):
    reserve(shop, 7, "a")
    reserve(shop, 1, "b")
    assert alerts() == [(3, REORDER_POINT, True)]


def test_a_second_breach_while_an_alert_is_open_does_not_fail_the_checkout(shop, lamp, level, warehouse):
    first = reserve(shop, 7, "a")
    services.release_reservation(reservation=first)  # free back to 10; only a receipt closes the alert
    second = reserve(shop, 7, "b")  # crosses the reorder point again
    assert second.pk is not None
    assert level(lamp, warehouse).reserved == 7
    assert alerts() == [(3, REORDER_POINT, True)]
    assert_books_balance()


def test_a_second_breach_by_an_order_and_an_adjustment_does_not_fail_either(shop, lamp, warehouse):
    services.allocate_stock(channel=shop, lines=[LineRequest("LAMP", 6)], order_reference="O-1")
    allocation = services.allocate_stock(channel=shop, lines=[LineRequest("LAMP", 1)], order_reference="O-2")
    services.cancel_allocation(allocation=allocation)
    services.cancel_allocation(
        allocation=services.allocate_stock(
            channel=shop, lines=[LineRequest("LAMP", 1)], order_reference="O-3"
        )
    )
    services.adjust_stock(variant=lamp, location=warehouse, delta=2, reason_code="found")  # closes it
    services.adjust_stock(variant=lamp, location=warehouse, delta=-3, reason_code="damaged")  # 6 → 3
    services.allocate_stock(channel=shop, lines=[LineRequest("LAMP", 1)], order_reference="O-4")
    assert alerts() == [(4, REORDER_POINT, False), (3, REORDER_POINT, True)]
    assert_books_balance()


def test_a_receipt_that_leaves_free_stock_below_the_reorder_point_keeps_the_alert_open(shop, lamp, warehouse):
    reserve(shop, 8, "a")  # free 2
    services.receive_stock(variant=lamp, location=warehouse, quantity=2)  # free 4
    assert alerts() == [(2, REORDER_POINT, True)]


def test_a_receipt_back_to_exactly_the_reorder_point_closes_the_alert(shop, lamp, warehouse):
    reserve(shop, 8, "a")  # free 2
    services.receive_stock(variant=lamp, location=warehouse, quantity=3)  # free 5
    assert alerts() == [(2, REORDER_POINT, False)]


def test_a_receipt_above_the_reorder_point_closes_the_alert_and_the_next_dip_opens_a_new_one(
    shop, lamp, warehouse
):
    reserve(shop, 8, "a")  # free 2
    services.receive_stock(variant=lamp, location=warehouse, quantity=20)  # free 22
    closed = LowStockAlert.objects.get()
    assert closed.resolved_at is not None
    reserve(shop, 20, "b")  # free 2 again
    assert alerts() == [(2, REORDER_POINT, False), (2, REORDER_POINT, True)]
    assert LowStockAlert.objects.get(resolved_at__isnull=True).created_at >= closed.resolved_at
    services.receive_stock(variant=lamp, location=warehouse, quantity=5)  # closes the second alert
    assert alerts() == [(2, REORDER_POINT, False), (2, REORDER_POINT, False)]
    assert LowStockAlert.objects.get(pk=closed.pk).resolved_at == closed.resolved_at  # history kept


def test_a_receipt_closes_only_the_alert_of_its_own_stock_level(shop, lamp, warehouse, make_variant, stock):
    other = make_variant("SHADE")
    stock(other, warehouse, 10)
    StockLevel.objects.filter(variant=other).update(reorder_point=REORDER_POINT)
    reserve(shop, 8, "a")
    services.reserve_stock(channel=shop, lines=[LineRequest("SHADE", 8)], key="b")
    services.receive_stock(variant=other, location=warehouse, quantity=10)
    still_open = LowStockAlert.objects.filter(resolved_at__isnull=True).values_list("variant__sku", flat=True)
    assert list(still_open) == ["LAMP"]
    assert LowStockAlert.objects.count() == 2


def test_without_a_reorder_point_no_alert_is_ever_opened(shop, warehouse, make_variant, stock):
    stock(make_variant("PLAIN"), warehouse, 10)
    services.reserve_stock(channel=shop, lines=[LineRequest("PLAIN", 10)], key="a")
    assert alerts() == []


@pytest.mark.parametrize(
    "take",
    [
        pytest.param(lambda shop, lamp, wh: reserve(shop, 6, "a"), id="reservation"),
        pytest.param(
            lambda shop, lamp, wh: services.allocate_stock(
                channel=shop, lines=[LineRequest("LAMP", 6)], order_reference="O-1"
            ),
            id="order without checkout",
        ),
        pytest.param(
            lambda shop, lamp, wh: services.adjust_stock(
                variant=lamp, location=wh, delta=-6, reason_code="theft"
            ),
            id="write-off",
        ),
        pytest.param(
            lambda shop, lamp, wh: services.dispatch_transfer(
                transfer=services.request_transfer(
                    source=wh,
                    destination=services.create_location(code="shop-2", name="Shop 2"),
                    lines=[SkuQuantity("LAMP", 6)],
                )
            ),
            id="transfer out",
        ),
        pytest.param(
            lambda shop, lamp, wh: services.complete_count(
                count=services.start_count(location=wh), lines=[SkuQuantity("LAMP", 4)]
            ),
            id="cycle count",
        ),
    ],
)
def test_every_way_of_taking_stock_below_the_reorder_point_opens_the_alert(shop, lamp, warehouse, take):
    take(shop, lamp, warehouse)
    assert alerts() == [(4, REORDER_POINT, True)]
    assert_books_balance()


def transfer_in(variant, destination, quantity: int):
    source = services.create_location(code="shop-2", name="Shop 2")
    services.receive_stock(variant=variant, location=source, quantity=quantity)
    transfer = services.request_transfer(
        source=source, destination=destination, lines=[SkuQuantity(variant.sku, quantity)]
    )
    services.dispatch_transfer(transfer=transfer)
    return services.receive_transfer(transfer=transfer)


@pytest.mark.parametrize(
    "give_back",
    [
        pytest.param(
            lambda shop, lamp, wh: services.record_return(variant=lamp, location=wh, quantity=4), id="return"
        ),
        pytest.param(
            lambda shop, lamp, wh: services.adjust_stock(
                variant=lamp, location=wh, delta=4, reason_code="found"
            ),
            id="found units",
        ),
        pytest.param(
            lambda shop, lamp, wh: services.complete_count(
                count=services.start_count(location=wh), lines=[SkuQuantity("LAMP", 10)]
            ),
            id="cycle count up",
        ),
        pytest.param(lambda shop, lamp, wh: transfer_in(lamp, wh, 4), id="transfer in"),
    ],
)
def test_every_way_of_receiving_units_back_over_the_reorder_point_closes_the_alert(
    shop, lamp, warehouse, stock, give_back
):
    services.adjust_stock(variant=lamp, location=warehouse, delta=-6, reason_code="lost")  # free 4
    give_back(shop, lamp, warehouse)
    assert alerts() == [(4, REORDER_POINT, False)]


def test_moving_held_units_along_opens_no_alert(shop, lamp, warehouse):
    """Converting a hold into an order and shipping it do not change free stock: no crossing, even when free
    stock is already under a reorder point raised after the units were held."""
    reservation = reserve(shop, 6, "a")
    LowStockAlert.objects.all().delete()
    allocation = services.allocate_reservation(reservation=reservation, order_reference="O-1")
    services.ship_allocation(allocation=allocation)
    assert alerts() == []


def test_putting_held_units_back_on_sale_opens_no_alert(shop, lamp, warehouse):
    """Free stock rising (a release, a cancelled order) never opens an alert, even while still under the
    reorder point."""
    reservation = reserve(shop, 3, "a")
    allocation = services.allocate_stock(channel=shop, lines=[LineRequest("LAMP", 4)], order_reference="O-1")
    LowStockAlert.objects.all().delete()  # free 3, no open alert
    StockLevel.objects.filter(variant=lamp).update(reorder_point=8)
    services.release_reservation(reservation=reservation)  # free 6, still under 8
    assert alerts() == []
    StockLevel.objects.filter(variant=lamp).update(reorder_point=12)
    services.cancel_allocation(allocation=allocation)  # free 10, still under 12
    assert alerts() == []


def test_a_receipt_closes_the_alert_of_its_own_location_not_the_same_sku_elsewhere(
    shop, lamp, warehouse, make_location, stock
):
    store = make_location("STORE-1")
    stock(lamp, store, 2)
    StockLevel.objects.filter(variant=lamp).update(reorder_point=REORDER_POINT)
    for location in (warehouse, store):
        LowStockAlert.objects.create(variant=lamp, location=location, free=2, reorder_point=REORDER_POINT)
    services.receive_stock(variant=lamp, location=warehouse, quantity=10)
    still_open = LowStockAlert.objects.filter(resolved_at__isnull=True).values_list(
        "location__code", flat=True
    )
    assert list(still_open) == ["STORE-1"]


def test_a_receipt_without_a_reference_type_or_actor_records_them_empty(lamp, warehouse):
    movement = services.receive_stock(variant=lamp, location=warehouse, quantity=1, reference="po-7")
    movement.refresh_from_db()
    assert (movement.reference_type, movement.actor, movement.reason_code, movement.note) == ("", "", "", "")
    assert (movement.kind, movement.reference) == ("receipt", "po-7")
