"""The catalogue desk in a real browser (desktop): products ticked in the list, a price change previewed
then confirmed, and the product page showing the new prices — axe-core on the product page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from omnishop.catalog.models import ChannelListing
from omnishop.testing_browser import assert_accessible, screenshot

from .test_catalogue_desk import build_catalogue
from .test_customer_desk_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=30_000)  # the shared test machine is often busy


def test_a_bulk_price_change_is_previewed_then_confirmed(
    browser_page, live_server, staff_user, web_channel, market_channel
):
    hoodie, _ = build_catalogue(web_channel, market_channel, image_base=live_server.url)
    page = browser_page("desktop")
    log_in(page, staff_user, "/admin/ops/products/")

    page.get_by_role("checkbox", name="Select Organic Hoodie").check()
    page.get_by_role("button", name="Change prices…").click()
    page.wait_for_url("**/admin/ops/products/bulk-price/")
    page.get_by_label("Channel whose prices change").select_option(str(web_channel.pk))
    page.get_by_label("Change by percent (+ or −)").check()
    page.get_by_label("Value").fill("-12.5")
    page.get_by_role("button", name="Preview price change").click()

    confirm = page.get_by_role("region", name="Confirm")
    preview = confirm.get_by_role("table")
    expect(preview.get_by_role("row", name="Organic Hoodie HOOD-M 30.00 GBP 26.25 GBP")).to_be_visible()
    expect(preview.get_by_role("row", name="Organic Hoodie HOOD-L 32.00 GBP 28.00 GBP")).to_be_visible()
    assert ChannelListing.objects.get(variant__sku="HOOD-M", channel=web_channel).price == Decimal("30.00")
    assert_accessible(page)
    screenshot(page, "backoffice-bulk-price")

    confirm.get_by_role("button", name="Confirm price change").click()
    page.get_by_text("2 price(s) changed on web.").wait_for()
    prices = dict(ChannelListing.objects.filter(channel=web_channel).values_list("variant__sku", "price"))
    assert (prices["HOOD-M"], prices["HOOD-L"]) == (Decimal("26.25"), Decimal("28.00"))

    page.get_by_role("link", name="Organic Hoodie").click()
    page.wait_for_url(f"**/admin/ops/products/{hoodie.pk}/")
    listings = page.get_by_role("region", name="Listings per channel")
    expect(listings.get_by_role("row", name="web HOOD-M 26.25 GBP 40.00 GBP GBP Published")).to_be_visible()
    expect(page.get_by_role("img", name="Hoodie, front")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "backoffice-product")

    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet: wide tables scroll, the page does not
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
