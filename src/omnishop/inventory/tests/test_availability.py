"""Available-to-promise: the channel's locations, its safety buffer and quota, never negative, one query."""

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnishop.inventory import services
from omnishop.inventory.errors import InsufficientStock
from omnishop.inventory.models import StockEvent
from omnishop.inventory.services import LineRequest

pytestmark = pytest.mark.django_db


def test_availability_sums_the_channels_locations_only(shop, warehouse, make_location, make_variant, stock):
    other = make_location("elsewhere")
    second = make_location("second")
    services.set_channel_locations(channel=shop, location_codes=[warehouse.code, "second"])
    v = make_variant("BOOK")
    stock(v, warehouse, 3)
    stock(v, second, 4)
    stock(v, other, 100)
    assert services.availability_for(channel=shop, variant_ids=[v.pk]) == {v.pk: 7}


def test_safety_buffer_and_quota_cap_what_a_marketplace_sees(market_channel, warehouse, make_variant, stock):
    services.set_channel_locations(channel=market_channel, location_codes=[warehouse.code])
    v = make_variant("PEN")
    stock(v, warehouse, 50)
    services.set_policy(channel=market_channel, quota_percent=80, quota_minus=2)
    assert services.availability_for(channel=market_channel, variant_ids=[v.pk]) == {v.pk: 38}
    services.set_policy(channel=market_channel, safety_buffer=20)
    assert services.availability_for(channel=market_channel, variant_ids=[v.pk]) == {v.pk: 30}
    services.set_policy(channel=market_channel, safety_buffer=60)
    assert services.availability_for(channel=market_channel, variant_ids=[v.pk]) == {v.pk: 0}


def test_reservations_respect_the_buffer(shop, warehouse, make_variant, stock):
    v = make_variant("CUP")
    stock(v, warehouse, 5)
    services.set_policy(channel=shop, safety_buffer=3)
    with pytest.raises(InsufficientStock) as caught:
        services.reserve_stock(channel=shop, lines=[LineRequest("CUP", 3)], key="k")
    assert caught.value.details["available"] == 2


def test_availability_for_many_variants_is_one_query(
    shop, warehouse, make_variant, stock, django_assert_num_queries
):
    variants = [make_variant() for _ in range(20)]
    for v in variants[:10]:
        stock(v, warehouse, 2)
    ids = [v.pk for v in variants]
    with django_assert_num_queries(1):
        result = services.availability_for(channel=shop, variant_ids=ids)
    assert result == {v.pk: (2 if i < 10 else 0) for i, v in enumerate(variants)}


def test_every_change_of_free_stock_leaves_a_stock_changed_event(shop, warehouse, make_variant, stock):
    v = make_variant("EVT")
    stock(v, warehouse, 5)
    r = services.reserve_stock(channel=shop, lines=[LineRequest("EVT", 1)], key="k")
    services.release_reservation(reservation=r)
    causes = list(StockEvent.objects.filter(variant=v).values_list("cause", flat=True))
    assert causes == ["receipt", "reserved", "released"]
    assert all(e.delivered_at is None for e in StockEvent.objects.all())


def test_policy_validation(shop):
    from omnishop.core.errors import ValidationFailed
    from omnishop.inventory.errors import UnknownStrategy

    with pytest.raises(ValidationFailed):
        services.set_policy(channel=shop, quota_percent=120)
    with pytest.raises(UnknownStrategy):
        services.set_policy(channel=shop, allocation_strategy="random")
    with pytest.raises(ValidationFailed):
        services.set_policy(channel=shop, reservation_ttl_seconds=0)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="sellable_sql is embedded in PostgreSQL statements"
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    levels=st.lists(
        st.tuples(
            st.integers(0, 3), st.integers(0, 2), st.integers(-5, 60), st.integers(0, 9), st.integers(0, 9)
        ),
        max_size=12,
    ),
    linked=st.sets(st.integers(0, 2)),
    active=st.lists(st.booleans(), min_size=3, max_size=3),
    buffer=st.integers(0, 12),
    quota_percent=st.none() | st.integers(0, 100),
    quota_minus=st.integers(0, 6),
)
def test_the_sql_form_of_availability_promises_what_availability_for_does(
    shop, make_location, make_variant, levels, linked, active, buffer, quota_percent, quota_minus
):
    """sellable_sql (read inside the storefront's page statement, ADR 0057) is atp() in SQL: for any stock —
    oversold levels, inactive and unlinked locations included — and any policy it answers availability_for's
    figures, with no row where availability_for answers 0 for want of stock."""
    from omnishop.inventory.models import ChannelLocation, StockLevel, StockLocation

    StockLevel.objects.all().delete()
    ChannelLocation.objects.filter(channel=shop).delete()
    StockLocation.objects.all().delete()
    locations = [make_location(f"loc-{n}") for n in range(3)]
    for location, is_active in zip(locations, active, strict=True):
        StockLocation.objects.filter(pk=location.pk).update(is_active=is_active)
    for n in sorted(linked):
        ChannelLocation.objects.create(channel=shop, location=locations[n], priority=n)
    variants = [make_variant() for _ in range(4)]
    for v, loc, on_hand, allocated, reserved in levels:
        StockLevel.objects.update_or_create(
            variant=variants[v],
            location=locations[loc],
            defaults={
                "on_hand": on_hand,
                "allocated": allocated,
                "reserved": reserved,
                "oversold": on_hand < allocated + reserved,
            },
        )
    services.set_policy(
        channel=shop, safety_buffer=buffer, quota_percent=quota_percent, quota_minus=quota_minus
    )
    ids = [v.pk for v in variants]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT variant_id, available FROM ({services.sellable_sql(channel='%s', match='= ANY(%s)')}) s",
            [shop.pk, ids],
        )
        in_sql = dict(cursor.fetchall())
    expected = services.availability_for(channel=shop, variant_ids=ids)
    assert {v: in_sql.get(v, 0) for v in ids} == expected
    assert all(isinstance(value, int) for value in in_sql.values())
