"""Cycle counts (differences booked against on_hand, a count below what is held refused, counting again) and
transfers (out of free stock at the source, into the destination), as the ledger and the channels see them."""

import pytest

from omnishop.core.errors import InvalidTransition, ValidationFailed
from omnishop.inventory import services
from omnishop.inventory.errors import (
    CountBelowCommitted,
    CountInProgress,
    DuplicateLine,
    InsufficientStock,
    SameLocation,
)
from omnishop.inventory.models import CycleCount, StockEvent, StockLevel, StockMovement, Transfer
from omnishop.inventory.services import LineRequest, SkuQuantity

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(warehouse, make_variant, stock):
    """Two SKUs on the warehouse shelf: 10 chairs, 4 tables; the outbox emptied."""
    chair, table = make_variant("CHAIR"), make_variant("TABLE")
    stock(chair, warehouse, 10)
    stock(table, warehouse, 4)
    StockEvent.objects.all().delete()
    return chair, table


def booked(kind: str) -> list[tuple]:
    return list(
        StockMovement.objects.filter(kind=kind)
        .order_by("id")
        .values_list(
            "variant__sku",
            "location__code",
            "quantity",
            "reason_code",
            "reference_type",
            "reference",
            "actor",
        )
    )


def events() -> list[tuple[str, str, str]]:
    return list(StockEvent.objects.order_by("id").values_list("cause", "variant__sku", "location__code"))


# --- cycle counts ---------------------------------------------------------------------------------------


def test_a_count_books_each_difference_against_on_hand(shelf, warehouse, make_variant, level):
    chair, table = shelf
    lamp, stool = make_variant("LAMP"), make_variant("STOOL")
    count = services.start_count(location=warehouse, actor="user:4")
    done = services.complete_count(
        count=count,
        lines=[
            SkuQuantity("TABLE", 6),  # 2 more than booked
            SkuQuantity("CHAIR", 7),  # 3 fewer
            SkuQuantity("LAMP", 2),  # never booked here
            SkuQuantity("STOOL", 0),  # never booked, none found
        ],
        actor="user:4",
    )
    assert (done.status, done.completed_at is not None) == ("completed", True)
    ref = str(count.pk)
    assert sorted(booked("cycle_count")) == [
        ("CHAIR", "main-wh", -3, "count_difference", "cycle_count", ref, "user:4"),
        ("LAMP", "main-wh", 2, "count_difference", "cycle_count", ref, "user:4"),
        ("TABLE", "main-wh", 2, "count_difference", "cycle_count", ref, "user:4"),
    ]
    assert (
        level(chair, warehouse).on_hand,
        level(table, warehouse).on_hand,
        level(lamp, warehouse).on_hand,
    ) == (
        7,
        6,
        2,
    )
    assert not StockLevel.objects.filter(variant=stool).exists()
    assert sorted(done.lines.values_list("variant__sku", "expected", "counted")) == [
        ("CHAIR", 10, 7),
        ("LAMP", 0, 2),
        ("STOOL", 0, 0),
        ("TABLE", 4, 6),
    ]
    assert sorted(events()) == [
        ("cycle_count", "CHAIR", "main-wh"),
        ("cycle_count", "LAMP", "main-wh"),
        ("cycle_count", "TABLE", "main-wh"),
    ]
    assert_books_balance()


def test_a_count_that_matches_books_nothing(shelf, warehouse):
    count = services.start_count(location=warehouse)
    services.complete_count(count=count, lines=[SkuQuantity("CHAIR", 10)])
    assert booked("cycle_count") == [] and events() == []


def test_skus_not_on_the_sheet_are_left_alone(shelf, warehouse, level):
    _, table = shelf
    services.complete_count(count=services.start_count(location=warehouse), lines=[SkuQuantity("CHAIR", 9)])
    assert level(table, warehouse).on_hand == 4


def test_counting_fewer_than_are_held_is_refused_naming_the_line(shop, shelf, warehouse, level):
    _, table = shelf
    services.reserve_stock(channel=shop, lines=[LineRequest("TABLE", 2)], key="k")
    services.allocate_stock(channel=shop, lines=[LineRequest("TABLE", 1)], order_reference="O-1")
    count = services.start_count(location=warehouse)
    with pytest.raises(CountBelowCommitted) as caught:
        services.complete_count(count=count, lines=[SkuQuantity("TABLE", 2), SkuQuantity("CHAIR", 10)])
    assert (caught.value.code, caught.value.status) == ("count_below_committed", 409)
    assert caught.value.field == "lines[0].quantity"
    assert caught.value.details == {"sku": "TABLE", "counted": 2, "committed": 3}
    assert booked("cycle_count") == [] and level(table, warehouse).on_hand == 4
    count.refresh_from_db()
    assert count.status == "open"


