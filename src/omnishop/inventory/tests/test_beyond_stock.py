"""A till's sale handed over beyond the recorded stock: allocated anyway only at a store that allows negative
stock (and only for a POS channel), the level marked oversold, the ledger still balanced."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from omnishop.inventory import services
from omnishop.inventory.errors import InsufficientStock
from omnishop.inventory.models import StockLevel, StockLocation

from .conftest import assert_books_balance


@pytest.fixture
def store(make_channel, make_location):
    channel = make_channel("store", "pos_store", "GBP")
    location = make_location("store-1", "retail_store", serves_pickup=True)
    services.set_channel_locations(channel=channel, location_codes=[location.code])
    return channel, location


def test_a_pos_sale_beyond_stock_goes_negative_where_the_store_allows_it(store, make_variant, stock, level):
    channel, location = store
    StockLocation.objects.filter(pk=location.pk).update(allows_negative_stock=True)
    location.refresh_from_db()
    v = make_variant()
    stock(v, location, 1)
    allocation = services.allocate_stock(
        channel=channel,
        lines=[services.LineRequest(v.sku, 3)],
        order_reference="S-1",
        pickup_location=location,
    )
    assert allocation.strategy == "beyond_stock"
    services.ship_allocation(allocation=allocation)
    after = level(v, location)
    assert (after.on_hand, after.allocated, after.oversold) == (-2, 0, True)
    assert_books_balance()


def test_without_the_stores_permission_the_sale_is_refused(store, make_variant, stock):
    channel, location = store
    v = make_variant()
    stock(v, location, 1)
    with pytest.raises(InsufficientStock):
        services.allocate_stock(
            channel=channel,
            lines=[services.LineRequest(v.sku, 3)],
            order_reference="S-1",
            pickup_location=location,
        )
    assert StockLevel.objects.get(variant=v).allocated == 0


def test_a_web_order_never_goes_beyond_stock_even_at_such_a_store(web_channel, store, make_variant, stock):
    _, location = store
    StockLocation.objects.filter(pk=location.pk).update(allows_negative_stock=True)
    location.refresh_from_db()
    services.set_channel_locations(channel=web_channel, location_codes=[location.code])
    v = make_variant()
    stock(v, location, 1)
    with pytest.raises(InsufficientStock):
        services.allocate_stock(
            channel=web_channel,
            lines=[services.LineRequest(v.sku, 2)],
            order_reference="W-1",
            pickup_location=location,
        )


def test_the_database_still_refuses_negative_stock_on_an_ordinary_level(store, make_variant, stock):
    _, location = store
    v = make_variant()
    stock(v, location, 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(variant=v, location=location).update(on_hand=-1)
