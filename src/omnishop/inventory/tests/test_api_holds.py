"""The checkout and order API over HTTP: reservations, allocations, availability; access and bad input."""

import pytest

from omnishop.inventory import services
from omnishop.inventory.models import Allocation, Reservation, StockEvent, StockMovement

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def hoodie(shop, warehouse, make_variant, stock):
    v = make_variant("HOODIE")
    stock(v, warehouse, 10)
    return v


@pytest.fixture
def web_key(shop, make_key):
    return make_key(shop, scopes=["inventory:read", "inventory:write"])


def test_a_channel_reserves_then_places_the_order_over_the_api(api, web_key, hoodie, warehouse):
    client = api.with_key(web_key)
    response = client.post(
        "/inventory/reservations",
        {"lines": [{"sku": "HOODIE", "quantity": 2}]},
        headers={"Idempotency-Key": "c-1"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "active" and body["lines"] == [
        {"sku": "HOODIE", "location": "main-wh", "quantity": 2}
    ]
    assert client.get("/inventory/availability/HOODIE").json()["available"] == 8

    placed = client.post(f"/inventory/reservations/{body['id']}/allocate", {"order_reference": "W-100"})
    assert placed.status_code == 201, placed.content
    assert placed.json()["by_location"] == [
        {"location": "main-wh", "lines": [{"sku": "HOODIE", "location": "main-wh", "quantity": 2}]}
    ]
    shipped = client.post(f"/inventory/allocations/{placed.json()['id']}/ship", {})
    assert shipped.json()["status"] == "fulfilled"
    assert StockMovement.objects.filter(kind="sale").get().actor == "channel:web"
    assert_books_balance()


def test_replaying_a_reservation_request_holds_stock_once(api, web_key, hoodie):
    client = api.with_key(web_key)
    body = {"lines": [{"sku": "HOODIE", "quantity": 3}]}
    first = client.post("/inventory/reservations", body, headers={"Idempotency-Key": "same"})
    again = client.post("/inventory/reservations", body, headers={"Idempotency-Key": "same"})
    assert first.json()["id"] == again.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert Reservation.objects.count() == 1
    assert services.availability_for(
        channel=hoodie.stock_levels.get().location.channel_links.get().channel, variant_ids=[hoodie.pk]
    ) == {hoodie.pk: 7}


@pytest.mark.parametrize(
    ("lines", "status", "code", "field"),
    [
        ([{"sku": "HOODIE", "quantity": 0}], 422, "invalid_quantity", "lines[0].quantity"),
        ([{"sku": "HOODIE", "quantity": -2}], 422, "invalid_quantity", "lines[0].quantity"),
        ([{"sku": "NOPE", "quantity": 1}], 422, "unknown_sku", "lines"),
        ([{"sku": "HOODIE", "quantity": 11}], 409, "insufficient_stock", "lines"),
        (
            [{"sku": "HOODIE", "quantity": 1}, {"sku": "HOODIE", "quantity": 1}],
            422,
            "duplicate_line",
            "lines[1].sku",
        ),
        ([], 422, "validation_error", "lines"),
        ([{"sku": "HOODIE", "quantity": "two"}], 422, "validation_error", "lines[0].quantity"),
    ],
)
def test_bad_reservation_requests_are_clear_errors_and_write_nothing(
    api, web_key, hoodie, lines, status, code, field
):
    events = StockEvent.objects.count()
    response = api.with_key(web_key).post("/inventory/reservations", {"key": "k", "lines": lines})
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field
    assert Reservation.objects.count() == 0 and StockEvent.objects.count() == events
    assert_books_balance()


def test_unknown_pickup_location_is_a_clear_error(api, web_key, hoodie):
    response = api.with_key(web_key).post(
        "/inventory/reservations",
        {"key": "k", "lines": [{"sku": "HOODIE", "quantity": 1}], "pickup_location": "mars"},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_location"


def test_a_reservation_needs_a_key(api, web_key, hoodie):
    response = api.with_key(web_key).post(
        "/inventory/reservations", {"lines": [{"sku": "HOODIE", "quantity": 1}]}
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "key"


def test_channels_never_see_or_touch_each_others_holds(
    api, shop, market_channel, make_key, hoodie, warehouse
):
    services.set_channel_locations(channel=market_channel, location_codes=[warehouse.code])
    web = api.with_key(make_key(shop, scopes=["inventory:read", "inventory:write"]))
    market = api.with_key(make_key(market_channel, scopes=["inventory:read", "inventory:write"]))
    reservation = web.post(
        "/inventory/reservations", {"key": "a", "lines": [{"sku": "HOODIE", "quantity": 1}]}
    ).json()
    rid = reservation["id"]
    assert market.get(f"/inventory/reservations/{rid}").status_code == 404
    assert market.post(f"/inventory/reservations/{rid}/release").status_code == 404
    assert market.post(f"/inventory/reservations/{rid}/allocate", {"order_reference": "x"}).status_code == 404
    assert market.get("/channels/web/availability").status_code == 404
    assert (
        market.post(
            "/inventory/reservations",
            {"channel": "web", "key": "b", "lines": [{"sku": "HOODIE", "quantity": 1}]},
        ).status_code
        == 404
    )
    assert web.get(f"/inventory/reservations/{rid}").status_code == 200
    assert Reservation.objects.get(pk=rid).status == "active"


@pytest.mark.parametrize(
    ("scopes", "path", "method", "expected"),
    [
        (["inventory:read"], "/inventory/availability/HOODIE", "get", 200),
        (["catalog:read"], "/inventory/availability/HOODIE", "get", 403),
        (["inventory:read"], "/inventory/reservations", "post", 403),
        (["inventory:write"], "/inventory/reservations", "post", 201),
        (["inventory:write", "inventory:read"], "/inventory/receipts", "post", 403),  # staff only
        (["inventory:read"], "/inventory/stock", "get", 403),
        (["inventory:read"], "/channels/web/availability", "get", 200),
    ],
)
def test_key_scopes_decide_what_a_channel_may_do(api, shop, make_key, hoodie, scopes, path, method, expected):
    client = api.with_key(make_key(shop, scopes=scopes))
    body = {"key": "k", "lines": [{"sku": "HOODIE", "quantity": 1}]}
    if path == "/inventory/receipts":
        body = {"sku": "HOODIE", "location": "main-wh", "quantity": 1}
    response = client.get(path) if method == "get" else client.post(path, body)
    assert response.status_code == expected, response.content


def test_staff_act_for_a_named_channel_and_need_the_permission(
    staff_api, api, hoodie, shop, django_user_model
):
    response = staff_api.post(
        "/inventory/reservations", {"channel": "web", "key": "k", "lines": [{"sku": "HOODIE", "quantity": 1}]}
    )
    assert response.status_code == 201, response.content
    missing = staff_api.post(
        "/inventory/reservations", {"key": "k2", "lines": [{"sku": "HOODIE", "quantity": 1}]}
    )
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "channel"

    clerk = django_user_model.objects.create_user(
        username="clerk", email="c@example.com", password="x", is_staff=True
    )
    from django.test import Client

    from omnishop.conftest import ApiClient

    client = Client()
    client.force_login(clerk)
    denied = ApiClient(client).post(
        "/inventory/reservations",
        {"channel": "web", "key": "k3", "lines": [{"sku": "HOODIE", "quantity": 1}]},
    )
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"


def test_direct_allocation_says_which_units_come_from_where(
    api, shop, make_key, make_variant, make_location, stock
):
    north, south = make_location("north"), make_location("south")
    services.set_channel_locations(channel=shop, location_codes=["north", "south"])
    services.set_policy(channel=shop, allocation_strategy="fewest_locations")
    a, b = make_variant("A"), make_variant("B")
    stock(a, north, 1)
    stock(b, north, 1)
    stock(a, south, 2)
    stock(b, south, 2)
    client = api.with_key(make_key(shop, scopes=["inventory:write"]))
    response = client.post(
        "/inventory/allocations",
        {"order_reference": "M-1", "lines": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 2}]},
    )
    assert response.status_code == 201, response.content
    assert [g["location"] for g in response.json()["by_location"]] == ["south"]
    again = client.post(
        "/inventory/allocations",
        {"order_reference": "M-1", "lines": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 2}]},
    )
    assert again.json()["id"] == response.json()["id"] and Allocation.objects.count() == 1


def test_availability_feed_pages_and_returns_only_what_changed(
    api, shop, make_key, warehouse, make_variant, stock
):
    from datetime import timedelta

    from django.utils import timezone

    variants = [make_variant(f"V-{i}") for i in range(5)]
    for v in variants:
        stock(v, warehouse, 3)
    client = api.with_key(make_key(shop, scopes=["inventory:read"]))
    seen, cursor = [], None
    while True:
        page = client.get(
            "/channels/web/availability", {"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(x["sku"] for x in seen) == [f"V-{i}" for i in range(5)]
    assert {x["available"] for x in seen} == {3}

    mark = timezone.now()
    services.reserve_stock(channel=shop, lines=[services.LineRequest("V-3", 1)], key="k")
    changed = client.get("/channels/web/availability", {"updated_since": mark.isoformat()}).json()["items"]
    assert [(x["sku"], x["available"]) for x in changed] == [("V-3", 2)]
    naive = client.get(
        "/channels/web/availability",
        {"updated_since": (mark - timedelta(hours=1)).replace(tzinfo=None).isoformat()},
    )
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "updated_since"
    bad = client.get("/channels/web/availability", {"cursor": "garbage"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
