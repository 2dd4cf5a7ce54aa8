"""Whatever shoppers see, click and buy — recommendations shown on two channels over several days, clicks by
customers and by anonymous browser sessions (some repeated), orders placed by them, by guests and in other
sessions, inside and outside the attribution window — the dashboard's Recommendation performance equals the
figures computed directly from the raw records: the impressions shown, the `Click` rows, and the
`Attribution` rows, which themselves equal the last-click rule applied to the clicks and the order lines."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnishop.backoffice.analytics import queries
from omnishop.channels.models import Channel
from omnishop.core.money import quantize
from omnishop.orders.models import Order, OrderLine
from omnishop.recommendations import services as recs
from omnishop.recommendations.models import Attribution, Click

from . import test_analytics_rollups as support
from .test_analytics_rollups import DAY0, Shops

pytestmark = pytest.mark.django_db
PLACES = list(recs.PLACEMENTS)
SHOPPERS = [0, 1, "v-a", "v-b"]  # customers by index, browser sessions by visitor id

show = st.tuples(
    st.just("show"),
    st.booleans(),  # marketplace channel?
    st.integers(0, 3),  # days the clock moves on first
    st.sampled_from(PLACES),
    st.lists(st.integers(0, 2), min_size=1, max_size=4),  # products shown, in page order
)
click = st.tuples(
    st.just("click"),
    st.booleans(),
    st.integers(0, 3),
    st.sampled_from(PLACES),
    st.integers(0, 2),  # product
    st.sampled_from(SHOPPERS),
)
order = st.tuples(
    st.just("order"),
    st.booleans(),
    st.integers(0, 5),
    st.lists(st.integers(0, 2), min_size=3, max_size=3).filter(any),
    st.sampled_from([*SHOPPERS, None]),  # None: a guest with no session of ours
)


@pytest.fixture
def shops(web_channel, market_channel, make_key):
    return Shops(web_channel, market_channel, make_key)


def _at(clock: list[int]):
    return DAY0 + timedelta(days=clock[0], minutes=next(support._keys) % 600)


def run(shops: Shops, op, clock: list[int], shown: dict, orders: dict) -> None:
    kind, market, days_later, *rest = op
    clock[0] += days_later
    channel = shops.market.channel if market else shops.web.channel
    products = [v.product_id for v in shops.variants]
    if kind == "show":
        placement, which = rest
        now = _at(clock)
        recs.record_impressions(channel=channel, shown={placement: [products[i] for i in which]}, now=now)
        shown[(now.date(), channel.pk, placement)] += len(which)
    elif kind == "click":
        placement, which, who = rest
        customer = shops.customers[who] if isinstance(who, int) else None
        recs.record_click(
            channel=channel,
            placement_name=placement,
            product_id=products[which],
            customer=customer,
            anonymous_id=who if isinstance(who, str) else "",
            now=_at(clock),
        )
    else:
        quantities, who = rest
        customer = shops.customers[who] if isinstance(who, int) else None
        visitor = who if isinstance(who, str) else ""
        with recs.shopping_as(visitor):
            placed = shops.place(market=market, day=clock[0], quantities=quantities, customer=customer)
        orders[placed.pk] = visitor


def expected_attributions(orders: dict[int, str]) -> dict[int, tuple[str, int]]:
    """order line id -> (placement, click id): the last click on the line's product by the order's customer
    or browser session within the window before the order — from the raw clicks and order lines."""
    window = timedelta(days=recs.attribution_days())
    clicks = list(Click.objects.order_by("occurred_at", "pk"))
    out = {}
    for placed in Order.objects.filter(pk__in=orders):
        visitor = orders[placed.pk]
        for line in OrderLine.objects.filter(order=placed).select_related("variant"):
            last = None
            for c in clicks:
                mine = (placed.customer_id is not None and c.customer_id == placed.customer_id) or (
                    visitor and c.anonymous_id == visitor
                )
                when = placed.created_at - window <= c.occurred_at <= placed.created_at
                if mine and when and c.product_id == line.variant.product_id:
                    last = c
            if last is not None:
                out[line.pk] = (last.placement, last.pk)
    return out


def direct_figures(p: queries.Period, shown: dict) -> dict:
    """(placement, currency) -> (impressions, clicks, orders, units, revenue) from the raw records."""
    currency = dict(Channel.objects.values_list("pk", "currency"))
    figures: dict = defaultdict(lambda: [0, 0, set(), 0, Decimal(0)])

    def inside(day, channel_id) -> bool:
        return p.start <= day <= p.end and (p.channel is None or p.channel.pk == channel_id)

    for (day, channel_id, placement), n in shown.items():
        if inside(day, channel_id):
            figures[(placement, currency[channel_id])][0] += n
    for c in Click.objects.all():
        if inside(c.occurred_at.date(), c.channel_id):
            figures[(c.placement, currency[c.channel_id])][1] += 1
    for a in Attribution.objects.all():
        if inside(a.day, a.channel_id):
            row = figures[(a.placement, a.currency)]
            row[2].add(a.order_id)
            row[3] += a.quantity
            row[4] += a.revenue
    return {
        key: (shown_, clicks, len(ids), units, str(quantize(revenue, key[1])))
        for key, (shown_, clicks, ids, units, revenue) in figures.items()
        if shown_ or clicks or ids
    }


def dashboard_figures(p: queries.Period) -> dict:
    return {
        (r.placement, r.currency): (
            r.impressions, r.clicks, r.attributed_orders, r.attributed_units, r.attributed_revenue,
        )
        for r in queries.recommendation_performance(p).rows
    }  # fmt: skip


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.one_of(show, click, order), min_size=1, max_size=16))
def test_recommendation_performance_equals_the_raw_impressions_clicks_and_attributions(shops, ops):
    with transaction.atomic():
        clock = [0]
        shown: dict = defaultdict(int)
        orders: dict[int, str] = {}
        for op in ops:
            run(shops, op, clock, shown, orders)
        attributed = {a.order_line_id: (a.placement, a.click_id) for a in Attribution.objects.all()}
        assert attributed == expected_attributions(orders)
        end = (DAY0 + timedelta(days=clock[0] + 1)).date()
        for start, channel in (
            (DAY0.date(), None),
            (DAY0.date(), "web"),
            (DAY0.date(), "marketplace"),
            (DAY0.date() + timedelta(days=2), None),
        ):
            p = queries.period(start=start, end=max(end, start), channel=channel)
            assert dashboard_figures(p) == direct_figures(p, shown)
        transaction.set_rollback(True)
