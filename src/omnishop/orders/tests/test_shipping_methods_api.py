"""GET /api/v1/channels/{code}/shipping-methods: what a shop page shows before checkout, without a key."""

from __future__ import annotations

import pytest

from omnishop.channels.models import Channel
from omnishop.inventory import services as inventory
from omnishop.orders import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def methods(shop):
    store = inventory.create_location(
        code="store-paris", name="Paris store", kind="retail_store", serves_pickup=True, country="FR"
    )
    services.create_shipping_method(
        channel=shop.channel, code="express", name="Express", kind="flat", price="7.5", countries=["GB"]
    )
    services.create_shipping_method(
        channel=shop.channel,
        code="parcel",
        name="Parcel by weight",
        kind="weight",
        bands=[{"up_to_grams": 2000, "price": "5"}, {"up_to_grams": 500, "price": "3.2"}],
        countries=["FR", "DE"],
    )
    services.create_shipping_method(
        channel=shop.channel, code="saver", name="Saver", kind="free_over", price="2.95", free_over="40"
    )
    services.create_shipping_method(
        channel=shop.channel,
        code="collect",
        name="Collect in Paris",
        kind="pickup",
        pickup_location=store.code,
        countries=["FR"],
    )
    return shop


def _codes(answer) -> list[str]:
    return [m["code"] for m in answer.json()["methods"]]


def test_a_shopper_sees_the_channels_methods_cheapest_first_without_a_key(api, methods):
    answer = api.get("/channels/web/shipping-methods")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["channel"], body["currency"]) == ("web", "GBP")
    # by price, then code: a weight-band method's own price is 0 (its bands price the parcel)
    assert _codes(answer) == ["collect", "parcel", "saver", "standard", "express"]
    by_code = {m["code"]: m for m in body["methods"]}
    assert by_code["saver"] == {
        "code": "saver",
        "name": "Saver",
        "kind": "free_over",
        "price": "2.95",
        "free_over": "40.00",
        "bands": [],
        "countries": [],
        "pickup_location": None,
    }
    assert by_code["parcel"]["bands"] == [
        {"up_to_grams": 2000, "price": "5.00"},
        {"up_to_grams": 500, "price": "3.20"},
    ]
    assert by_code["collect"]["pickup_location"] == "store-paris"
    assert by_code["standard"]["price"] == "4.95"


@pytest.mark.parametrize(
    ("country", "codes"),
    [
        ("GB", ["saver", "standard", "express"]),
        ("gb", ["saver", "standard", "express"]),
        # the Paris pick-up and the parcel service are offered to French addresses only
        ("FR", ["collect", "parcel", "saver", "standard"]),
        ("US", ["saver", "standard"]),
    ],
)
def test_the_country_keeps_the_methods_that_deliver_there(api, methods, country, codes):
    assert _codes(api.get("/channels/web/shipping-methods", {"country": country})) == codes


def test_every_method_listed_for_a_country_is_accepted_at_checkout(api, methods):
    variant = methods.variant(price="12.00", weight=300)
    for code in _codes(api.get("/channels/web/shipping-methods", {"country": "GB"})):
        order = methods.checkout({variant: 1}, key=f"listed-{code}", method=code)
        assert order.shipping_method.code == code


def test_inactive_methods_are_not_offered(api, methods):
    methods.standard.is_active = False
    methods.standard.save()
    assert "standard" not in _codes(api.get("/channels/web/shipping-methods"))


def test_an_unknown_channel_is_channel_not_found(api, methods):
    answer = api.get("/channels/nowhere/shipping-methods")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "channel_not_found"


def test_a_channel_code_with_a_nul_character_is_not_found(api, methods):
    assert api.get("/channels/bad\x00code/shipping-methods").status_code == 404


def test_an_inactive_channel_is_not_found(api, methods):
    Channel.objects.filter(code="web").update(is_active=False)
    answer = api.get("/channels/web/shipping-methods")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "channel_not_found"


@pytest.mark.parametrize("country", ["XX", "GBR", "G"])
def test_a_country_that_is_not_iso_3166_is_refused(api, methods, country):
    answer = api.get("/channels/web/shipping-methods", {"country": country})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] in ("country", "query.country")
