"""How the dashboard reads: a period as a few calendar blocks of the product rollup (whole months, whole
weeks, single days) that add up to exactly its days, top products and categories equal to the order lines of
any period, and each card or chart in a fixed, small number of statements whatever the history."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnishop.backoffice.analytics import queries
from omnishop.catalog.models import Category
from omnishop.inventory import services as inventory
from omnishop.orders import services
from omnishop.orders.models import Order, OrderLine

from .test_analytics_rollups import DAY0, Shops

BLOCK_DAYS = {"day": lambda d: 1, "week": lambda d: 7, "month": lambda d: (queries._next_month(d) - d).days}


def days_of(blocks: list[tuple[str, date]]) -> list[date]:
    return [first + timedelta(days=i) for grain, first in blocks for i in range(BLOCK_DAYS[grain](first))]


@given(start=st.dates(date(2024, 1, 1), date(2027, 12, 31)), length=st.integers(1, queries.MAX_DAYS))
def test_the_calendar_blocks_of_a_period_hold_each_of_its_days_exactly_once(start, length):
    end = start + timedelta(days=length - 1)
    blocks = queries.calendar_blocks(start, end)
    days = days_of(blocks)
    assert sorted(days) == [start + timedelta(days=i) for i in range(length)]  # all, once, nothing else
    grains = defaultdict(list)
    for grain, first in blocks:
        grains[grain].append(first)
    assert all(d.weekday() == 0 for d in grains["week"])
    assert all(d.day == 1 for d in grains["month"])
    assert len(grains["day"]) <= 24 and len(grains["week"]) <= 8  # at most 6 + 6 days, 4 weeks per edge


def test_a_90_day_period_is_two_months_three_weeks_and_eight_days():
    blocks = queries.calendar_blocks(date(2026, 9, 4), date(2026, 12, 2))  # Friday 4 Sep – Wednesday 2 Dec
    assert sorted(blocks) == sorted(
        [("month", date(2026, 10, 1)), ("month", date(2026, 11, 1))]
        + [("week", date(2026, 9, d)) for d in (7, 14, 21)]
        + [("day", date(2026, 9, d)) for d in (4, 5, 6, 28, 29, 30)]
        + [("day", date(2026, 12, d)) for d in (1, 2)]
    )


@pytest.fixture
def shops(db, web_channel, market_channel, make_key):
    return Shops(web_channel, market_channel, make_key)


@pytest.fixture
def months_of_orders(shops):
    """Orders from 27 August to 20 October on both channels (one cancelled, one partly cancelled), the first
    variant's product in a category."""
    shoes = Category.objects.create(name="Shoes", slug="shoes", path="shoes")
    shops.variants[0].product.category = shoes
    shops.variants[0].product.save()
    for day, market, quantities in [
        (-5, False, [1, 2]), (0, True, [0, 1, 3]), (6, False, [2]), (13, False, [0, 0, 5]),
        (29, True, [1, 1, 1]), (30, False, [3, 0, 1]), (36, False, [0, 2]), (49, True, [4]),
    ]:  # fmt: skip
        shops.place(market=market, day=day, quantities=quantities)
    services.cancel_order(order=shops.place(market=False, day=30, quantities=[9]), actor="staff:1")
    partly = shops.place(market=False, day=6, quantities=[3])
    services.cancel_order(order=partly, quantities={partly.lines.get().pk: 1}, actor="staff:1")
    return shops


def direct_products(start: date, end: date, channel=None) -> dict:
    """(product id, currency) -> (units, revenue) from the order lines of the orders placed in the days."""
    totals: dict = defaultdict(lambda: [0, Decimal(0)])
    lines = OrderLine.objects.select_related("order", "variant").exclude(
        order__status__in=[Order.Status.CANCELLED, Order.Status.MERGED]
    )
    for line in lines:
        day = line.order.created_at.date()
        if start <= day <= end and (channel is None or line.order.channel_id == channel.pk):
            row = totals[(line.variant.product_id, line.order.currency)]
            row[0] += line.quantity - line.cancelled
            row[1] += line.line_total
    return {k: tuple(v) for k, v in totals.items() if v[0] or v[1]}


@pytest.mark.parametrize(
    ("first", "last"),
    [(-5, 49), (0, 29), (1, 35), (6, 12), (-10, 60), (13, 13)],
    ids=["all", "september", "across-months", "one-week", "wider", "one-day"],
)
def test_top_products_and_categories_of_any_period_equal_the_order_lines(months_of_orders, first, last):
    start, end = DAY0.date() + timedelta(days=first), DAY0.date() + timedelta(days=last)
    for channel in (None, months_of_orders.web.channel):
        p = queries.Period(start, end, channel)
        expected = direct_products(start, end, channel)
        rows = queries.top_products(p, limit=100).rows
        assert {(r.product_id, r.currency): (r.units, Decimal(r.revenue)) for r in rows} == expected
        categories: dict = defaultdict(lambda: [0, Decimal(0)])
        for (product_id, currency), (units, revenue) in expected.items():
            name = "Shoes" if product_id == months_of_orders.variants[0].product_id else "Uncategorised"
            categories[(name, currency)][0] += units
            categories[(name, currency)][1] += revenue
        rows = queries.top_categories(p, by="units", limit=100).rows
        assert {(r.category, r.currency): (r.units, Decimal(r.revenue)) for r in rows} == {
            k: tuple(v) for k, v in categories.items()
        }


@pytest.fixture
def two_locations(months_of_orders):
    inventory.create_location(code="shop-1", name="Shop")
    return months_of_orders


@pytest.mark.parametrize(
    ("name", "read", "statements"),
    [
        ("kpis", lambda p: queries.kpis(p), 1),
        ("sales", lambda p: queries.sales(p), 1),
        ("top products", lambda p: queries.top_products(p), 1),
        ("top categories", lambda p: queries.top_categories(p), 1),
        ("stock", lambda p: queries.stock(p), 1),
        ("returns", lambda p: queries.returns_by_reason(p), 1),
        ("statuses", lambda p: queries.orders_by_status(p), 1),
        ("searches", lambda p: queries.zero_result_searches(p), 1),
        ("actions", lambda p: queries.actions(), 6),
    ],
)
def test_each_card_and_chart_reads_in_a_fixed_number_of_statements(
    two_locations, django_assert_num_queries, name, read, statements
):
    p = queries.Period(DAY0.date() - timedelta(days=5), DAY0.date() + timedelta(days=84))
    with django_assert_num_queries(statements):
        read(p)


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_the_sales_rows_are_valid_rows_of_their_schema(months_of_orders, grain):
    """`sales` builds its rows without validating each (speed): they must be exactly what validation gives."""
    p = queries.Period(DAY0.date() - timedelta(days=10), DAY0.date() + timedelta(days=60), grain=grain)
    rows = queries.sales(p).rows
    assert len(rows) > 2
    for row in rows:
        data = row.model_dump()
        assert type(row).model_validate(data).model_dump() == data
        assert all(type(v) is type(getattr(type(row).model_validate(data), k)) for k, v in data.items())
