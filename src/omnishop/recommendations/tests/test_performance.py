"""How recommendations perform: impressions counted per page in one statement, clicks counted once per
shopper, and an order line attributed to the recommendation its shopper clicked within the window — in the
order's own transaction."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from omnishop.recommendations import services
from omnishop.recommendations.models import Attribution, AttributionDay, Click, Event, ItemDay

from .test_order_purchases import Shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(web_channel):
    return Shop(web_channel)


@pytest.fixture
def ada(db):
    from omnishop.customers.models import Customer

    return Customer.objects.create(email="ada@example.com", first_name="Ada", last_name="Lovelace")


def counters(channel) -> dict[tuple[str, int], tuple[int, int]]:
    """Impressions and clicks per placement and product, over every day (a test run near midnight UTC
    counts a click 31 minutes later on the next day's row)."""
    totals: dict[tuple[str, int], tuple[int, int]] = {}
    for r in ItemDay.objects.filter(channel=channel):
        seen, clicked = totals.get((r.placement, r.product_id), (0, 0))
        totals[(r.placement, r.product_id)] = (seen + r.impressions, clicked + r.clicks)
    return totals


def test_a_page_of_recommendations_is_counted_in_one_statement(web_channel, django_assert_max_num_queries):
    services.record_impressions(channel=web_channel, shown={"home.popular": [1, 2]})  # warms the version
    with django_assert_max_num_queries(1):
        counted = services.record_impressions(
            channel=web_channel, shown={"product.similar": [1, 2, 3], "product.together": [3]}
        )
    assert counted == 4
    assert counters(web_channel) == {
        ("home.popular", 1): (1, 0),
        ("home.popular", 2): (1, 0),
        ("product.similar", 1): (1, 0),
        ("product.similar", 2): (1, 0),
        ("product.similar", 3): (1, 0),
        ("product.together", 3): (1, 0),
    }
    services.record_impressions(channel=web_channel, shown={"home.popular": [2]})
    assert counters(web_channel)[("home.popular", 2)] == (2, 0)


def test_names_that_are_no_placement_are_not_counted(web_channel):
    shown = {"home.popular'; DROP TABLE x": [1], "": [2], "home.popular" * 10: [3]}
    assert services.record_impressions(channel=web_channel, shown=shown) == 0
    assert not ItemDay.objects.exists()
    assert (
        services.record_click(channel=web_channel, placement_name="<script>", product_id=1, anonymous_id="v")
        is None
    )
    assert not Click.objects.exists()


def test_a_click_counts_once_per_shopper_until_the_repeat_window_has_passed(web_channel, ada):
    now = timezone.now()
    first = services.record_click(
        channel=web_channel, placement_name="product.similar", product_id=7, customer=ada, now=now
    )
    assert first is not None and first.customer_id == ada.pk
    again = services.record_click(
        channel=web_channel,
        placement_name="product.similar",
        product_id=7,
        customer=ada,
        now=now + timedelta(minutes=5),
    )
    assert again is None
    other = services.record_click(
        channel=web_channel, placement_name="product.similar", product_id=7, anonymous_id="visitor-2", now=now
    )
    assert other is not None
    later = services.record_click(
        channel=web_channel,
        placement_name="product.similar",
        product_id=7,
        customer=ada,
        now=now + timedelta(minutes=31),
    )
    assert later is not None
    assert counters(web_channel) == {("product.similar", 7): (0, 3)}
    assert services.record_click(channel=web_channel, placement_name="home.popular", product_id=7) is None


def test_an_order_line_clicked_in_a_recommendation_is_attributed_to_its_last_placement(shop, ada):
    bought, other = shop.variant(), shop.variant()
    services.record_click(
        channel=shop.channel, placement_name="home.for_you", product_id=bought.product_id, customer=ada,
        now=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    services.record_click(
        channel=shop.channel, placement_name="product.similar", product_id=bought.product_id, customer=ada,
        now=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    order = shop.checkout({bought: 2, other: 1}, customer=ada)
    (attribution,) = Attribution.objects.all()
    line = order.lines.get(variant=bought)
    assert (attribution.order_line_id, attribution.placement, attribution.quantity) == (
        line.pk,
        "product.similar",
        2,
    )
    assert attribution.revenue == line.line_total and attribution.currency == order.currency
    day = AttributionDay.objects.get()
    assert (day.placement, day.currency, day.orders, day.units) == ("product.similar", "GBP", 1, 2)
    assert Decimal(day.revenue) == line.line_total


def test_a_click_older_than_the_window_or_by_someone_else_is_not_attributed(shop, ada, settings):
    settings.OMNISHOP_RECS_ATTRIBUTION_DAYS = 7
    variant = shop.variant()
    services.record_click(
        channel=shop.channel, placement_name="home.for_you", product_id=variant.product_id, customer=ada,
        now=timezone.now() - timedelta(days=8),
    )  # fmt: skip
    services.record_click(
        channel=shop.channel, placement_name="home.popular", product_id=variant.product_id, anonymous_id="other",
    )  # fmt: skip
    shop.checkout({variant: 1}, customer=ada)
    assert not Attribution.objects.exists() and not AttributionDay.objects.exists()


def test_a_guests_order_is_attributed_by_the_browser_session_it_was_placed_in(shop):
    variant = shop.variant()
    services.record_click(
        channel=shop.channel,
        placement_name="cart.complements",
        product_id=variant.product_id,
        anonymous_id="v-1",
    )
    with services.shopping_as("v-1"):
        shop.checkout({variant: 1}, key="guest-1")
    assert list(Attribution.objects.values_list("placement", flat=True)) == ["cart.complements"]
    with services.shopping_as("v-2"):
        shop.checkout({variant: 1}, key="guest-2")
    assert Attribution.objects.count() == 1


def test_the_attribution_is_part_of_the_orders_transaction(shop, ada):
    variant = shop.variant()
    services.record_click(
        channel=shop.channel, placement_name="home.for_you", product_id=variant.product_id, customer=ada
    )

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        shop.checkout({variant: 1}, customer=ada)
        assert Attribution.objects.count() == 1
        raise Abort
    assert not Attribution.objects.exists() and not AttributionDay.objects.exists()


def test_an_app_reports_impressions_and_clicks_through_the_events_api(
    api, web_channel, make_key, make_product, make_customer
):
    mug, cup = make_product("Mug", channels=[web_channel]), make_product("Cup", channels=[web_channel])
    ada = make_customer(web_channel, "ada@example.com")
    key = make_key(web_channel, ["events:write"])
    response = api.with_key(key).post(
        "/events",
        {
            "events": [
                {
                    "kind": "impression",
                    "placement": "product.similar",
                    "result_ids": [mug.pk, cup.pk, 999_999],
                },
                {
                    "kind": "click",
                    "placement": "product.similar",
                    "product_id": cup.pk,
                    "customer_id": ada.pk,
                },
                {"kind": "click", "placement": "app.banner", "product_id": cup.pk, "anonymous_id": "d1"},
                {"kind": "impression", "placement": "product.similar"},
                {"kind": "click", "placement": "product.similar", "product_id": cup.pk},
            ]
        },
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (2, "unknown_placement"),
        (3, "product_required"),
        (4, "identity_required"),
    ]
    assert counters(web_channel) == {("product.similar", mug.pk): (1, 0), ("product.similar", cup.pk): (1, 1)}
    (click,) = Click.objects.all()
    assert (click.customer_id, click.product_id) == (ada.pk, cup.pk)
    assert not Event.objects.exists()  # impressions and clicks are no training signal


def test_an_apps_visitor_who_signs_in_gets_their_anonymous_clicks_attributed(shop, ada):
    variant = shop.variant()
    services.record_click(
        channel=shop.channel,
        placement_name="home.popular",
        product_id=variant.product_id,
        anonymous_id="device-9",
    )
    assert services.link_anonymous(anonymous_id="device-9", customer=ada) == 0  # no behaviour events
    shop.checkout({variant: 1}, customer=ada)
    assert list(Attribution.objects.values_list("placement", flat=True)) == ["home.popular"]


@pytest.mark.django_db(transaction=True)
def test_pages_counting_the_same_products_in_any_order_at_once_lose_nothing(web_channel):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    products = list(range(1, 9))

    def page(n: int) -> None:
        try:
            shown = products if n % 2 else products[::-1]
            for _ in range(20):
                with transaction.atomic():  # a page inside a longer transaction holds its rows until commit
                    services.record_impressions(channel=web_channel, shown={"home.popular": shown})
                    services.record_impressions(channel=web_channel, shown={"product.similar": shown[:3]})
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(page, range(6)))
    assert counters(web_channel)[("home.popular", 1)] == (120, 0)
    assert sum(i for i, _ in counters(web_channel).values()) == 6 * 20 * (8 + 3)
