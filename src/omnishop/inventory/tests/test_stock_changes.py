"""Receipts, returns and adjustments as the back office books them: what each writes to the ledger, which
stock-changed events (the outbox the channels read) it leaves, and which input it refuses, with the error
code and field of the API contract."""

import pytest

from omnishop.core.errors import ValidationFailed
from omnishop.inventory import services
from omnishop.inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    LocationNotFound,
    UnknownLocation,
    UnknownSku,
)
from omnishop.inventory.models import StockEvent, StockLevel, StockMovement
from omnishop.inventory.services import LineRequest, SkuQuantity

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def mug(warehouse, make_variant, stock):
    """8 mugs at the warehouse; the outbox emptied, so each test sees only the events it causes."""
    variant = make_variant("MUG")
    stock(variant, warehouse, 8)
    StockEvent.objects.all().delete()
    return variant


def events() -> list[tuple[str, int, int]]:
    return list(StockEvent.objects.order_by("id").values_list("cause", "variant_id", "location_id"))


def ledger(variant) -> list[tuple]:
    return list(
        StockMovement.objects.filter(variant=variant)
        .order_by("id")
        .values_list("kind", "quantity", "reason_code", "reference_type", "reference", "actor", "note")
    )


# --- receipts and returns -----------------------------------------------------------------------------


def test_a_first_receipt_creates_the_stock_level_and_books_one_receipt(warehouse, make_variant, level):
    bowl = make_variant("BOWL")
    movement = services.receive_stock(
        variant=bowl,
        location=warehouse,
        quantity=12,
        reference_type="receipt",
        reference="GRN-7",
        actor="user:3",
    )
    assert movement.pk is not None and movement.location_id == warehouse.pk
    assert ledger(bowl) == [("receipt", 12, "", "receipt", "GRN-7", "user:3", "")]
    stock = level(bowl, warehouse)
    assert (stock.on_hand, stock.allocated, stock.reserved) == (12, 0, 0)
    assert events() == [("receipt", bowl.pk, warehouse.pk)]


def test_a_later_receipt_adds_to_what_is_there(mug, warehouse, level):
    services.receive_stock(variant=mug, location=warehouse, quantity=5)
    assert level(mug, warehouse).on_hand == 13
    assert events() == [("receipt", mug.pk, warehouse.pk)]
    assert_books_balance()


def test_a_receipt_leaves_held_units_held(shop, mug, warehouse, level):
    services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 3)], key="k")
    services.allocate_stock(channel=shop, lines=[LineRequest("MUG", 2)], order_reference="O-1")
    services.receive_stock(variant=mug, location=warehouse, quantity=5)
    stock = level(mug, warehouse)
    assert (stock.on_hand, stock.reserved, stock.allocated) == (13, 3, 2)
    assert_books_balance()


def test_receipts_at_two_locations_are_kept_apart(mug, warehouse, make_location, level):
    store = make_location("store", kind="retail_store")
    services.receive_stock(variant=mug, location=store, quantity=2)
    assert (level(mug, warehouse).on_hand, level(mug, store).on_hand) == (8, 2)
    assert events() == [("receipt", mug.pk, store.pk)]


def test_a_customer_return_goes_back_on_sale_as_a_return(mug, warehouse, level):
    services.record_return(variant=mug, location=warehouse, quantity=2, reference="W-1001", actor="user:9")
    assert ledger(mug)[-1] == ("return", 2, "customer_return", "order", "W-1001", "user:9", "")
    assert level(mug, warehouse).on_hand == 10
    assert events() == [("return", mug.pk, warehouse.pk)]
    assert_books_balance()


def test_a_return_without_reference_or_actor_books_them_empty(mug, warehouse):
    services.record_return(variant=mug, location=warehouse, quantity=1)
    assert ledger(mug)[-1] == ("return", 1, "customer_return", "order", "", "", "")


# --- quantities -----------------------------------------------------------------------------------------

NOT_A_QUANTITY = [
    pytest.param(True, id="True"),
    pytest.param(False, id="False"),
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(1.0, id="float"),
    pytest.param("3", id="text"),
    pytest.param(None, id="None"),
    pytest.param(2**31, id="more than a stock level can hold"),
    pytest.param(2**63, id="more than any database integer"),
]


@pytest.mark.parametrize("quantity", NOT_A_QUANTITY)
def test_a_receipt_of_anything_but_a_whole_number_of_units_is_refused(mug, warehouse, level, quantity):
    with pytest.raises(InvalidQuantity) as caught:
        services.receive_stock(variant=mug, location=warehouse, quantity=quantity)
    assert (caught.value.code, caught.value.status, caught.value.field) == (
        "invalid_quantity",
        422,
        "quantity",
    )
    assert level(mug, warehouse).on_hand == 8 and len(ledger(mug)) == 1 and events() == []


