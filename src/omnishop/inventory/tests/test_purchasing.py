"""Replenishment from the ledger's sales, draft purchase orders per supplier, receiving them once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from omnishop.catalog.models import SupplierOffer
from omnishop.inventory import services
from omnishop.inventory.models import LowStockAlert, PurchaseOrder, StockLevel, StockMovement
from omnishop.inventory.services import LineRequest

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


def sell(shop, sku, quantity, days_ago, n):
    allocation = services.allocate_stock(
        channel=shop, lines=[LineRequest(sku, quantity)], order_reference=f"S-{n}"
    )
    services.ship_allocation(allocation=allocation)
    StockMovement.objects.filter(reference=f"S-{n}").update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )


@pytest.fixture
def selling(shop, warehouse, make_variant, stock, make_offer):
    """A mug selling 2 a day for 28 days (plus one 4-unit day), a preferred offer with MOQ 20 in packs of 12."""
    mug = make_variant("MUG")
    stock(mug, warehouse, 100)
    make_offer(mug, "potter", lead_time_days=5, min_order_quantity=20, pack_size=12, cost="1.20")
    for day in range(28):
        sell(shop, "MUG", 4 if day == 3 else 2, day, day)
    return mug


def test_suggestion_follows_velocity_lead_time_and_safety_stock(selling, warehouse):
    assert services.suggest_replenishment(location=warehouse) == []  # 42 free is above the reorder point
    assert StockLevel.objects.get(variant=selling).reorder_point == 13
    services.adjust_stock(variant=selling, location=warehouse, delta=-35, reason_code="lost")
    (s,) = services.suggest_replenishment(location=warehouse)
    # 58 sold in 28 days: μ = 2.071/day, σ = 0.371, L = 5 → SS = ceil(1.645·0.371·√5) = 2, ROP = ceil(10.36) + 2 = 13
    assert (s.daily_velocity, s.lead_time_days, s.safety_stock, s.reorder_point) == (2.071, 5, 2, 13)
    assert (s.position, s.supplier, s.quantity) == (7, "potter", 24)


def test_replenish_creates_draft_orders_grouped_by_supplier_rounded_to_moq_and_packs(
    shop, selling, warehouse, make_variant, stock, make_offer
):
    services.adjust_stock(
        variant=selling, location=warehouse, delta=-35, reason_code="lost"
    )  # 7 left < ROP 13
    cup = make_variant("CUP")
    stock(cup, warehouse, 3)
    make_offer(cup, "potter", lead_time_days=5, min_order_quantity=1, pack_size=1)
    for day in range(2):
        sell(shop, "CUP", 1, day, f"c{day}")
    call_command("replenish")
    (order,) = PurchaseOrder.objects.all()
    assert order.status == "draft" and order.supplier.code == "potter" and order.location == warehouse
    lines = {x.variant.sku: x.quantity for x in order.lines.select_related("variant")}
    # MUG: ROP 13 + 2.071·7 review days − position 7 = 20.5 → 21 → MOQ 20 ok → packs of 12 → 24
    assert lines["MUG"] == 24
    assert "CUP" in lines
    call_command("replenish")
    assert PurchaseOrder.objects.count() == 1  # the draft counts as on order
    assert LowStockAlert.objects.filter(variant=selling, resolved_at__isnull=True).exists()


def test_replenishment_suggests_and_drafts_at_the_preferred_offers_landed_cost(selling, warehouse):
    SupplierOffer.objects.filter(variant=selling).update(freight_per_unit=Decimal("0.15"), duty_percent=5)
    services.adjust_stock(variant=selling, location=warehouse, delta=-35, reason_code="lost")
    (s,) = services.suggest_replenishment(location=warehouse)
    assert (s.unit_cost, s.landed_unit_cost, s.currency) == (Decimal("1.2000"), Decimal("1.4100"), "GBP")
    (order,) = services.create_replenishment_orders(location=warehouse)
    line = order.lines.get()
    assert (line.unit_cost, line.landed_unit_cost) == (Decimal("1.2000"), Decimal("1.4100"))


def test_receiving_a_purchase_order_books_receipts_once_per_receipt_line(staff_api, selling, warehouse):
    created = staff_api.post(
        "/inventory/purchase-orders",
        {"supplier": "potter", "location": "main-wh", "lines": [{"sku": "MUG", "quantity": 24}]},
    )
    assert created.status_code == 201, created.content
    po = created.json()
    assert po["lines"] == [
        {
            "sku": "MUG",
            "quantity": 24,
            "received": 0,
            "unit_cost": "1.2000",
            "landed_unit_cost": "1.2000",  # the offer has no freight or duty
            "receipts": [],
        }
    ]
    early = staff_api.post(
        f"/inventory/purchase-orders/{po['id']}/receive",
        {"lines": [{"sku": "MUG", "quantity": 1, "key": "a"}]},
    )
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_transition"
    assert staff_api.post(f"/inventory/purchase-orders/{po['id']}/send").json()["status"] == "sent"

    delivery = {"lines": [{"sku": "MUG", "quantity": 10, "key": "DN-1/1"}]}
    first = staff_api.post(f"/inventory/purchase-orders/{po['id']}/receive", delivery)
    assert first.json()["status"] == "partially_received" and first.json()["lines"][0]["received"] == 10
    replay = staff_api.post(f"/inventory/purchase-orders/{po['id']}/receive", delivery)
    assert replay.json()["lines"][0]["received"] == 10
    assert StockMovement.objects.filter(reference_type="purchase_order").count() == 1

    over = staff_api.post(
        f"/inventory/purchase-orders/{po['id']}/receive",
        {"lines": [{"sku": "MUG", "quantity": 15, "key": "DN-2/1"}]},
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "over_receipt"
    assert StockMovement.objects.filter(reference_type="purchase_order").count() == 1
    allowed = staff_api.post(
        f"/inventory/purchase-orders/{po['id']}/receive",
        {"lines": [{"sku": "MUG", "quantity": 15, "key": "DN-2/1"}], "allow_over_receipt": True},
    )
    assert allowed.json()["status"] == "received" and allowed.json()["lines"][0]["received"] == 25
    assert StockLevel.objects.get(variant=selling, location=warehouse).on_hand == 42 + 25
    assert staff_api.post(f"/inventory/purchase-orders/{po['id']}/cancel").status_code == 409
    assert_books_balance()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"supplier": "potter", "location": "main-wh", "lines": [{"sku": "MUG", "quantity": 0}]},
            422,
            "invalid_quantity",
        ),
        (
            {"supplier": "potter", "location": "main-wh", "lines": [{"sku": "NOPE", "quantity": 1}]},
            422,
            "unknown_sku",
        ),
        (
            {"supplier": "nobody", "location": "main-wh", "lines": [{"sku": "MUG", "quantity": 1}]},
            422,
            "validation_error",
        ),
        (
            {"supplier": "potter", "location": "moon", "lines": [{"sku": "MUG", "quantity": 1}]},
            422,
            "unknown_location",
        ),
        ({"supplier": "potter", "location": "main-wh", "lines": []}, 422, "validation_error"),
    ],
)
def test_bad_purchase_orders_are_refused_and_write_nothing(staff_api, selling, body, status, code):
    response = staff_api.post("/inventory/purchase-orders", body)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert PurchaseOrder.objects.count() == 0


def test_low_stock_alert_opens_when_free_stock_crosses_the_reorder_point_and_closes_on_receipt(
    shop, warehouse, make_variant, stock
):
    v = make_variant("ALERT")
    stock(v, warehouse, 10)
    StockLevel.objects.filter(variant=v).update(reorder_point=5)
    services.reserve_stock(channel=shop, lines=[LineRequest("ALERT", 5)], key="a")
    assert not LowStockAlert.objects.exists()
    services.reserve_stock(channel=shop, lines=[LineRequest("ALERT", 1)], key="b")
    services.reserve_stock(channel=shop, lines=[LineRequest("ALERT", 1)], key="c")
    alert = LowStockAlert.objects.get()
    assert (alert.free, alert.reorder_point, alert.resolved_at) == (4, 5, None)
    services.receive_stock(variant=v, location=warehouse, quantity=10)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_replenishment_api_for_staff_only(api, staff_api, shop, make_key, selling):
    assert staff_api.get("/inventory/replenishment/suggestions").status_code == 200
    key = make_key(shop)
    assert api.with_key(key).get("/inventory/replenishment/suggestions").status_code == 403
    assert api.with_key(key).post("/inventory/replenishment/run", {}).status_code == 403
    ran = staff_api.post("/inventory/replenishment/run", {"window_days": 400})
    assert ran.status_code == 422 and ran.json()["error"]["field"] == "window_days"


def test_round_to_order():
    assert services.round_to_order(5, moq=20, pack_size=12) == 24
    assert services.round_to_order(25, moq=1, pack_size=6) == 30
    assert services.round_to_order(7, moq=1, pack_size=1) == 7