def test_the_refused_line_is_named_by_its_place_on_the_sheet(shop, shelf, warehouse):
    # CHAIR was created first, so it comes first when the rows are locked in (variant, location) order
    services.reserve_stock(channel=shop, lines=[LineRequest("CHAIR", 5)], key="k")
    count = services.start_count(location=warehouse)
    with pytest.raises(CountBelowCommitted) as caught:
        services.complete_count(count=count, lines=[SkuQuantity("TABLE", 4), SkuQuantity("CHAIR", 4)])
    assert caught.value.field == "lines[1].quantity"


def test_counting_exactly_what_is_held_is_accepted(shop, shelf, warehouse, level):
    chair, _ = shelf
    services.reserve_stock(channel=shop, lines=[LineRequest("CHAIR", 3)], key="k")
    services.complete_count(count=services.start_count(location=warehouse), lines=[SkuQuantity("CHAIR", 3)])
    stock = level(chair, warehouse)
    assert (stock.on_hand, stock.reserved) == (3, 3)
    assert_books_balance()


def test_after_releasing_the_holds_the_same_sheet_can_be_completed(shop, shelf, warehouse, level):
    chair, _ = shelf
    reservation = services.reserve_stock(channel=shop, lines=[LineRequest("CHAIR", 5)], key="k")
    count = services.start_count(location=warehouse)
    with pytest.raises(CountBelowCommitted):
        services.complete_count(count=count, lines=[SkuQuantity("CHAIR", 2)])
    services.release_reservation(reservation=reservation)
    services.complete_count(count=count, lines=[SkuQuantity("CHAIR", 2)])
    assert level(chair, warehouse).on_hand == 2
    assert_books_balance()


def test_a_location_is_counted_again_on_a_new_sheet(shelf, warehouse, level):
    chair, _ = shelf
    first = services.start_count(location=warehouse)
    with pytest.raises(CountInProgress) as caught:
        services.start_count(location=warehouse)
    assert (caught.value.code, caught.value.field, caught.value.details) == (
        "count_in_progress",
        "location",
        {"location": "main-wh"},
    )
    services.complete_count(count=first, lines=[SkuQuantity("CHAIR", 8)])
    with pytest.raises(InvalidTransition) as twice:
        services.complete_count(count=first, lines=[SkuQuantity("CHAIR", 1)])
    assert (twice.value.field, twice.value.details) == ("count", {"state": "completed"})
    recount = services.start_count(location=warehouse)
    services.complete_count(count=recount, lines=[SkuQuantity("CHAIR", 9)])
    assert [q for _, _, q, *_ in booked("cycle_count")] == [-2, 1]
    assert level(chair, warehouse).on_hand == 9
    assert_books_balance()


def test_a_cancelled_count_books_nothing_and_frees_the_location(shelf, warehouse):
    count = services.start_count(location=warehouse)
    assert services.cancel_count(count=count).status == "cancelled"
    with pytest.raises(InvalidTransition):
        services.complete_count(count=count, lines=[SkuQuantity("CHAIR", 1)])
    with pytest.raises(InvalidTransition):
        services.cancel_count(count=count)
    assert services.start_count(location=warehouse).status == "open"
    assert booked("cycle_count") == [] and CycleCount.objects.filter(status="open").count() == 1


@pytest.mark.parametrize("counted", [-1, True, 2.0, "3"])
def test_a_counted_quantity_must_be_a_whole_number_of_zero_or_more(shelf, warehouse, counted):
    count = services.start_count(location=warehouse)
    with pytest.raises(ValidationFailed) as caught:
        services.complete_count(count=count, lines=[SkuQuantity("TABLE", 4), SkuQuantity("CHAIR", counted)])
    assert caught.value.field == "lines[1].quantity"


# --- transfers ------------------------------------------------------------------------------------------