def test_the_largest_quantity_a_stock_level_holds_can_be_received(warehouse, make_variant, level):
    pallet = make_variant("PALLET")
    services.receive_stock(variant=pallet, location=warehouse, quantity=2**31 - 1)
    assert level(pallet, warehouse).on_hand == 2**31 - 1


def test_one_unit_is_a_quantity(warehouse, make_variant, level):
    single = make_variant("SINGLE")
    services.receive_stock(variant=single, location=warehouse, quantity=1)
    assert level(single, warehouse).on_hand == 1


@pytest.mark.parametrize("quantity", NOT_A_QUANTITY)
def test_a_reservation_line_of_anything_but_a_whole_number_of_units_is_refused(shop, mug, quantity):
    with pytest.raises(InvalidQuantity) as caught:
        services.reserve_stock(
            channel=shop, lines=[LineRequest("MUG", 1), LineRequest("MUG-2", quantity)], key="k"
        )
    assert (caught.value.code, caught.value.field) == ("invalid_quantity", "lines[1].quantity")


@pytest.mark.parametrize("quantity", NOT_A_QUANTITY)
def test_a_transfer_line_of_anything_but_a_whole_number_of_units_is_refused(
    mug, warehouse, make_location, quantity
):
    with pytest.raises(InvalidQuantity) as caught:
        services.request_transfer(
            source=warehouse, destination=make_location("store"), lines=[SkuQuantity("MUG", quantity)]
        )
    assert (caught.value.code, caught.value.field) == ("invalid_quantity", "lines[0].quantity")


@pytest.mark.parametrize(
    "delta",
    [
        pytest.param(True, id="True"),
        pytest.param(False, id="False"),
        pytest.param(0, id="zero"),
        pytest.param(-1.0, id="float"),
        pytest.param("-1", id="text"),
        pytest.param(2**31, id="huge gain"),
        pytest.param(-(2**31), id="huge loss"),
        pytest.param(2**63, id="more than any database integer"),
    ],
)
def test_an_adjustment_by_anything_but_a_non_zero_whole_number_is_refused(mug, warehouse, level, delta):
    with pytest.raises(InvalidQuantity) as caught:
        services.adjust_stock(variant=mug, location=warehouse, delta=delta, reason_code="correction")
    assert (caught.value.code, caught.value.status, caught.value.field) == ("invalid_quantity", 422, "delta")
    assert level(mug, warehouse).on_hand == 8 and len(ledger(mug)) == 1 and events() == []


def test_huge_quantities_over_the_api_are_a_422_not_a_server_error(staff_api, mug):
    receipt = staff_api.post("/inventory/receipts", {"sku": "MUG", "location": "main-wh", "quantity": 2**63})
    assert receipt.status_code == 422, receipt.content
    # Refused by the schema's bounds (32 bits, the column) before the service's own check.
    assert (receipt.json()["error"]["code"], receipt.json()["error"]["field"]) == (
        "validation_error",
        "quantity",
    )
    adjustment = staff_api.post(
        "/inventory/adjustments",
        {"sku": "MUG", "location": "main-wh", "delta": -(2**40), "reason_code": "lost"},
    )
    assert adjustment.status_code == 422, adjustment.content
    assert (adjustment.json()["error"]["code"], adjustment.json()["error"]["field"]) == (
        "validation_error",
        "delta",
    )


# --- adjustments ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "delta", "kind"),
    [
        ("found", 2, "adjustment"),
        ("correction", 2, "adjustment"),
        ("correction", -2, "adjustment"),
        ("sample", -1, "adjustment"),
        ("damaged", -2, "write_off"),
        ("lost", -3, "write_off"),
        ("theft", -1, "write_off"),
        ("expired", -4, "write_off"),
    ],
)
def test_each_adjustment_reason_is_booked_with_its_movement_kind(mug, warehouse, level, reason, delta, kind):
    movement = services.adjust_stock(
        variant=mug, location=warehouse, delta=delta, reason_code=reason, note="shelf 4", actor="user:2"
    )
    assert movement.kind == kind
    assert ledger(mug)[-1] == (kind, delta, reason, "adjustment", "", "user:2", "shelf 4")
    assert level(mug, warehouse).on_hand == 8 + delta
    assert events() == [(kind, mug.pk, warehouse.pk)]
    assert_books_balance()


def test_theft_is_a_write_off_not_a_correction(mug, warehouse):
    services.adjust_stock(variant=mug, location=warehouse, delta=-2, reason_code="theft")
    assert ledger(mug)[-1] == ("write_off", -2, "theft", "adjustment", "", "", "")
    assert StockMovement.objects.filter(kind="write_off", reason_code="theft").count() == 1
    assert not StockMovement.objects.filter(kind="adjustment").exists()


