"""The warehouse desk in a real browser: a warehouse member of staff signs in through the admin log-in,
lands on their desk and finds the order to ship under its location, keyboard-reachable and accessible."""

from __future__ import annotations

import pytest

from omnishop.backoffice.tests.test_home import make_shop, staff_in
from omnishop.orders import services as orders
from omnishop.testing_browser import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", ["desktop", "tablet"])
def test_a_warehouse_member_signs_in_and_sees_the_order_to_ship(
    browser_page, web_channel, make_key, viewport
):
    shop = make_shop(web_channel, make_key)
    ready = shop.checkout({shop.variant(stock=5): 2}, key="ready")
    packing = shop.checkout({shop.variant(stock=3, location=shop.store): 1}, key="packing")
    orders.create_fulfilments(order=packing, actor="test")
    staff_in("warehouse", username="wendy", password="correct horse 42")

    page = browser_page("desktop" if viewport == "desktop" else "phone")
    page.set_default_timeout(60_000)  # two cores shared with other test runs: be patient, not flaky
    if viewport == "tablet":
        page.set_viewport_size({"width": 768, "height": 1024})
    page.goto("/admin/")
    page.get_by_label("Username").fill("wendy")
    page.get_by_label("Password").fill("correct horse 42")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/ops/")

    assert page.get_by_role("heading", name="Warehouse", exact=True).is_visible()
    warehouse = page.get_by_role("region", name="Main warehouse")
    link = warehouse.get_by_role("link", name=ready.number)
    assert link.is_visible()
    assert link.get_attribute("href") == f"/admin/ops/orders/{ready.number}/"
    store = page.get_by_role("region", name="London shop")
    assert (
        store.get_by_role("table", name="Open fulfilments: pick, pack and ship")
        .get_by_role("link", name=packing.number)
        .is_visible()
    )
    assert page.get_by_role("link", name="Finance").count() == 0  # not this role's desk
    link.focus()
    assert page.evaluate("document.activeElement.textContent") == ready.number
    assert_accessible(page)
    if viewport == "desktop":
        screenshot(page, "backoffice-warehouse-desk")