def test_a_transfer_moves_units_from_free_stock_at_the_source_to_the_destination(
    shelf, warehouse, make_location, level
):
    chair, table = shelf
    store = make_location("store")
    transfer = services.request_transfer(
        source=warehouse,
        destination=store,
        lines=[SkuQuantity("TABLE", 1), SkuQuantity("CHAIR", 3)],
        note="for the window",
        actor="user:5",
    )
    assert (transfer.status, transfer.note, transfer.created_by) == ("requested", "for the window", "user:5")
    assert booked("transfer_out") == [] and events() == []
    dispatched = services.dispatch_transfer(transfer=transfer, actor="user:5")
    assert (dispatched.status, dispatched.dispatched_at is not None) == ("in_transit", True)
    ref = str(transfer.pk)
    assert sorted(booked("transfer_out")) == [
        ("CHAIR", "main-wh", -3, "", "transfer", ref, "user:5"),
        ("TABLE", "main-wh", -1, "", "transfer", ref, "user:5"),
    ]
    assert (level(chair, warehouse).on_hand, level(table, warehouse).on_hand) == (7, 3)
    assert sorted(events()) == [("transfer_out", "CHAIR", "main-wh"), ("transfer_out", "TABLE", "main-wh")]
    received = services.receive_transfer(transfer=transfer, actor="user:6")
    assert (received.status, received.received_at is not None) == ("received", True)
    assert sorted(booked("transfer_in")) == [
        ("CHAIR", "store", 3, "", "transfer", ref, "user:6"),
        ("TABLE", "store", 1, "", "transfer", ref, "user:6"),
    ]
    assert (level(chair, store).on_hand, level(table, store).on_hand) == (3, 1)
    assert sorted(events()[-2:]) == [("transfer_in", "CHAIR", "store"), ("transfer_in", "TABLE", "store")]
    assert_books_balance()


def test_a_transfer_short_on_one_line_moves_nothing(shop, shelf, warehouse, make_location, level):
    chair, table = shelf
    services.reserve_stock(channel=shop, lines=[LineRequest("TABLE", 2)], key="k")
    transfer = services.request_transfer(
        source=warehouse,
        destination=make_location("store"),
        lines=[SkuQuantity("CHAIR", 3), SkuQuantity("TABLE", 3)],
    )
    StockEvent.objects.all().delete()
    with pytest.raises(InsufficientStock) as caught:
        services.dispatch_transfer(transfer=transfer)
    assert (caught.value.field, caught.value.details) == (
        "lines",
        {"sku": "TABLE", "requested": 3, "available": 2},
    )
    assert (level(chair, warehouse).on_hand, level(table, warehouse).on_hand) == (10, 4)
    assert booked("transfer_out") == [] and events() == []
    assert Transfer.objects.get(pk=transfer.pk).status == "requested"


def test_a_transfer_goes_through_its_states_once(shelf, warehouse, make_location):
    store = make_location("store")
    transfer = services.request_transfer(source=warehouse, destination=store, lines=[SkuQuantity("CHAIR", 1)])
    with pytest.raises(InvalidTransition):
        services.receive_transfer(transfer=transfer)
    services.dispatch_transfer(transfer=transfer)
    with pytest.raises(InvalidTransition) as again:
        services.dispatch_transfer(transfer=transfer)
    assert again.value.details == {"state": "in_transit"}
    with pytest.raises(InvalidTransition):
        services.cancel_transfer(transfer=transfer)
    services.receive_transfer(transfer=transfer)
    with pytest.raises(InvalidTransition):
        services.receive_transfer(transfer=transfer)
    assert len(booked("transfer_in")) == 1
    assert_books_balance()


def test_a_cancelled_transfer_never_moves(shelf, warehouse, make_location):
    transfer = services.request_transfer(
        source=warehouse, destination=make_location("store"), lines=[SkuQuantity("CHAIR", 1)]
    )
    assert services.cancel_transfer(transfer=transfer).status == "cancelled"
    with pytest.raises(InvalidTransition):
        services.dispatch_transfer(transfer=transfer)
    assert booked("transfer_out") == []


def test_a_transfer_needs_two_places_and_one_line_per_sku(shelf, warehouse, make_location):
    with pytest.raises(SameLocation) as same:
        services.request_transfer(source=warehouse, destination=warehouse, lines=[SkuQuantity("CHAIR", 1)])
    assert (same.value.code, same.value.field) == ("same_location", "destination")
    with pytest.raises(DuplicateLine) as twice:
        services.request_transfer(
            source=warehouse,
            destination=make_location("store"),
            lines=[SkuQuantity("CHAIR", 1), SkuQuantity("CHAIR", 2)],
        )
    assert (twice.value.code, twice.value.field) == ("duplicate_line", "lines[1].sku")
    assert not Transfer.objects.exists()