def test_an_unknown_adjustment_reason_is_refused_and_the_known_ones_are_listed(mug, warehouse, level):
    with pytest.raises(ValidationFailed) as caught:
        services.adjust_stock(variant=mug, location=warehouse, delta=-1, reason_code="whim")
    assert (caught.value.code, caught.value.field) == ("validation_error", "reason_code")
    assert caught.value.details == {
        "allowed": ["correction", "damaged", "expired", "found", "lost", "sample", "theft"]
    }
    assert level(mug, warehouse).on_hand == 8 and events() == []


def test_removing_units_leaves_held_units_alone(shop, mug, warehouse, level):
    services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 3)], key="k")
    services.allocate_stock(channel=shop, lines=[LineRequest("MUG", 2)], order_reference="O-1")
    StockEvent.objects.all().delete()
    services.adjust_stock(variant=mug, location=warehouse, delta=-3, reason_code="damaged")
    stock = level(mug, warehouse)
    assert (stock.on_hand, stock.reserved, stock.allocated) == (5, 3, 2)
    assert events() == [("write_off", mug.pk, warehouse.pk)]
    assert_books_balance()


def test_removing_more_than_the_free_units_is_insufficient_stock_and_books_nothing(
    shop, mug, warehouse, level
):
    services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 3)], key="k")
    StockEvent.objects.all().delete()
    with pytest.raises(InsufficientStock) as caught:
        services.adjust_stock(variant=mug, location=warehouse, delta=-6, reason_code="lost")
    assert (caught.value.code, caught.value.status, caught.value.field) == (
        "insufficient_stock",
        409,
        "delta",
    )
    assert caught.value.details == {"sku": "MUG", "requested": 6, "available": 5}
    assert "Only 5 free unit(s) of MUG at main-wh" in caught.value.message
    assert (level(mug, warehouse).on_hand, len(ledger(mug)), events()) == (8, 1, [])
    assert_books_balance()


def test_the_free_units_reported_are_those_of_the_stock_level_adjusted(make_location, make_variant, stock):
    first, second = make_location("first"), make_location("second")
    other, chair = make_variant("OTHER"), make_variant("CHAIR")
    stock(other, first, 10)
    stock(other, second, 20)
    stock(chair, first, 3)
    stock(chair, second, 7)
    with pytest.raises(InsufficientStock) as caught:
        services.adjust_stock(variant=chair, location=second, delta=-9, reason_code="lost")
    assert caught.value.details == {"sku": "CHAIR", "requested": 9, "available": 7}


def test_removing_exactly_the_free_units_empties_the_shelf(mug, warehouse, level):
    services.adjust_stock(variant=mug, location=warehouse, delta=-8, reason_code="lost")
    assert level(mug, warehouse).on_hand == 0
    assert_books_balance()


def test_removing_units_where_there_never_were_any_is_insufficient_stock(warehouse, make_variant):
    ghost = make_variant("GHOST")
    with pytest.raises(InsufficientStock) as caught:
        services.adjust_stock(variant=ghost, location=warehouse, delta=-1, reason_code="lost")
    assert caught.value.details == {"sku": "GHOST", "requested": 1, "available": 0}
    assert not StockMovement.objects.filter(variant=ghost).exists()
    assert not StockLevel.objects.filter(variant=ghost).exists()


def test_found_units_create_the_stock_level_and_keep_the_note(warehouse, make_variant, level):
    found = make_variant("FOUND")
    services.adjust_stock(
        variant=found, location=warehouse, delta=3, reason_code="found", note="behind the racking"
    )
    assert level(found, warehouse).on_hand == 3
    assert ledger(found) == [("adjustment", 3, "found", "adjustment", "", "", "behind the racking")]


def test_the_largest_adjustment_a_stock_level_holds_is_accepted_both_ways(warehouse, make_variant, level):
    pallet = make_variant("PALLET")
    services.adjust_stock(variant=pallet, location=warehouse, delta=2**31 - 1, reason_code="found")
    assert level(pallet, warehouse).on_hand == 2**31 - 1
    services.adjust_stock(variant=pallet, location=warehouse, delta=-(2**31 - 1), reason_code="correction")
    assert level(pallet, warehouse).on_hand == 0
    assert ledger(pallet) == [
        ("adjustment", 2**31 - 1, "found", "adjustment", "", "", ""),
        ("adjustment", -(2**31 - 1), "correction", "adjustment", "", "", ""),
    ]


