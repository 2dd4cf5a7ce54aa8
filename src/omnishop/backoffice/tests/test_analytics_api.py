"""The analytics JSON endpoints and the dashboard page: typed figures for staff with the dashboard permission,
refused otherwise; each chart's CSV download holds exactly its JSON rows; the page shows the KPI cards,
charts with their tables and the action list."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from omnishop.backoffice.analytics import queries
from omnishop.backoffice.web.analytics import CHARTS
from omnishop.conftest import ApiClient
from omnishop.core.money import quantize
from omnishop.recommendations import services as recs
from omnishop.recommendations.models import Attribution, Event

from .test_analytics_rollups import DAY0, Shops, receive_one_unit_back

pytestmark = pytest.mark.django_db

PERIOD = {"start": str(DAY0.date()), "end": str((DAY0 + timedelta(days=6)).date())}
ENDPOINTS = ["kpis", "sales", "top-products", "top-categories", "stock", "returns", "statuses"]
ENDPOINTS += ["zero-result-searches", "recommendations"]


@pytest.fixture
def shops(web_channel, market_channel, make_key):
    return Shops(web_channel, market_channel, make_key)


@pytest.fixture
def history(shops):
    """A week: web orders on days 0 and 2 (one returned), a marketplace order on day 1, a cancelled one,
    and a search that found nothing; plus a web order in the previous week for the comparison. On day 0 the
    web shop's home showed two recommended products and a product page one; Ada followed the first home
    recommendation and bought that product (2 units) in her day-0 order."""
    ada, bob = shops.customers[:2]
    shops.place(market=False, day=-3, quantities=[1], customer=ada)
    first_product, second_product = shops.variants[0].product_id, shops.variants[1].product_id
    recs.record_impressions(
        channel=shops.web.channel,
        shown={"home.popular": [first_product, second_product], "product.similar": [first_product]},
        now=DAY0,
    )
    recs.record_click(
        channel=shops.web.channel, placement_name="home.popular", product_id=first_product, customer=ada,
        now=DAY0,
    )  # fmt: skip
    first = shops.place(market=False, day=0, quantities=[2, 1], customer=ada)
    shops.place(market=True, day=1, quantities=[0, 0, 4], customer=bob)
    shops.place(market=False, day=2, quantities=[1], customer=bob)
    from omnishop.orders import services

    services.cancel_order(order=shops.place(market=False, day=2, quantities=[1]), actor="staff:1")
    receive_one_unit_back(first, reason="too small")
    Event.objects.create(
        channel=shops.web.channel, kind="search", query="unicorn socks", result_ids=[], occurred_at=DAY0
    )
    Event.objects.create(
        channel=shops.web.channel, kind="search", query="socks", result_ids=[1], occurred_at=DAY0
    )
    return shops


@pytest.fixture
def analyst(django_user_model):
    user = django_user_model.objects.create_user(username="ana", email="ana@example.com", password="x" * 12)
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return user


def test_the_kpis_compare_the_period_with_the_previous_one(history, staff_api):
    r = staff_api.get("/analytics/kpis", PERIOD)
    assert r.status_code == 200, r.content
    k = r.json()
    assert k["orders"] == {"value": 3, "previous": 1, "change_pct": 200.0}
    assert k["cancelled"]["value"] == 1
    assert k["new_customers"]["value"] == 1 and k["returning_customers"]["value"] == 2
    assert k["returns_rate_pct"]["value"] == pytest.approx(33.33)
    assert {m["currency"] for m in k["net_sales"]} == {"GBP", "EUR"}
    assert {row["channel"]: row["orders"] for row in k["channel_share"]} == {"web": 2, "marketplace": 1}
    web = queries.kpis(queries.period(start=DAY0.date(), end=DAY0.date() + timedelta(days=6), channel="web"))
    assert web.orders.value == 2 and [m.currency for m in web.net_sales] == ["GBP"]


def test_sales_per_week_add_up_to_the_days(history, staff_api):
    days = staff_api.get("/analytics/sales", {**PERIOD, "grain": "day"}).json()["rows"]
    weeks = staff_api.get("/analytics/sales", {**PERIOD, "grain": "week"}).json()["rows"]
    assert len(days) == 7 * 2  # every day, for each (channel, currency), zeros included
    assert sum(r["orders"] for r in days) == sum(r["orders"] for r in weeks) == 3
    assert {r["bucket"] for r in weeks} <= {"2026-08-31", "2026-09-07"}


def test_charts_answer_typed_rows(history, staff_api):
    assert staff_api.get("/analytics/returns", PERIOD).json()["rows"] == [{"reason": "too small", "units": 1}]
    searches = staff_api.get("/analytics/zero-result-searches", PERIOD).json()["rows"]
    assert searches == [{"query": "unicorn socks", "searches": 1}]
    statuses = {r["status"]: r["orders"] for r in staff_api.get("/analytics/statuses", PERIOD).json()["rows"]}
    assert statuses == {"paid": 2, "partially_returned": 1, "cancelled": 1}
    products = staff_api.get("/analytics/top-products", {**PERIOD, "by": "units"}).json()["rows"]
    assert (products[0]["units"], products[0]["currency"]) == (4, "EUR")
    assert [p["units"] for p in products] == [4, 3, 1]
    stock = staff_api.get("/analytics/stock", PERIOD).json()["rows"]
    assert stock == [{"location": "main-wh", "name": "Main warehouse", "stock_outs": 0, "low_stock": 0}]
    actions = {a["action"]: a["count"] for a in staff_api.get("/analytics/actions").json()["rows"]}
    assert actions["ready_to_fulfil"] == 3 and actions["exceptions_open"] == 0


def test_recommendation_performance_per_placement_with_attributed_revenue(history, staff_api):
    rows = staff_api.get("/analytics/recommendations", PERIOD).json()["rows"]
    line = Attribution.objects.get().revenue
    assert rows == [
        {
            "placement": "home.popular",
            "label": "Home: popular right now",
            "currency": "GBP",
            "impressions": 2,
            "clicks": 1,
            "ctr_pct": 50.0,
            "attributed_orders": 1,
            "attributed_units": 2,
            "attributed_revenue": str(quantize(line, "GBP")),
        },
        {
            "placement": "product.similar",
            "label": "Product page: you may also like",
            "currency": "GBP",
            "impressions": 1,
            "clicks": 0,
            "ctr_pct": 0.0,
            "attributed_orders": 0,
            "attributed_units": 0,
            "attributed_revenue": "0.00",
        },
    ]
    market = staff_api.get("/analytics/recommendations", {**PERIOD, "channel": "marketplace"}).json()
    assert market["rows"] == []
    before = {"start": "2026-08-01", "end": "2026-08-31"}
    assert staff_api.get("/analytics/recommendations", before).json()["rows"] == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_endpoints_are_refused_without_the_dashboard_permission(db, django_user_model, api, endpoint):
    assert api.get(f"/analytics/{endpoint}").status_code == 401
    clerk = django_user_model.objects.create_user(username="clerk", email="c@example.com", password="x" * 12)
    clerk.is_staff = True
    clerk.save()
    client = Client()
    client.force_login(clerk)
    r = ApiClient(client).get(f"/analytics/{endpoint}")
    assert r.status_code == 403 and r.json()["error"]["code"]


def test_a_staff_member_with_only_the_dashboard_permission_reads_it(analyst, history):
    client = Client()
    client.force_login(analyst)
    assert ApiClient(client).get("/analytics/kpis", PERIOD).status_code == 200
    assert client.get(reverse("backoffice:dashboard")).status_code == 200


def test_a_bad_period_is_a_validation_error_naming_the_field(staff_api):
    r = staff_api.get("/analytics/kpis", {"start": "2026-09-10", "end": "2026-09-01"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "start"
    assert staff_api.get("/analytics/kpis", {"channel": "nope"}).json()["error"]["field"] == "channel"
    assert staff_api.get("/analytics/sales", {"grain": "year"}).status_code == 422


@pytest.mark.parametrize("name", [name for name, _kind in CHARTS])
def test_each_charts_csv_holds_exactly_its_json_rows(history, staff_api, name):
    client = staff_api.client
    page = client.get(reverse("backoffice:dashboard"), PERIOD)
    chart = next(c for c in page.context["charts"] if c["name"] == name)
    as_json = client.get(chart["json"]).json()["rows"]
    response = client.get(chart["csv"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == chart["columns"]
    assert table[1:] == [[str(row[c]) for c in table[0]] for row in as_json]
    assert as_json  # the week has figures for every chart but stock (a row per location, zeros)


def test_the_dashboard_shows_cards_charts_with_tables_and_the_action_list(history, staff_api):
    r = staff_api.client.get(reverse("backoffice:dashboard"), PERIOD)
    html = r.content.decode()
    assert r.status_code == 200
    for text in ("Net sales", "Average order value", "Returns rate", "Share of orders by channel"):
        assert text in html
    assert html.count("<canvas") == len(CHARTS) - 0
    assert "<caption>Returns by reason</caption>" in html and "<td>too small</td>" in html
    assert "Orders ready to fulfil" in html and "chart-4.6.1.umd.min.js" in html
    assert "200.0 %" in html  # orders vs the previous week


def test_the_dashboard_needs_staff_with_the_permission(db, client, django_user_model):
    url = reverse("backoffice:dashboard")
    assert client.get(url).status_code == 302
    clerk = django_user_model.objects.create_user(username="clerk", email="c@example.com", password="x" * 12)
    clerk.is_staff = True
    clerk.save()
    client.force_login(clerk)
    assert client.get(url).status_code == 403
    assert client.get(reverse("backoffice:dashboard-csv", args=["sales"])).status_code == 403


def test_an_invalid_filter_shows_its_error_next_to_the_field_and_the_default_period(staff_api):
    r = staff_api.client.get(reverse("backoffice:dashboard"), {"start": "2026-09-10", "end": "2026-09-01"})
    assert r.status_code == 200
    assert r.context["form"].errors["start"]
    assert 'id="id_start_error"' in r.content.decode()
