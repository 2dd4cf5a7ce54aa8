"""Checkout holds: reserve, extend, expire, release, and turn into an order's allocation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.core.errors import IdempotencyKeyReused
from omnishop.inventory import services
from omnishop.inventory.errors import HoldLimitReached, InsufficientStock, ReservationExpired
from omnishop.inventory.models import Reservation, StockMovement
from omnishop.inventory.services import LineRequest

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


def test_reserving_takes_units_off_sale_until_released(shop, warehouse, make_variant, stock, level):
    hoodie = make_variant("HOODIE-M")
    stock(hoodie, warehouse, 5)
    reservation = services.reserve_stock(channel=shop, lines=[LineRequest("HOODIE-M", 3)], key="checkout-1")
    assert services.availability_for(channel=shop, variant_ids=[hoodie.pk]) == {hoodie.pk: 2}
    assert level(hoodie, warehouse).reserved == 3
    services.release_reservation(reservation=reservation)
    assert services.availability_for(channel=shop, variant_ids=[hoodie.pk]) == {hoodie.pk: 5}
    assert_books_balance()


def test_the_same_key_returns_the_same_reservation_without_holding_twice(
    shop, warehouse, make_variant, stock, level
):
    v = make_variant("MUG")
    stock(v, warehouse, 4)
    first = services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 3)], key="k1")
    again = services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 3)], key="k1")
    assert again.pk == first.pk
    assert level(v, warehouse).reserved == 3


def test_the_same_key_with_other_lines_is_refused(shop, warehouse, make_variant, stock):
    make_variant("MUG")
    stock(make_variant("CAP"), warehouse, 4)
    services.reserve_stock(channel=shop, lines=[LineRequest("CAP", 1)], key="k1")
    with pytest.raises(IdempotencyKeyReused):
        services.reserve_stock(channel=shop, lines=[LineRequest("CAP", 2)], key="k1")


def test_more_than_is_free_is_insufficient_stock_and_nothing_is_written(
    shop, warehouse, make_variant, stock, level
):
    v = make_variant("TEE")
    other = make_variant("SOCKS")
    stock(v, warehouse, 2)
    stock(other, warehouse, 10)
    with pytest.raises(InsufficientStock) as caught:
        services.reserve_stock(channel=shop, lines=[LineRequest("SOCKS", 1), LineRequest("TEE", 3)], key="k")
    assert caught.value.details == {"sku": "TEE", "requested": 3, "available": 2}
    assert Reservation.objects.count() == 0
    assert level(other, warehouse).reserved == 0


def test_expired_reservations_go_back_on_sale(shop, warehouse, make_variant, stock, level):
    v = make_variant("HAT")
    stock(v, warehouse, 3)
    r = services.reserve_stock(channel=shop, lines=[LineRequest("HAT", 2)], key="k")
    assert services.expire_reservations() == 0
    assert services.expire_reservations(now=r.expires_at + timedelta(seconds=1)) == 1
    r.refresh_from_db()
    assert r.status == "expired" and level(v, warehouse).reserved == 0
    with pytest.raises(ReservationExpired):
        services.allocate_reservation(reservation=r, order_reference="O-1")
    assert_books_balance()


def test_ttl_comes_from_the_channel_policy_and_can_be_extended_up_to_the_hold_limit(
    shop, warehouse, make_variant, stock
):
    stock(make_variant("BAG"), warehouse, 3)
    services.set_policy(channel=shop, reservation_ttl_seconds=60, max_hold_seconds=600)
    r = services.reserve_stock(channel=shop, lines=[LineRequest("BAG", 1)], key="k")
    assert abs((r.expires_at - r.created_at).total_seconds() - 60) < 2
    r = services.extend_reservation(reservation=r, seconds=300)
    assert (r.expires_at - timezone.now()).total_seconds() > 290
    r = services.extend_reservation(reservation=r, seconds=3600)
    assert r.expires_at == r.created_at + timedelta(seconds=600)
    with pytest.raises(HoldLimitReached):
        services.extend_reservation(reservation=r, seconds=3600)


def test_extending_a_fresh_hold_by_less_than_it_has_left_keeps_it_and_is_not_a_refusal(
    shop, warehouse, make_variant, stock
):
    stock(make_variant("BELT"), warehouse, 3)
    services.set_policy(channel=shop, reservation_ttl_seconds=900, max_hold_seconds=3600)
    r = services.reserve_stock(channel=shop, lines=[LineRequest("BELT", 1)], key="k")
    held_until = r.expires_at
    again = services.extend_reservation(reservation=r, seconds=300)  # 45 minutes before the hold limit
    assert again.expires_at == held_until and again.status == "active"
    assert services.extend_reservation(reservation=r, seconds=1200).expires_at > held_until


def test_placing_the_order_turns_the_hold_into_an_allocation_and_shipping_books_a_sale(
    shop, warehouse, make_variant, stock, level
):
    v = make_variant("COAT")
    stock(v, warehouse, 5)
    r = services.reserve_stock(channel=shop, lines=[LineRequest("COAT", 2)], key="k")
    allocation = services.allocate_reservation(reservation=r, order_reference="ORD-1")
    assert services.allocate_reservation(reservation=r, order_reference="ORD-1").pk == allocation.pk
    s = level(v, warehouse)
    assert (s.on_hand, s.allocated, s.reserved) == (5, 2, 0)
    assert [(x.location_id, x.quantity) for x in allocation.lines.all()] == [(warehouse.pk, 2)]
    services.ship_allocation(allocation=allocation, actor="user:1")
    s = level(v, warehouse)
    assert (s.on_hand, s.allocated, s.reserved) == (3, 0, 0)
    sale = StockMovement.objects.get(kind="sale")
    assert (sale.quantity, sale.reference, sale.actor) == (-2, "ORD-1", "user:1")
    allocation.refresh_from_db()
    assert allocation.status == "fulfilled"
    assert_books_balance()


def test_cancelling_an_order_puts_its_units_back_on_sale(shop, warehouse, make_variant, stock):
    v = make_variant("SCARF")
    stock(v, warehouse, 3)
    allocation = services.allocate_stock(channel=shop, lines=[LineRequest("SCARF", 3)], order_reference="O-9")
    assert services.availability_for(channel=shop, variant_ids=[v.pk])[v.pk] == 0
    services.cancel_allocation(allocation=allocation)
    assert services.availability_for(channel=shop, variant_ids=[v.pk])[v.pk] == 3
    assert_books_balance()


def test_the_expire_command_and_task_release_abandoned_checkouts(
    shop, warehouse, make_variant, stock, level, capsys
):
    from django.core.management import call_command

    from omnishop.inventory.tasks import expire_reservations

    v = make_variant("ABANDON")
    stock(v, warehouse, 2)
    first = services.reserve_stock(channel=shop, lines=[LineRequest("ABANDON", 1)], key="a")
    second = services.reserve_stock(channel=shop, lines=[LineRequest("ABANDON", 1)], key="b")
    Reservation.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    call_command("inventory", "expire")
    assert "Expired 1 reservation(s)." in capsys.readouterr().out
    Reservation.objects.filter(pk=second.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_reservations.delay().get() == 1
    assert level(v, warehouse).reserved == 0
    assert_books_balance()
