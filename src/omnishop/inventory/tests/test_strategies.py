"""Which units come from where: by priority, fewest locations, and a POS store's own shelf."""

import pytest

from omnishop.inventory import services
from omnishop.inventory.errors import ChannelHasNoLocations, InsufficientStock
from omnishop.inventory.services import LineRequest
from omnishop.inventory.services.strategies import Candidate, Pick, by_priority, fewest_locations

pytestmark = pytest.mark.django_db

A, B, C = (
    Candidate(1, "a", "warehouse", 0),
    Candidate(2, "b", "warehouse", 1),
    Candidate(3, "c", "warehouse", 2),
)


def test_priority_takes_from_the_first_location_and_splits_when_it_runs_out():
    picks = by_priority({10: 5}, [A, B], {(10, 1): 3, (10, 2): 9})
    assert picks == [Pick(10, 1, 3), Pick(10, 2, 2)]


def test_fewest_locations_prefers_one_location_that_can_ship_everything():
    free = {(10, 1): 5, (11, 1): 0, (10, 2): 5, (11, 2): 5}
    assert fewest_locations({10: 2, 11: 1}, [A, B], free) == [Pick(10, 2, 2), Pick(11, 2, 1)]
    assert by_priority({10: 2, 11: 1}, [A, B], free) == [Pick(10, 1, 2), Pick(11, 2, 1)]


def test_fewest_locations_splits_a_line_when_no_location_has_enough():
    free = {(10, 1): 2, (10, 2): 1, (10, 3): 4}
    picks = fewest_locations({10: 6}, [A, B, C], free)
    assert sorted(picks, key=lambda p: p.location_id) == [Pick(10, 1, 2), Pick(10, 3, 4)]


def test_pos_orders_take_from_their_own_store_only(make_channel, make_location, make_variant, stock):
    pos = make_channel("till-1", "pos_store")
    store = make_location("store-1", kind="retail_store", serves_pickup=True)
    warehouse = make_location("wh")
    services.set_channel_locations(channel=pos, location_codes=["wh", "store-1"])
    v = make_variant("SHOE")
    stock(v, warehouse, 50)
    stock(v, store, 2)
    allocation = services.allocate_stock(
        channel=pos, lines=[LineRequest("SHOE", 2)], order_reference="till-1-0001"
    )
    assert [(x.location_id, x.quantity) for x in allocation.lines.all()] == [(store.pk, 2)]
    with pytest.raises(InsufficientStock):
        services.allocate_stock(channel=pos, lines=[LineRequest("SHOE", 1)], order_reference="till-1-0002")


def test_pick_up_orders_take_from_the_chosen_store(shop, warehouse, make_location, make_variant, stock):
    store = make_location("store-2", kind="retail_store", serves_pickup=True, ships_to_customers=False)
    services.set_channel_locations(channel=shop, location_codes=[warehouse.code, "store-2"])
    v = make_variant("LAMP")
    stock(v, warehouse, 5)
    stock(v, store, 1)
    shipped = services.reserve_stock(channel=shop, lines=[LineRequest("LAMP", 2)], key="ship")
    assert {x.location_id for x in shipped.lines.all()} == {warehouse.pk}
    pickup = services.reserve_stock(
        channel=shop, lines=[LineRequest("LAMP", 1)], key="pick", pickup_location=store
    )
    assert {x.location_id for x in pickup.lines.all()} == {store.pk}


def test_a_channel_without_locations_is_told_so(web_channel, make_variant):
    make_variant("X")
    with pytest.raises(ChannelHasNoLocations) as caught:
        services.reserve_stock(channel=web_channel, lines=[LineRequest("X", 1)], key="k")
    assert caught.value.code == "channel_has_no_locations"