def test_an_adjustment_over_the_api_keeps_its_note(staff_api, mug):
    response = staff_api.post(
        "/inventory/adjustments",
        {"sku": "MUG", "location": "main-wh", "delta": 2, "reason_code": "found", "note": "in returns bay"},
    )
    assert response.status_code == 201, response.content
    assert StockMovement.objects.get(pk=response.json()["id"]).note == "in returns bay"


# --- stock-changed events for every kind of change ---------------------------------------------------


def test_every_change_of_stock_tells_the_channels(shop, mug, warehouse, make_location):
    store = make_location("store")
    reservation = services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 1)], key="r1")
    services.release_reservation(reservation=reservation)
    expiring = services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 1)], key="r2")
    services.expire_reservations(now=expiring.expires_at)
    order = services.allocate_stock(channel=shop, lines=[LineRequest("MUG", 2)], order_reference="O-1")
    services.ship_allocation(allocation=order)
    cancelled = services.allocate_stock(channel=shop, lines=[LineRequest("MUG", 1)], order_reference="O-2")
    services.cancel_allocation(allocation=cancelled)
    services.adjust_stock(variant=mug, location=warehouse, delta=-1, reason_code="correction")
    services.adjust_stock(variant=mug, location=warehouse, delta=1, reason_code="found")
    services.record_return(variant=mug, location=warehouse, quantity=1)
    transfer = services.request_transfer(source=warehouse, destination=store, lines=[SkuQuantity("MUG", 2)])
    services.dispatch_transfer(transfer=transfer)
    services.receive_transfer(transfer=transfer)
    services.complete_count(count=services.start_count(location=warehouse), lines=[SkuQuantity("MUG", 4)])
    at_warehouse = [
        (cause, mug.pk, warehouse.pk)
        for cause in [
            "reserved",
            "released",
            "reserved",
            "expired",
            "allocated",
            "shipped",
            "allocated",
            "cancelled",
            "adjustment",
            "adjustment",
            "return",
            "transfer_out",
        ]
    ]
    assert events() == [
        *at_warehouse,
        ("transfer_in", mug.pk, store.pk),
        ("cycle_count", mug.pk, warehouse.pk),
    ]
    assert StockEvent.objects.filter(delivered_at__isnull=True).count() == len(events())
    assert_books_balance()


def test_an_order_of_several_lines_leaves_one_event_per_stock_level(
    shop, mug, warehouse, make_variant, stock
):
    bowl = make_variant("BOWL")
    stock(bowl, warehouse, 4)
    StockEvent.objects.all().delete()
    services.allocate_stock(
        channel=shop, lines=[LineRequest("BOWL", 1), LineRequest("MUG", 1)], order_reference="O-1"
    )
    assert sorted(events()) == sorted(
        [("allocated", mug.pk, warehouse.pk), ("allocated", bowl.pk, warehouse.pk)]
    )


def test_a_refused_change_tells_the_channels_nothing(shop, mug, warehouse):
    with pytest.raises(InsufficientStock):
        services.reserve_stock(channel=shop, lines=[LineRequest("MUG", 9)], key="k")
    with pytest.raises(InsufficientStock):
        services.adjust_stock(variant=mug, location=warehouse, delta=-9, reason_code="lost")
    assert events() == []


# --- looking up SKUs and locations ---------------------------------------------------------------------


def test_unknown_skus_are_named_with_their_position(mug, make_variant):
    make_variant("BOWL")
    found = services.variants_by_sku(["MUG", "BOWL", "MUG"])
    assert {sku: v.sku for sku, v in found.items()} == {"MUG": "MUG", "BOWL": "BOWL"}
    with pytest.raises(UnknownSku) as caught:
        services.variants_by_sku(["MUG", "MUG", "NOPE"], field="lines")
    assert (caught.value.code, caught.value.field) == ("unknown_sku", "lines")
    assert caught.value.details == {"sku": "NOPE", "index": 1}
    with pytest.raises(UnknownSku) as caught:
        services.variants_by_sku(["NOPE"])
    assert caught.value.field == "sku" and "NOPE" in caught.value.message


def test_an_unknown_location_in_a_body_is_422_and_in_a_path_404(warehouse):
    assert services.location_by_code("main-wh") == warehouse
    with pytest.raises(UnknownLocation) as in_body:
        services.location_by_code("moon")
    assert (in_body.value.code, in_body.value.status, in_body.value.field) == (
        "unknown_location",
        422,
        "location",
    )
    assert in_body.value.details == {"location": "moon"}
    with pytest.raises(LocationNotFound) as in_path:
        services.location_by_code("moon", field="code", in_body=False)
    assert (in_path.value.code, in_path.value.status, in_path.value.field) == (
        "location_not_found",
        404,
        "code",
    )
    assert in_path.value.details == {"location": "moon"}
