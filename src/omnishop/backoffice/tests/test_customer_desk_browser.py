"""The customer desk in a real browser (desktop): the 360 with orders of two channels, and a merge
previewed, confirmed and undone from it — controls found by role and name, axe-core on the 360."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from omnishop.customers.models import Customer, MergeRecord
from omnishop.testing_browser import assert_accessible, screenshot

from .test_customer_desk import two_channel_customer  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=30_000)  # the shared test machine is often busy
PASSWORD = "correct horse battery staple"


def log_in(page, user, then: str) -> None:
    page.set_default_timeout(30_000)  # the shared test machine is often busy
    page.goto(f"/admin/login/?next={then}")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{then}")


def test_the_360_shows_one_customers_orders_from_two_channels(browser_page, staff_user, two_channel_customer):  # noqa: F811
    ada, web_order, market_order = two_channel_customer
    page = browser_page("desktop")
    log_in(page, staff_user, "/admin/ops/customers/")
    page.get_by_label("Name, e-mail, phone or channel customer id").fill("AMZ-BUYER-77")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"AMZ-BUYER-77"))  # the results page, not the list it replaces
    page.get_by_role("link", name="Ada Lovelace").click()
    page.wait_for_url(f"**/admin/ops/customers/{ada.pk}/")

    orders = page.get_by_role("region", name="Orders")
    assert orders.get_by_role("link", name=web_order.number).get_attribute("href") == (
        f"/admin/ops/orders/{web_order.number}/"
    )
    expect(orders.get_by_role("link", name=market_order.number)).to_be_visible()
    expect(orders.get_by_role("cell", name="marketplace", exact=True)).to_be_visible()
    expect(orders.get_by_role("cell", name="web", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Profile").get_by_text("7.50 GBP")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "backoffice-customer-360")

    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet: wide tables scroll, the page does not
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    expect(orders.get_by_role("link", name=web_order.number)).to_be_visible()


def test_a_merge_from_the_360_then_its_undo(browser_page, staff_user, two_channel_customer):  # noqa: F811
    ada, _, _ = two_channel_customer
    twin = Customer.objects.create(first_name="Ada", last_name="L.", phone="+447911123456")
    page = browser_page("desktop")
    log_in(page, staff_user, f"/admin/ops/customers/{ada.pk}/")

    page.get_by_role("link", name="Merge with another customer").click()
    page.get_by_label("Other customer's number").fill(str(twin.pk))
    page.get_by_label("This customer").check()
    page.get_by_role("button", name="Preview merge").click()
    confirm = page.get_by_role("region", name="Confirm")
    expect(confirm.get_by_text("phone: +447911123456")).to_be_visible()
    assert not MergeRecord.objects.exists()
    confirm.get_by_role("button", name="Confirm merge").click()
    page.wait_for_url(f"**/admin/ops/customers/{ada.pk}/")
    record = MergeRecord.objects.get()
    assert Customer.objects.get(pk=twin.pk).merged_into_id == ada.pk
    expect(page.get_by_text("+447911123456").first).to_be_visible()  # the survivor took the phone

    page.get_by_role("button", name=f"Undo merge {record.pk}").click()
    page.get_by_text(f"Merge {record.pk} undone.").wait_for()
    assert Customer.objects.get(pk=twin.pk).merged_into_id is None
    expect(page.get_by_role("region", name="Merge history").get_by_text("Undone")).to_be_visible()
