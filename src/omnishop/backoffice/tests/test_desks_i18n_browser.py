"""The desks' language switch in a real browser: a member of staff signs in (in English), picks 简体中文 in
the header's switch (a plain form: no JavaScript needed), and the dashboard comes back in Chinese, the admin's
own frame too; the choice holds on the next desk and switches back; axe-core finds nothing serious."""

from __future__ import annotations

import pytest

from omnishop.backoffice.tests.test_analytics_browser import sign_in
from omnishop.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_switch_the_dashboard_to_chinese_and_back(browser_page, staff_user):
    page = browser_page("desktop")
    sign_in(page)
    assert page.get_by_role("heading", name="Key figures").is_visible()
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Change", exact=True).click()
    page.wait_for_url("**/admin/ops/dashboard/")
    assert page.get_by_role("heading", name="关键指标").is_visible()
    assert page.get_by_role("heading", name="数据看板", exact=True).is_visible()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_role("button", name="注销").is_visible()  # Django's admin frame: "Log out"
    assert_accessible(page)

    page.get_by_role("navigation", name="工作台").get_by_role("link", name="订单", exact=True).click()
    page.wait_for_url("**/admin/ops/orders/")
    assert page.get_by_role("button", name="查找订单").is_visible()
    page.get_by_label("语言").select_option("en")
    page.get_by_role("button", name="切换", exact=True).click()
    page.wait_for_url("**/admin/ops/orders/")
    assert page.get_by_role("button", name="Find orders").is_visible()
