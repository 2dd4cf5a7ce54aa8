"""The dashboard in a real browser: a member of staff signs in, sees the KPI cards and the charts drawn by
Chart.js, opens a chart's table view with the same figures (the recommendation performance's also equal to
its CSV download and its JSON), and axe-core finds no serious or critical violation (screenshot
docs/screenshots/backoffice-dashboard.png)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.backoffice.tests import test_analytics_rollups as support
from omnishop.backoffice.web.analytics import HEADINGS
from omnishop.orders import services
from omnishop.recommendations import services as recs
from omnishop.testing_browser import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def month_of_orders(web_channel, market_channel, make_key, staff_user, monkeypatch):
    """Four weeks of orders on two channels up to today, with a cancellation and two returns."""
    today = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(support, "DAY0", today - timedelta(days=27))
    shops = support.Shops(web_channel, market_channel, make_key)
    placed = []
    for day in range(0, 28, 2):
        customer = shops.customers[day % 3] if day % 4 else None
        placed.append(
            shops.place(market=day % 3 == 0, day=day, quantities=[1 + day % 3, day % 2, 2], customer=customer)
        )
    services.cancel_order(order=placed[-1], actor="staff:1")
    support.receive_one_unit_back(placed[1], reason="too small")
    support.receive_one_unit_back(placed[2], reason="arrived damaged")
    # The web shop's home showed three recommendations and a product page one; a customer followed one
    # and bought it the next day.
    first, second = shops.variants[0].product_id, shops.variants[1].product_id
    seen = support.DAY0 + timedelta(days=20)
    recs.record_impressions(
        channel=shops.web.channel,
        shown={"home.popular": [first, second, first], "product.similar": [second]},
        now=seen,
    )
    recs.record_click(
        channel=shops.web.channel, placement_name="home.popular", product_id=first,
        customer=shops.customers[1], now=seen,
    )  # fmt: skip
    shops.place(market=False, day=21, quantities=[2], customer=shops.customers[1])
    return shops


def sign_in(page) -> None:
    page.set_default_timeout(60_000)  # a shared, loaded machine: the first admin page compiles its templates
    page.goto("/admin/login/?next=/admin/ops/dashboard/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/ops/dashboard/")


def test_the_dashboard_draws_its_charts_with_tables_and_is_accessible(browser_page, month_of_orders):
    page = browser_page("desktop")
    sign_in(page)
    assert page.get_by_role("heading", name="Dashboard", exact=True).is_visible()
    assert page.get_by_role("heading", name="Net sales").is_visible()
    assert page.get_by_role("link", name="Orders ready to fulfil").is_visible()
    drawn = page.evaluate(
        """() => Array.from(document.querySelectorAll('.dash-chart canvas')).map(c => {
             const chart = Chart.getChart(c);
             return chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0; })"""
    )
    assert len(drawn) >= 7 and all(n > 0 for n in drawn)  # every chart with data is drawn, with its points

    returns = page.locator("#chart-returns")
    view = returns.locator(".dash-table")
    table = view.locator("table")
    assert view.bounding_box()["height"] <= 1  # out of sight (a 1-pixel clip), still read by screen readers
    returns.get_by_role("button", name="Show the table").click()
    assert view.bounding_box()["height"] > 40 and table.is_visible()
    assert returns.get_by_role("button", name="Hide the table").get_attribute("aria-pressed") == "true"
    cells = table.locator("tbody td").all_inner_texts()
    assert sorted(zip(cells[::2], cells[1::2], strict=True)) == [("arrived damaged", "1"), ("too small", "1")]

    assert_accessible(page)
    screenshot(page, "backoffice-dashboard")


def test_recommendation_performance_has_a_table_equal_to_its_csv_and_json(browser_page, month_of_orders):
    page = browser_page("desktop")
    sign_in(page)
    figure = page.locator("#chart-recommendations")
    assert figure.get_by_role("heading", name="Recommendation performance").is_visible()
    assert page.evaluate(
        "() => Chart.getChart(document.querySelector('#chart-recommendations canvas')).data.labels"
    ) == ["Home: popular right now (GBP)", "Product page: you may also like (GBP)"]
    figure.get_by_role("button", name="Show the table").click()
    table = figure.locator("table")
    assert table.is_visible()
    columns = table.locator("thead th").all_text_contents()
    cells = [row.locator("td").all_text_contents() for row in table.locator("tbody tr").all()]

    as_json = page.request.get(figure.get_by_role("link", name=re.compile("^JSON")).get_attribute("href"))
    rows = as_json.json()["rows"]
    download = page.request.get(figure.get_by_role("link", name=re.compile("^CSV")).get_attribute("href"))
    assert download.headers["content-type"].startswith("text/csv")
    as_csv = list(csv.reader(io.StringIO(download.text())))
    # The table's headings are the columns' labels (translated); the CSV and the JSON keep the column names.
    assert [str(HEADINGS.get(c, c)) for c in as_csv[0]] == columns
    assert as_csv[1:] == cells == [[str(row[c]) for c in as_csv[0]] for row in rows]
    home = next(r for r in rows if r["placement"] == "home.popular")
    assert (home["impressions"], home["clicks"], home["ctr_pct"]) == (3, 1, 33.33)
    assert (home["attributed_orders"], home["attributed_units"], home["currency"]) == (1, 2, "GBP")


def test_the_dashboard_fits_a_phone_and_tablet_width(browser_page, month_of_orders):
    page = browser_page("phone")
    sign_in(page)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert_accessible(page)
