"""Training a version from the shop's events and serving it per channel, over the API."""

from __future__ import annotations

import pytest

from omnishop.recommendations import services
from omnishop.recommendations.models import CandidateList, ModelVersion

from .conftest import ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(web_channel, market_channel, make_product, make_customer):
    """Tea drinkers buy biscuits with their tea; coffee drinkers buy milk. Cups are not on the web shop."""
    both = [web_channel, market_channel]
    p = {
        "tea": make_product("English breakfast tea", channels=both, description="black tea bags"),
        "biscuits": make_product("Chocolate digestives", channels=both, description="biscuits"),
        "coffee": make_product("Ground coffee", channels=both, description="arabica coffee beans"),
        "milk": make_product("Semi skimmed milk", channels=both, description="fresh milk"),
        "cups": make_product("Porcelain tea cups", channels=[market_channel], description="tea cups"),
        "kettle": make_product("Kettle", channels=[web_channel], published=False, description="tea kettle"),
    }
    customers = {f"c{i}": make_customer(web_channel, f"c{i}@example.com") for i in range(1, 9)}
    baskets = {
        "c1": ["tea", "biscuits", "cups"],
        "c2": ["tea", "biscuits", "kettle"],
        "c3": ["tea", "biscuits"],
        "c4": ["coffee", "milk"],
        "c5": ["coffee", "milk"],
        "c6": ["coffee", "milk"],
        "c7": ["tea"],
        "c8": ["coffee"],
    }
    events = [
        {
            "kind": "purchase",
            "product_id": p[item].pk,
            "customer_id": customers[c].pk,
            "occurred_at": ago(days=20),
        }
        for c, items in baskets.items()
        for item in items
    ]
    result = services.record_events(channel=web_channel, events=events)
    assert not result.rejected
    return p, customers


def names(items, products):
    by_id = {v.pk: k for k, v in products.items()}
    return [by_id[i.product_id] for i in items]


def test_a_trained_version_recommends_what_similar_customers_bought(shop, web_channel):
    products, customers = shop
    version = services.train()
    assert version.status == ModelVersion.Status.ACTIVE
    picks = names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)
    assert picks[0] == "biscuits"
    assert "cups" not in picks and "kettle" not in picks  # not sellable on the web shop


def test_what_a_customer_just_bought_is_left_out_unless_asked(shop, web_channel):
    products, customers = shop
    services.train()
    services.record_events(
        channel=web_channel,
        events=[
            {"kind": "purchase", "product_id": products["biscuits"].pk, "customer_id": customers["c7"].pk}
        ],
    )
    picks = names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)
    assert "biscuits" not in picks
    again = services.for_customer(channel=web_channel, customer=customers["c7"], exclude_purchased_days=0)
    assert "biscuits" in names(again, products)


def test_bought_together_cart_and_session_recommendations(shop, web_channel, market_channel):
    products, _ = shop
    services.train()
    together = services.bought_together(channel=web_channel, product_id=products["coffee"].pk)
    assert names(together, products)[0] == "milk"
    cart = services.for_cart(channel=web_channel, product_ids=[products["tea"].pk])
    assert names(cart, products)[0] == "biscuits" and "tea" not in names(cart, products)
    # the marketplace sells cups, so there they may appear with tea
    market = services.for_cart(channel=market_channel, product_ids=[products["tea"].pk], limit=5)
    assert "cups" in names(market, products)
    services.record_events(
        channel=web_channel,
        events=[{"kind": "view", "product_id": products["coffee"].pk, "anonymous_id": "s1"}],
    )
    viewed = services.for_session(channel=web_channel, anonymous_id="s1")
    assert names(viewed, products)[0] == "milk"


def test_a_customer_with_no_history_gets_what_is_popular(shop, web_channel, make_customer):
    products, _ = shop
    services.train()
    newcomer = make_customer(web_channel, "new@example.com")
    picks = services.for_customer(channel=web_channel, customer=newcomer)
    assert picks and {p.reason for p in picks} == {"popular"}
    assert names(picks, products)[0] in {"tea", "coffee"}


def test_similar_products_use_descriptions_for_products_nobody_bought(shop, market_channel):
    products, _ = shop
    services.train()
    similar = names(
        services.similar_products(channel=market_channel, product_id=products["cups"].pk), products
    )
    assert "tea" in similar


def test_a_product_that_is_out_of_stock_on_a_stock_tracking_channel_is_not_recommended(shop, web_channel):
    from omnishop.inventory import services as inventory

    products, customers = shop
    services.train()
    warehouse = inventory.create_location(code="wh", name="Warehouse")
    inventory.set_channel_locations(channel=web_channel, location_codes=["wh"])
    for name in ("tea", "coffee", "milk"):
        inventory.receive_stock(variant=products[name].variants.first(), location=warehouse, quantity=5)
    picks = names(services.for_customer(channel=web_channel, customer=customers["c7"]), products)
    assert "biscuits" not in picks and picks  # no stock, while the stocked ones still come


def test_retraining_keeps_the_previous_version_until_the_new_one_is_active(shop):
    first = services.train()
    second = services.train()
    first.refresh_from_db()
    assert (first.status, second.status) == (ModelVersion.Status.RETIRED, ModelVersion.Status.ACTIVE)
    assert CandidateList.objects.filter(version=first).exists()  # kept as a fallback generation
    for _ in range(3):
        services.train()
    assert not CandidateList.objects.filter(version=first).exists()  # older generations are dropped


