"""The orders desk in a real browser (Debian's Chromium through Playwright) at desktop width: a clerk logs in
through the admin's form, finds an order, ships it with a carrier and tracking number and sees it on the
timeline, and refunds an amount through the confirmation step; axe-core on the order list and the order page,
and the README's screenshots."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from omnishop.orders import services as orders
from omnishop.orders.models import Fulfilment, OrderEvent
from omnishop.testing_browser import assert_accessible, screenshot

from .orders_shop import PASSWORD, Shop, carrier, customer, staff_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect  # skipped, like every browser test, without it

CLERK = (
    "orders.view_order",
    "orders.change_order",
    "payments.change_payment",
    "payments.add_storecreditentry",
)


@pytest.fixture
def shop(web_channel):
    return Shop(web_channel)


def log_in(page, username: str, next_path: str) -> None:
    page.goto(f"/admin/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_path}")


def amount(page, name: str) -> str:
    """The amount shown after the <dt> `name` in the order page's money summary."""
    return page.locator(f"dt:text-is('{name}') + dd").first.inner_text()


def test_a_clerk_finds_an_order_ships_it_with_a_carrier_and_sees_it_on_the_timeline(browser_page, shop):
    carrier("dhl", "DHL Express")
    staff_with(*CLERK, username="clerk")
    v = shop.variant(price="30.00", stock=5, title="Linen shirt")
    ada = customer()
    order = shop.checkout({v: 2}, customer=ada)
    for i in range(3):
        shop.checkout({v: 1}, customer=customer(first="Grace", last=f"Hopper{i}", email=f"g{i}@example.com"))

    page = browser_page("desktop")
    log_in(page, "clerk", "/admin/ops/orders/")
    assert page.get_by_role("link", name="Orders").first.is_visible()
    assert page.get_by_role("link", name=order.number).is_visible()
    page.get_by_label("Order, customer, e-mail, phone or external id").fill("ada lovelace")
    page.get_by_role("button", name="Find orders").click()
    page.wait_for_url("**q=ada+lovelace**")
    found = page.get_by_role("table", name="Orders found, newest first")
    assert found.get_by_role("row").count() == 2  # the header and Ada's order
    assert_accessible(page)
    screenshot(page, "backoffice-orders")

    page.get_by_role("link", name=order.number).click()
    page.wait_for_url(f"**/admin/ops/orders/{order.number}/")
    page.get_by_role("button", name="Create fulfilments").click()
    parcel = Fulfilment.objects.get(order=order)
    page.get_by_role("link", name=f"Ship parcel {parcel.pk}").click()
    page.get_by_label("Carrier").select_option(label="DHL Express")
    page.get_by_label("Tracking number").fill("JD014600003")
    page.get_by_label("Parcels").fill("2")
    page.get_by_role("button", name="Ship").click()
    confirm = page.get_by_role("region", name="Confirm")
    assert "tracking number JD014600003, 2 parcel(s)" in confirm.inner_text()
    assert Fulfilment.objects.get(pk=parcel.pk).status == "pending"
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"**/admin/ops/orders/{order.number}/")

    timeline = page.get_by_role("region", name="Timeline").inner_text()
    assert re.search(r"shipped · Clerk — dhl JD014600003", timeline)
    expect(page.get_by_role("cell", name="JD014600003")).to_be_visible()
    expect(page.get_by_role("button", name=f"Mark parcel {parcel.pk} delivered")).to_be_visible()
    assert Fulfilment.objects.get(pk=parcel.pk).status == "shipped"
    assert_accessible(page)
    screenshot(page, "backoffice-order")

    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet: the page reflows, nothing sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_clerk_refunds_an_amount_after_confirming_and_sees_paid_and_refunded_change(browser_page, shop):
    staff_with(*CLERK, username="clerk")
    order = shop.checkout({shop.variant(price="30.00"): 1}, customer=customer())
    total = f"{order.total.quantize(Decimal('0.01'))} GBP"

    page = browser_page("desktop")
    log_in(page, "clerk", f"/admin/ops/orders/{order.number}/")
    assert (amount(page, "Paid"), amount(page, "Refunded")) == (total, "0.00 GBP")
    page.get_by_role("link", name="Refund").click()
    page.get_by_label("Amount (GBP)").fill("12.50")
    page.get_by_label("Reason").fill("Late delivery")
    page.get_by_role("button", name="Refund").click()
    assert (
        "Refund 12.50 GBP to the original payment method."
        in page.get_by_role("region", name="Confirm").inner_text()
    )
    assert OrderEvent.objects.filter(order=order, kind="refunded").count() == 0
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"**/admin/ops/orders/{order.number}/")

    assert amount(page, "Refunded") == "12.50 GBP"
    assert amount(page, "Paid") == f"{(order.total - Decimal('12.50')).quantize(Decimal('0.01'))} GBP"
    assert (
        "refunded 12.50 GBP · Clerk — Late delivery"
        in page.get_by_role("region", name="Timeline").inner_text()
    )
    assert_accessible(page)


def test_every_operation_form_and_its_confirmation_are_accessible(browser_page, shop):
    carrier("dhl", "DHL Express")
    staff_with(*CLERK, username="clerk")
    ada = customer()
    v, w = shop.variant(stock=5), shop.variant(stock=5)
    order = shop.checkout({v: 1, w: 2}, customer=ada)
    shop.checkout({v: 1}, customer=ada)  # something to merge with
    held = shop.marketplace({shop.variant(stock=0): 1}, "M-9", customer=ada)
    exception = held.exceptions.get()
    shipping = shop.checkout({v: 1}, customer=customer(email="s@example.com"))
    parcel = orders.create_fulfilments(order=shipping, actor="t")[0]

    page = browser_page("desktop")
    log_in(page, "clerk", f"/admin/ops/orders/{order.number}/")
    for path in (
        f"/admin/ops/orders/{order.number}/cancel/",
        f"/admin/ops/orders/{order.number}/address/",
        f"/admin/ops/orders/{order.number}/split/",
        f"/admin/ops/orders/{order.number}/merge/",
        f"/admin/ops/orders/{order.number}/note/",
        f"/admin/ops/orders/{order.number}/store-credit/",
        f"/admin/ops/orders/{held.number}/exceptions/{exception.pk}/resolve/",
        f"/admin/ops/orders/{shipping.number}/fulfilments/{parcel.pk}/ship/",
    ):
        page.goto(path)
        assert_accessible(page)

    page.goto(f"/admin/ops/orders/{order.number}/cancel/")
    page.get_by_role("button", name="Cancel items").click()  # nothing chosen: the reason, on the page
    expect(page.get_by_role("alert").first).to_contain_text("Tick")
    assert_accessible(page)
    page.get_by_label(re.compile(rf"^{w.sku} ")).fill("1")
    page.get_by_role("button", name="Cancel items").click()
    assert "Cancel 1 × " in page.get_by_role("region", name="Confirm").inner_text()
    assert_accessible(page)
