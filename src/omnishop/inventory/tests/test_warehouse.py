"""Back-office stock work over the API: receipts, adjustments, transfers, cycle counts, and the ledger check."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from omnishop.inventory import services
from omnishop.inventory.errors import CountBelowCommitted, InsufficientStock
from omnishop.inventory.models import CycleCount, StockLevel, StockMovement, Transfer

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites(make_location, make_variant, stock):
    north, south = make_location("north"), make_location("south")
    v = make_variant("CHAIR")
    stock(v, north, 10)
    return north, south, v


def test_staff_receive_and_adjust_stock_with_reasons(staff_api, two_sites):
    north, _, v = two_sites
    received = staff_api.post(
        "/inventory/receipts", {"sku": "CHAIR", "location": "north", "quantity": 5, "reference": "GRN-1"}
    )
    assert received.status_code == 201, received.content
    damaged = staff_api.post(
        "/inventory/adjustments", {"sku": "CHAIR", "location": "north", "delta": -2, "reason_code": "damaged"}
    )
    assert damaged.status_code == 201 and damaged.json()["kind"] == "write_off"
    assert StockLevel.objects.get(variant=v, location=north).on_hand == 13
    ledger = staff_api.get("/inventory/movements", {"sku": "CHAIR"}).json()["items"]
    assert [(m["kind"], m["quantity"]) for m in ledger] == [
        ("write_off", -2),
        ("receipt", 5),
        ("receipt", 10),
    ]
    assert_books_balance()


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (
            "/inventory/receipts",
            {"sku": "CHAIR", "location": "north", "quantity": 0},
            422,
            "invalid_quantity",
        ),
        (
            "/inventory/receipts",
            {"sku": "CHAIR", "location": "north", "quantity": -4},
            422,
            "invalid_quantity",
        ),
        ("/inventory/receipts", {"sku": "NOPE", "location": "north", "quantity": 1}, 422, "unknown_sku"),
        ("/inventory/receipts", {"sku": "CHAIR", "location": "moon", "quantity": 1}, 422, "unknown_location"),
        (
            "/inventory/adjustments",
            {"sku": "CHAIR", "location": "north", "delta": 0, "reason_code": "lost"},
            422,
            "invalid_quantity",
        ),
        (
            "/inventory/adjustments",
            {"sku": "CHAIR", "location": "north", "delta": -1, "reason_code": "whim"},
            422,
            "validation_error",
        ),
        (
            "/inventory/adjustments",
            {"sku": "CHAIR", "location": "north", "delta": -11, "reason_code": "lost"},
            409,
            "insufficient_stock",
        ),
        (
            "/inventory/transfers",
            {"source": "north", "destination": "north", "lines": [{"sku": "CHAIR", "quantity": 1}]},
            422,
            "same_location",
        ),
        (
            "/inventory/transfers",
            {"source": "north", "destination": "south", "lines": [{"sku": "CHAIR", "quantity": 0}]},
            422,
            "invalid_quantity",
        ),
        (
            "/inventory/transfers",
            {"source": "north", "destination": "mars", "lines": [{"sku": "CHAIR", "quantity": 1}]},
            422,
            "unknown_location",
        ),
        ("/inventory/counts", {"location": "mars"}, 422, "unknown_location"),
        (
            "/inventory/locations",
            {"code": "x", "name": "X", "ships_to_customers": False},
            422,
            "validation_error",
        ),
        ("/inventory/locations", {"code": "north", "name": "Again"}, 409, "already_exists"),
    ],
)
def test_bad_back_office_input_is_a_clear_error_and_writes_nothing(
    staff_api, two_sites, path, body, status, code
):
    before = (StockMovement.objects.count(), Transfer.objects.count(), CycleCount.objects.count())
    response = staff_api.post(path, body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert (StockMovement.objects.count(), Transfer.objects.count(), CycleCount.objects.count()) == before
    assert_books_balance()


def test_a_transfer_moves_stock_with_movements_at_both_ends(staff_api, two_sites):
    north, south, v = two_sites
    created = staff_api.post(
        "/inventory/transfers",
        {"source": "north", "destination": "south", "lines": [{"sku": "CHAIR", "quantity": 4}]},
    )
    assert created.status_code == 201 and created.json()["status"] == "requested"
    tid = created.json()["id"]
    assert (
        staff_api.post(f"/inventory/transfers/{tid}/receive").json()["error"]["code"] == "invalid_transition"
    )
    assert staff_api.post(f"/inventory/transfers/{tid}/dispatch").json()["status"] == "in_transit"
    assert StockLevel.objects.get(variant=v, location=north).on_hand == 6
    assert staff_api.post(f"/inventory/transfers/{tid}/receive").json()["status"] == "received"
    assert StockLevel.objects.get(variant=v, location=south).on_hand == 4
    kinds = list(StockMovement.objects.filter(reference=str(tid)).values_list("kind", "quantity"))
    assert sorted(kinds) == [("transfer_in", 4), ("transfer_out", -4)]
    assert staff_api.post(f"/inventory/transfers/{tid}/cancel").status_code == 409
    assert_books_balance()


def test_a_transfer_cannot_ship_reserved_units(shop, warehouse, make_location, make_variant, stock):
    v = make_variant("RES")
    stock(v, warehouse, 3)
    services.reserve_stock(channel=shop, lines=[services.LineRequest("RES", 2)], key="k")
    transfer = services.request_transfer(
        source=warehouse, destination=make_location("other"), lines=[services.SkuQuantity("RES", 2)]
    )
    with pytest.raises(InsufficientStock) as caught:
        services.dispatch_transfer(transfer=transfer)
    assert caught.value.code == "insufficient_stock"
    transfer.refresh_from_db()
    assert transfer.status == "requested" and StockLevel.objects.get(variant=v).on_hand == 3


def test_a_cycle_count_books_the_differences_and_a_location_is_counted_once(
    staff_api, two_sites, make_variant, stock
):
    north, _, chair = two_sites
    table = make_variant("TABLE")
    stock(table, north, 2)
    started = staff_api.post("/inventory/counts", {"location": "north"})
    assert started.status_code == 201
    again = staff_api.post("/inventory/counts", {"location": "north"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "count_in_progress"
    cid = started.json()["id"]
    duplicate = staff_api.post(
        f"/inventory/counts/{cid}/complete",
        {"lines": [{"sku": "CHAIR", "counted": 8}, {"sku": "CHAIR", "counted": 8}]},
    )
    assert duplicate.status_code == 422 and duplicate.json()["error"]["code"] == "duplicate_line"
    done = staff_api.post(
        f"/inventory/counts/{cid}/complete",
        {"lines": [{"sku": "CHAIR", "counted": 8}, {"sku": "TABLE", "counted": 2}]},
    )
    assert done.status_code == 200, done.content
    assert done.json()["lines"] == [
        {"sku": "CHAIR", "expected": 10, "counted": 8},
        {"sku": "TABLE", "expected": 2, "counted": 2},
    ]
    twice = staff_api.post(f"/inventory/counts/{cid}/complete", {"lines": [{"sku": "CHAIR", "counted": 1}]})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "invalid_transition"
    assert list(StockMovement.objects.filter(kind="cycle_count").values_list("quantity", flat=True)) == [-2]
    assert StockLevel.objects.get(variant=chair, location=north).on_hand == 8
    assert_books_balance()


def test_counting_below_what_is_held_is_refused(shop, warehouse, make_variant, stock):
    v = make_variant("HELD")
    stock(v, warehouse, 5)
    services.reserve_stock(channel=shop, lines=[services.LineRequest("HELD", 3)], key="k")
    count = services.start_count(location=warehouse)
    with pytest.raises(CountBelowCommitted) as caught:
        services.complete_count(count=count, lines=[services.SkuQuantity("HELD", 2)])
    assert caught.value.code == "count_below_committed"
    assert StockLevel.objects.get(variant=v).on_hand == 5


def test_verify_command_passes_on_balanced_books_and_fails_on_a_tampered_row(two_sites, capsys):
    north, _, v = two_sites
    call_command("inventory", "verify")
    assert "Ledger verified" in capsys.readouterr().out
    StockLevel.objects.filter(variant=v, location=north).update(on_hand=11)
    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("inventory", "verify")
    assert "CHAIR @ north: on_hand is 11, the ledger says 10" in capsys.readouterr().err


def test_movements_are_append_only(two_sites):
    movement = StockMovement.objects.first()
    movement.quantity = 99
    with pytest.raises(ValueError):
        movement.save()
    with pytest.raises(ValueError):
        movement.delete()


def test_returns_go_back_on_sale(shop, warehouse, make_variant, stock):
    v = make_variant("RET")
    stock(v, warehouse, 1)
    services.record_return(variant=v, location=warehouse, quantity=1, reference="W-9")
    assert services.availability_for(channel=shop, variant_ids=[v.pk]) == {v.pk: 2}
    assert StockMovement.objects.filter(kind="return").get().reference == "W-9"
    assert_books_balance()


def test_channel_keys_see_only_their_channels_locations(api, shop, market_channel, make_key, make_location):
    make_location("not-web")
    key = make_key(shop, scopes=["inventory:read"])
    codes = [x["code"] for x in api.with_key(key).get("/inventory/locations").json()["items"]]
    assert codes == ["main-wh"]
    assert api.with_key(key).get("/inventory/locations/not-web").status_code == 404
    assert api.with_key(key).get("/inventory/channels/marketplace/policy").status_code == 404
    assert api.with_key(key).get("/inventory/channels/web/policy").json()["reservation_ttl_seconds"] == 900


def test_staff_set_channel_locations_and_policy(staff_api, web_channel, make_location):
    make_location("a")
    make_location("b")
    put = staff_api.put("/inventory/channels/web/locations", {"locations": ["b", "a"]})
    assert put.json() == [{"location": "b", "priority": 0}, {"location": "a", "priority": 1}]
    bad = staff_api.put("/inventory/channels/web/locations", {"locations": ["b", "zz"]})
    assert bad.status_code == 422 and bad.json()["error"] == {
        "code": "unknown_location",
        "message": "No stock location 'zz'.",
        "field": "locations[1]",
        "details": {"location": "zz"},
    }
    policy = staff_api.put("/inventory/channels/web/policy", {"safety_buffer": 2, "quota_percent": 80})
    assert policy.json()["safety_buffer"] == 2 and policy.json()["quota_percent"] == 80
    wrong = staff_api.put("/inventory/channels/web/policy", {"allocation_strategy": "cheapest"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "unknown_strategy"
