"""Numbers the stock tables cannot hold are refused at the door (422, the field named), nothing written."""

from __future__ import annotations

import pytest

from omnishop.inventory.models import Reservation, StockLevel, StockMovement

pytestmark = pytest.mark.django_db


def test_a_receipt_larger_than_a_stock_column_is_refused_and_nothing_is_booked(staff_api, shop, make_variant):
    make_variant("HOODIE")
    for quantity in (9223372036854775807, 2**31):
        r = staff_api.post(
            "/inventory/receipts", {"sku": "HOODIE", "location": "main-wh", "quantity": quantity}
        )
        assert r.status_code == 422, r.content
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("validation_error", "quantity")
    assert not StockLevel.objects.exists() and not StockMovement.objects.exists()
    assert staff_api.get("/inventory/availability/HOODIE", {"channel": "web"}).status_code == 200


def test_the_largest_receipt_a_column_holds_is_booked(staff_api, shop, make_variant):
    make_variant("HOODIE")
    r = staff_api.post("/inventory/receipts", {"sku": "HOODIE", "location": "main-wh", "quantity": 2**31 - 1})
    assert r.status_code == 201, r.content
    assert StockLevel.objects.get().on_hand == 2**31 - 1


def test_extending_a_reservation_by_more_seconds_than_a_column_holds_is_refused(
    api, shop, make_key, stock, make_variant, warehouse
):
    stock(make_variant("HOODIE"), warehouse, 5)
    client = api.with_key(make_key(shop))
    rid = client.post(
        "/inventory/reservations", {"key": "k", "lines": [{"sku": "HOODIE", "quantity": 1}]}
    ).json()["id"]
    expires = Reservation.objects.get(pk=rid).expires_at
    r = client.post(f"/inventory/reservations/{rid}/extend", {"seconds": 367357222371230})
    assert r.status_code == 422, r.content
    assert r.json()["error"]["field"] == "seconds"
    assert Reservation.objects.get(pk=rid).expires_at == expires


@pytest.mark.parametrize(
    "path", ["/inventory/reservations/{}", "/inventory/allocations/{}", "/inventory/transfers/{}"]
)
def test_an_id_past_64_bits_in_a_path_is_a_422_not_a_500(staff_api, shop, path):
    r = staff_api.get(path.format(2**64))
    assert r.status_code == 422, r.content
    assert r.json()["error"]["code"] == "validation_error"