def test_recommendations_over_the_api_for_each_kind_of_caller(
    api, shop, web_channel, market_channel, make_key, staff_api
):
    products, customers = shop
    services.train()
    web = api.with_key(make_key(web_channel, ["catalog:read"]))
    ok = web.get(f"/recommendations/customers/{customers['c7'].pk}", {"limit": 3})
    assert ok.status_code == 200, ok.content
    body = ok.json()
    assert body["version"] == 1 and body["items"][0]["product_id"] == products["biscuits"].pk
    # the marketplace never met c7: to its key the customer does not exist
    market = api.with_key(make_key(market_channel, ["catalog:read"]))
    assert market.get(f"/recommendations/customers/{customers['c7'].pk}").status_code == 404
    assert api.get(f"/recommendations/customers/{customers['c7'].pk}").status_code == 401
    no_scope = api.with_key(make_key(web_channel, ["events:write"]))
    assert no_scope.get(f"/recommendations/customers/{customers['c7'].pk}").status_code == 403
    staff_view = staff_api.get(f"/recommendations/customers/{customers['c7'].pk}", {"channel": "web"})
    assert staff_view.status_code == 200
    assert staff_api.get(f"/recommendations/customers/{customers['c7'].pk}").status_code == 422
    tea = products["tea"].pk
    assert web.get(f"/recommendations/products/{tea}/similar").status_code == 200
    assert web.get(f"/recommendations/products/{tea}/bought-together").json()["items"][0]["product_id"] == (
        products["biscuits"].pk
    )
    assert web.get("/recommendations/cart", {"product_id": [tea]}).status_code == 200
    assert web.get("/recommendations/sessions/nobody").status_code == 200
    versions = staff_api.get("/recommendations/versions")
    assert versions.status_code == 200 and versions.json()["items"][0]["status"] == "active"
    assert web.get("/recommendations/versions").status_code in (401, 403)


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/recommendations/products/999999/similar", {}, 404, "product_not_found"),
        ("/recommendations/products/abc/similar", {}, 422, "validation_error"),
        ("/recommendations/products/1/bought-together", {"limit": 0}, 422, "validation_error"),
        ("/recommendations/products/1/similar", {"limit": 10_000}, 422, "validation_error"),
        ("/recommendations/cart", {}, 422, "required"),
        ("/recommendations/cart", {"product_id": "x"}, 422, "validation_error"),
        ("/recommendations/customers/1", {"exclude_purchased_days": -1}, 404, "customer_not_found"),
        ("/recommendations/sessions/" + "x" * 100, {}, 422, "validation_error"),
    ],
)
def test_bad_recommendation_requests_are_4xx_with_codes(
    api, web_channel, make_key, path, params, status, code
):
    response = api.with_key(make_key(web_channel, ["catalog:read"])).get(path, params)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_before_any_training_recommendations_are_empty_not_errors(api, web_channel, make_key, make_product):
    mug = make_product("Mug", channels=[web_channel])
    web = api.with_key(make_key(web_channel, ["catalog:read"]))
    response = web.get(f"/recommendations/products/{mug.pk}/similar")
    assert response.status_code == 200 and response.json() == {"version": None, "items": []}


def test_a_signed_in_shopper_sees_their_own_recommendations(
    api, shop, web_channel, make_product, shopper_session
):
    products, _ = shop
    token, customer = shopper_session("tea.lover@example.com")
    services.record_events(
        channel=web_channel,
        events=[{"kind": "purchase", "product_id": products["tea"].pk, "occurred_at": ago(days=40)}],
        customer=customer,
    )
    services.train()
    me = api.with_session(token).get("/recommendations/me", {"channel": "web"})
    assert me.status_code == 200, me.content
    assert me.json()["items"][0]["product_id"] == products["biscuits"].pk
    assert api.get("/recommendations/me", {"channel": "web"}).status_code == 401


def test_staff_can_queue_a_retraining_run_once_per_idempotency_key(staff_api, shop):
    first = staff_api.post("/recommendations/versions", headers={"Idempotency-Key": "retrain-1"})
    again = staff_api.post("/recommendations/versions", headers={"Idempotency-Key": "retrain-1"})
    assert first.status_code == again.status_code == 202
    assert ModelVersion.objects.count() == 1  # eager without Redis: trained in the request, once
    assert ModelVersion.objects.get().status == ModelVersion.Status.ACTIVE


def test_training_with_no_products_is_a_409_not_a_crash(staff_api, db):
    response = staff_api.post("/recommendations/versions")
    assert response.status_code == 409 and response.json()["error"]["code"] == "nothing_to_train"
    assert ModelVersion.objects.get().status == ModelVersion.Status.FAILED


def test_newcomers_get_what_is_popular_on_their_own_channel(shop, web_channel, market_channel, make_customer):
    products, _ = shop
    marketplace_buyers = [make_customer(market_channel, f"m{i}@example.com") for i in range(6)]
    services.record_events(
        channel=market_channel,
        events=[
            {
                "kind": "purchase",
                "product_id": products["milk"].pk,
                "customer_id": c.pk,
                "occurred_at": ago(days=2),
            }
            for c in marketplace_buyers
        ],
    )
    services.train()
    on_market = services.for_customer(
        channel=market_channel, customer=make_customer(market_channel, "n@x.com")
    )
    on_web = services.for_customer(channel=web_channel, customer=make_customer(web_channel, "w@x.com"))
    assert names(on_market, products)[0] == "milk"
    assert names(on_web, products)[0] in {"tea", "coffee"}
