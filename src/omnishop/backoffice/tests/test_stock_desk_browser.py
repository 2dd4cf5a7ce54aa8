"""The stock desk in a real browser (Debian's Chromium through Playwright) at desktop width: a return
received back into stock, a cycle count whose difference is reviewed and posted, a purchase order received
in part at its landed cost with a delivery's extra charge; axe-core on the SKU screen and the count review; the README's screenshots."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client

from omnishop.catalog.models import SupplierOffer
from omnishop.inventory import services as inventory
from omnishop.inventory.models import PurchaseOrder, StockMovement
from omnishop.orders import services as orders
from omnishop.orders.models import ReturnRequest
from omnishop.testing_browser import assert_accessible, screenshot

from .stock_world import World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(web_channel, make_key):
    return World(web_channel, make_key)


@pytest.fixture
def staff_page(browser_page, staff_user):
    """A desktop page signed in as staff (the session cookie of a real log-in)."""
    client = Client()
    client.force_login(staff_user)
    page = browser_page("desktop")
    page.set_default_timeout(30_000)  # the machine is shared: a slow first page is not a failure
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": browser_page.base_url,
            }
        ]
    )
    page.staff = staff_user
    return page


def test_staff_receive_a_return_with_restock_and_stock_on_hand_goes_up(staff_page, world):
    rma = world.requested_return()
    orders.decide_return(rma=rma, approve=True, actor="test")
    before = world.on_hand(world.mug)
    page = staff_page
    page.goto("/admin/ops/returns/")
    page.get_by_label("Status").select_option("approved")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=rma.number).click()
    page.get_by_label("Restock at").select_option("main-wh")
    page.get_by_label("1 × MUG").select_option("restock")
    page.get_by_role("button", name="Receive return").click()
    confirm = page.get_by_role("region", name="Confirm")
    assert "Restock 1 × MUG at main-wh" in confirm.inner_text()
    assert_accessible(page)
    assert world.on_hand(world.mug) == before  # not before the confirmation
    confirm.get_by_role("button", name="Confirm").click()
    page.get_by_text("Return received.").wait_for()
    assert page.get_by_text("Received and refunded").first.is_visible()
    assert world.on_hand(world.mug) == before + 1
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.RECEIVED
    assert StockMovement.objects.get(kind="return").actor == f"staff:{page.staff.pk}"
    assert inventory.verify_ledger() == []


def test_a_cycle_count_difference_is_reviewed_then_posted_to_the_ledger(staff_page, world):
    page = staff_page
    page.goto("/admin/ops/stock/counts/")
    page.get_by_label("Location to count").select_option("main-wh")
    page.get_by_role("button", name="Start count").click()
    page.get_by_text("Count started.").wait_for()
    page.get_by_label("Counted MUG").fill("7")
    page.get_by_role("button", name="Review differences").click()
    review = page.get_by_role("table", name="Expected (on hand now) against counted")
    mug_row = review.get_by_role("row", name=re.compile(r"^MUG "))
    mug_row.wait_for()  # the review is the answer to the post: wait for it to arrive
    assert mug_row.get_by_role("cell").all_inner_texts() == ["10", "7", "-3"]
    assert not StockMovement.objects.filter(kind="cycle_count").exists()
    assert_accessible(page)
    screenshot(page, "backoffice-cycle-count")
    page.get_by_role("button", name="Post count").click()
    page.get_by_text("Count posted").wait_for()
    movement = StockMovement.objects.get(kind="cycle_count")
    assert (movement.quantity, movement.actor) == (-3, f"staff:{page.staff.pk}")
    assert world.on_hand(world.mug) == 7
    assert inventory.verify_ledger() == []


def test_a_purchase_order_received_in_part_shows_so_and_stock_goes_up_by_the_delivery(staff_page, world):
    # The potter's mug lands at 2.50 + 0.30 freight + 10 % duty = 3.05 a unit.
    SupplierOffer.objects.filter(variant=world.mug).update(freight_per_unit=Decimal("0.30"), duty_percent=10)
    po = inventory.create_purchase_order(
        supplier=world.supplier,
        location=world.warehouse,
        lines=[inventory.OrderLine("MUG", 10), inventory.OrderLine("CUP", 6)],
    )
    page = staff_page
    page.goto("/admin/ops/purchasing/")
    page.get_by_role("link", name=po.number).click()
    page.get_by_label("Quantity of MUG").fill("12")
    page.get_by_role("button", name="Save quantities").click()
    page.get_by_text("Quantities saved.").wait_for()
    lines = page.get_by_role("table", name="Lines")
    # unit cost, landed unit cost, line total, landed line total: editing the quantity kept the landed cost
    assert lines.get_by_role("row", name=re.compile(r"^MUG ")).get_by_role("cell").all_inner_texts()[3:7] == [
        "2.50 GBP",
        "3.05 GBP",
        "30.00 GBP",
        "36.60 GBP",
    ]
    page.get_by_role("button", name="Send to supplier").click()
    page.get_by_text("Purchase order sent.").wait_for()
    receive_mug = page.get_by_label("Receive MUG")
    assert "Lands at 3.05 GBP a unit" in page.locator(f"#{receive_mug.get_attribute('id')}_help").inner_text()
    receive_mug.fill("5")
    page.get_by_label("Extra charge for this delivery").fill("2")  # this delivery's courier, all on the mugs
    page.get_by_role("button", name="Review delivery").click()
    confirm = page.get_by_role("region", name="Confirm")
    assert "landed at 3.05 GBP a unit" in confirm.inner_text()
    assert "Spread an extra charge of 2.00 GBP" in confirm.inner_text()
    confirm.get_by_role("button", name="Confirm").click()
    page.get_by_text("Delivery received.").wait_for()
    assert page.get_by_text("Partially Received").is_visible()
    lines = page.get_by_role("table", name="Lines")
    lines.wait_for()
    assert lines.get_by_role("row", name=re.compile(r"^MUG ")).get_by_role("cell").all_inner_texts()[:3] == [
        "12",
        "5",
        "7",
    ]
    receipts = page.get_by_role("table", name="Receipts")
    # 3.05 + 2.00 spread over the 5 mugs = 3.45 a unit
    assert receipts.get_by_role("row", name=re.compile(r"^MUG ")).get_by_role("cell").all_inner_texts()[
        1:4
    ] == [
        "5",
        "2.00 GBP",
        "3.45 GBP",
    ]
    assert_accessible(page)
    screenshot(page, "backoffice-purchase-order")
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    assert world.on_hand(world.mug) == 15
    assert inventory.verify_ledger() == []
    page.get_by_role("link", name="MUG").first.click()
    page.wait_for_url("**/stock/sku/MUG/")
    by_location = page.get_by_role("table", name="Stock by location")
    warehouse = by_location.get_by_role("row", name=re.compile(r"^Main warehouse"))
    warehouse.wait_for()
    # the 10 uncosted units already there are taken at the first landed cost: all 15 at 3.45
    assert warehouse.get_by_role("cell").all_inner_texts()[0] == "15"
    assert warehouse.get_by_role("cell").all_inner_texts()[-1] == "3.45 GBP"


def test_the_sku_screen_is_found_by_sku_and_accessible_at_desktop_and_tablet_width(staff_page, world):
    inventory.receive_stock(variant=world.mug, location=world.store, quantity=3)
    page = staff_page
    page.goto("/admin/ops/stock/")
    page.get_by_label("SKU").fill("MUG")
    page.get_by_role("button", name="Show stock").click()
    page.wait_for_url("**/stock/sku/MUG/")
    by_location = page.get_by_role("table", name="Stock by location")
    north = by_location.get_by_role("row", name=re.compile(r"^North store"))
    north.wait_for()
    assert north.get_by_role("cell").all_inner_texts()[:4] == ["3", "0", "0", "3"]
    channels = page.get_by_role("table", name="What each channel may sell")
    assert (
        channels.get_by_role("row", name=re.compile(r"^Web")).get_by_role("cell").first.inner_text() == "10"
    )
    assert_accessible(page)
    screenshot(page, "backoffice-stock-sku")
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement !== document.body")
