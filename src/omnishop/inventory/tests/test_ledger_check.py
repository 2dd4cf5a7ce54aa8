"""The ledger check (`omnishop inventory verify`) fed books that do not balance: every kind of corruption is
reported, with what the report says. Tests all over the suite rely on an empty report meaning "balanced", so
the check itself must be shown to fail when it should."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from omnishop.inventory import services
from omnishop.inventory.models import (
    AllocationLine,
    Reservation,
    ReservationLine,
    StockLevel,
    StockMovement,
)
from omnishop.inventory.services import LineRequest, Mismatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def chair(shop, warehouse, make_variant, stock):
    """10 chairs received at the web shop's warehouse: 3 reserved by a checkout, 2 allocated to an order."""
    variant = make_variant("CHAIR")
    stock(variant, warehouse, 10)
    services.reserve_stock(channel=shop, lines=[LineRequest("CHAIR", 3)], key="checkout-1")
    services.allocate_stock(channel=shop, lines=[LineRequest("CHAIR", 2)], order_reference="O-1")
    return variant


def test_books_kept_through_the_services_verify_clean(chair):
    assert services.verify_ledger() == []


def test_an_on_hand_that_does_not_match_the_movements_is_reported(chair, warehouse):
    StockLevel.objects.filter(variant=chair).update(on_hand=12)
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "on_hand", 12, 10)]


def test_an_edited_movement_is_reported(chair, warehouse):
    StockMovement.objects.filter(variant=chair).update(quantity=7)  # QuerySet.update bypasses save()
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "on_hand", 10, 7)]


def test_a_deleted_movement_is_reported(chair, warehouse, stock):
    stock(chair, warehouse, 4)
    StockMovement.objects.filter(variant=chair, quantity=4).delete()  # bypasses delete()
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "on_hand", 14, 10)]


def test_movements_without_a_stock_level_are_reported(make_variant, warehouse, stock):
    lamp = make_variant("LAMP")
    stock(lamp, warehouse, 6)
    StockLevel.objects.filter(variant=lamp).delete()
    assert services.verify_ledger() == [Mismatch(lamp.pk, warehouse.pk, "on_hand", 0, 6)]


def test_movements_that_cancel_out_need_no_stock_level(make_variant, warehouse, stock):
    lamp = make_variant("LAMP")
    stock(lamp, warehouse, 6)
    services.adjust_stock(variant=lamp, location=warehouse, delta=-6, reason_code="lost")
    StockLevel.objects.filter(variant=lamp).delete()
    assert services.verify_ledger() == []


def test_reserved_units_no_reservation_holds_are_reported(chair, warehouse):
    StockLevel.objects.filter(variant=chair).update(reserved=4)
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "reserved", 4, 3)]


def test_a_reservation_closed_without_giving_its_units_back_is_reported(chair, warehouse):
    Reservation.objects.update(status=Reservation.Status.RELEASED)
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "reserved", 3, 0)]


def test_an_edited_reservation_line_is_reported(chair, warehouse):
    ReservationLine.objects.update(quantity=1)
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "reserved", 3, 1)]


def test_allocated_units_no_order_holds_are_reported(chair, warehouse):
    StockLevel.objects.filter(variant=chair).update(allocated=1)
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "allocated", 1, 2)]


def test_units_marked_shipped_but_still_allocated_are_reported(chair, warehouse):
    AllocationLine.objects.update(shipped=2)
    assert services.verify_ledger() == [Mismatch(chair.pk, warehouse.pk, "allocated", 2, 0)]


def test_every_mismatch_of_a_stock_level_is_reported_in_order(chair, warehouse, make_variant, stock):
    lamp = make_variant("LAMP")
    stock(lamp, warehouse, 5)
    StockLevel.objects.filter(variant=chair).update(on_hand=20, reserved=0, allocated=0)
    StockLevel.objects.filter(variant=lamp).update(on_hand=4)
    assert services.verify_ledger() == [
        Mismatch(chair.pk, warehouse.pk, "on_hand", 20, 10),
        Mismatch(chair.pk, warehouse.pk, "reserved", 0, 3),
        Mismatch(chair.pk, warehouse.pk, "allocated", 0, 2),
        Mismatch(lamp.pk, warehouse.pk, "on_hand", 4, 5),
    ]


def test_the_verify_command_lists_each_mismatch_and_fails(chair, capsys):
    StockLevel.objects.filter(variant=chair).update(on_hand=12, reserved=2)
    with pytest.raises(CommandError, match="2 mismatch"):
        call_command("inventory", "verify")
    assert capsys.readouterr().err.splitlines() == [
        "CHAIR @ main-wh: on_hand is 12, the ledger says 10",
        "CHAIR @ main-wh: reserved is 2, the ledger says 3",
    ]
