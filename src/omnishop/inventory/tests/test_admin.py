"""Back-office screens render, and their actions go through the services (the books stay balanced)."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from omnishop.inventory import services
from omnishop.inventory.models import PurchaseOrder, Reservation, StockLevel, Transfer

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_every_inventory_screen_renders(admin_client, shop, warehouse, make_variant, stock):
    stock(make_variant("SCREEN"), warehouse, 3)
    services.reserve_stock(channel=shop, lines=[services.LineRequest("SCREEN", 1)], key="k")
    for model in (
        "stocklocation",
        "stocklevel",
        "stockmovement",
        "reservation",
        "allocation",
        "transfer",
        "cyclecount",
        "purchaseorder",
        "lowstockalert",
        "channelinventorypolicy",
        "stockvaluation",
    ):
        response = admin_client.get(reverse(f"admin:inventory_{model}_changelist"))
        assert response.status_code == 200, model
    level = StockLevel.objects.get()
    assert admin_client.get(reverse("admin:inventory_stocklevel_change", args=[level.pk])).status_code == 200


def test_releasing_a_reservation_from_the_admin_puts_stock_back(
    admin_client, shop, warehouse, make_variant, stock
):
    v = make_variant("ADM")
    stock(v, warehouse, 3)
    r = services.reserve_stock(channel=shop, lines=[services.LineRequest("ADM", 2)], key="k")
    response = admin_client.post(
        reverse("admin:inventory_reservation_changelist"), {"action": "release", "_selected_action": [r.pk]}
    )
    assert response.status_code == 302
    assert Reservation.objects.get().status == "released" and StockLevel.objects.get(variant=v).reserved == 0
    assert_books_balance()


def test_admin_dispatch_of_an_impossible_transfer_reports_the_error(
    admin_client, warehouse, make_location, make_variant, stock
):
    v = make_variant("TR")
    stock(v, warehouse, 1)
    transfer = services.request_transfer(
        source=warehouse, destination=make_location("b"), lines=[services.SkuQuantity("TR", 5)]
    )
    response = admin_client.post(
        reverse("admin:inventory_transfer_changelist"),
        {"action": "dispatch", "_selected_action": [transfer.pk]},
        follow=True,
    )
    assert "Only 1 free unit(s) of TR at the source." in response.content.decode()
    assert Transfer.objects.get().status == "requested"


def test_replenish_action_drafts_purchase_orders(admin_client, warehouse):
    response = admin_client.post(
        reverse("admin:inventory_stocklocation_changelist"),
        {"action": "draft_purchase_orders", "_selected_action": [warehouse.pk]},
        follow=True,
    )
    assert "0 draft purchase order(s) created." in response.content.decode()
    assert PurchaseOrder.objects.count() == 0


def test_a_line_added_to_a_draft_in_the_admin_lands_like_one_the_services_draft(
    admin_client, warehouse, make_variant, make_offer
):
    mug, cup = make_variant("MUG"), make_variant("CUP")
    offer = make_offer(mug, "potter", cost=Decimal("2"), freight_per_unit=Decimal("0.25"), duty_percent=10)
    make_offer(cup, "potter", cost=Decimal("1"), freight_per_unit=Decimal("0.10"))
    po = services.create_purchase_order(
        supplier=offer.supplier, location=warehouse, lines=[services.OrderLine("MUG", 5)]
    )
    line = po.lines.get()
    form = {
        "supplier": po.supplier_id,
        "location": po.location_id,
        "currency": po.currency,
        "note": "",
        "lines-TOTAL_FORMS": 2,
        "lines-INITIAL_FORMS": 1,
        "lines-MIN_NUM_FORMS": 0,
        "lines-MAX_NUM_FORMS": 1000,
        "lines-0-id": line.pk,
        "lines-0-purchase_order": po.pk,
        "lines-0-variant": mug.pk,
        "lines-0-quantity": 5,
        "lines-0-unit_cost": "1.8000",  # renegotiated: still lands with the offer's freight and duty
        "lines-1-purchase_order": po.pk,
        "lines-1-variant": cup.pk,
        "lines-1-quantity": 3,
        "lines-1-unit_cost": "1.0000",
    }
    response = admin_client.post(reverse("admin:inventory_purchaseorder_change", args=[po.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    landed = {x.variant.sku: x.landed_unit_cost for x in po.lines.select_related("variant")}
    assert landed == {"MUG": Decimal("2.2300"), "CUP": Decimal("1.1000")}
