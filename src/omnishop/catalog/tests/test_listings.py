"""Channel listings: each channel's price and visibility per variant, in the channel's own currency, and
only ever readable or changeable by that channel (or staff)."""

from decimal import Decimal

import pytest

from omnishop.catalog import services
from omnishop.catalog.models import ChannelListing
from omnishop.core.money import InvalidAmount

pytestmark = pytest.mark.django_db


def error(response):
    return response.json()["error"]


@pytest.fixture
def variant(hoodie):
    return hoodie.variants.get(sku="HOOD-M")


def test_a_channel_lists_a_variant_at_its_own_currency(staff_api, web_channel, variant):
    response = staff_api.put(
        f"/catalog/channels/web/listings/{variant.pk}",
        {"price": "49.90", "compare_at_price": "59.90", "is_published": True, "title": "Hoodie (web)"},
    )
    assert response.status_code == 200, response.content
    assert response.json() | {"published_at": None, "updated_at": None} == {
        "channel": "web",
        "variant_id": variant.pk,
        "sku": "HOOD-M",
        "is_published": True,
        "price": "49.90",
        "compare_at_price": "59.90",
        "currency": "GBP",
        "title": "Hoodie (web)",
        "published_at": None,
        "updated_at": None,
    }
    assert response.json()["published_at"].endswith("Z")


def test_a_listing_in_another_currency_than_the_channel_is_refused(staff_api, market_channel, variant):
    response = staff_api.put(
        f"/catalog/channels/marketplace/listings/{variant.pk}", {"price": "10.00", "currency": "GBP"}
    )
    assert response.status_code == 422
    assert error(response) == {
        "code": "currency_mismatch",
        "message": "Channel 'marketplace' sells in EUR; this listing is in GBP.",
        "field": "currency",
        "details": {"expected": "EUR", "got": "GBP"},
    }
    assert not ChannelListing.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"price": "-1.00"}, "invalid_amount", "price"),
        ({"price": "10.00", "compare_at_price": "-5.00"}, "invalid_amount", "compare_at_price"),
        ({"price": "10.00", "compare_at_price": "9.00"}, "invalid_compare_at_price", "compare_at_price"),
        ({"price": "10.001"}, "invalid_amount", "price"),
        ({"price": "ten"}, "invalid_amount", "price"),
        ({"price": "NaN"}, "invalid_amount", "price"),
        ({"price": 10.5}, "validation_error", "price"),
        ({"price": "10.00", "currency": "XYZ"}, "invalid_currency", "currency"),
        ({"is_published": True}, "required", "price"),
    ],
)
def test_bad_prices_are_refused_with_the_field(staff_api, web_channel, variant, body, code, field):
    response = staff_api.put(f"/catalog/channels/web/listings/{variant.pk}", body)
    assert response.status_code == 422, response.content
    assert (error(response)["code"], error(response)["field"]) == (code, field)
    assert not ChannelListing.objects.exists()


def test_a_yen_price_has_no_decimals(make_channel, variant):
    jp = make_channel("jp", "web", "JPY")
    assert services.upsert_listing(channel=jp, variant=variant, price="1200").price == Decimal("1200")
    with pytest.raises(InvalidAmount):
        services.upsert_listing(channel=jp, variant=variant, price="1200.50")


def test_a_price_update_that_omits_other_fields_keeps_them(staff_api, web_channel, variant):
    services.upsert_listing(
        channel=web_channel, variant=variant, price="10.00", is_published=True, title="Web"
    )
    response = staff_api.put(f"/catalog/channels/web/listings/{variant.pk}", {"price": "12.00"})
    assert response.json()["is_published"] is True and response.json()["title"] == "Web"
    assert response.json()["price"] == "12.00"


def test_unpublishing_clears_the_publication_time(web_channel, variant):
    listing = services.upsert_listing(channel=web_channel, variant=variant, price="10.00", is_published=True)
    assert listing.published_at is not None
    listing = services.upsert_listing(channel=web_channel, variant=variant, is_published=False)
    assert listing.published_at is None and not listing.is_published


def test_bulk_upsert_creates_and_updates_a_channels_listings_by_sku(staff_api, web_channel, hoodie):
    services.upsert_listing(
        channel=web_channel, variant=hoodie.variants.get(sku="HOOD-M"), price="10.00", is_published=True
    )
    response = staff_api.post(
        "/catalog/channels/web/listings/bulk",
        {
            "listings": [
                {"sku": "HOOD-M", "price": "11.00"},
                {"sku": "HOOD-L", "price": "12.00", "is_published": True},
            ]
        },
    )
    assert response.status_code == 200, response.content
    got = {item["sku"]: (item["price"], item["is_published"]) for item in response.json()["items"]}
    assert got == {"HOOD-M": ("11.00", True), "HOOD-L": ("12.00", True)}
    assert ChannelListing.objects.count() == 2


def test_one_bad_row_rejects_the_whole_batch(staff_api, web_channel, hoodie):
    response = staff_api.post(
        "/catalog/channels/web/listings/bulk",
        {"listings": [{"sku": "HOOD-M", "price": "11.00"}, {"sku": "HOOD-L", "price": "-3.00"}]},
    )
    assert response.status_code == 422
    assert error(response)["field"] == "listings[1].price"
    assert not ChannelListing.objects.exists()


def test_an_unknown_sku_in_a_batch_is_a_404_naming_the_row(staff_api, web_channel, hoodie):
    response = staff_api.post(
        "/catalog/channels/web/listings/bulk",
        {"listings": [{"sku": "HOOD-M", "price": "11.00"}, {"sku": "NOPE", "price": "1.00"}]},
    )
    assert response.status_code == 404
    assert (error(response)["code"], error(response)["field"]) == ("variant_not_found", "listings[1].sku")
    assert not ChannelListing.objects.exists()


def test_the_same_variant_twice_in_a_batch_is_refused(staff_api, web_channel, variant):
    response = staff_api.post(
        "/catalog/channels/web/listings/bulk",
        {"listings": [{"sku": "HOOD-M", "price": "1.00"}, {"variant_id": variant.pk, "price": "2.00"}]},
    )
    assert response.status_code == 422 and error(response)["code"] == "duplicate_in_request"


def test_storefronts_sell_only_published_listings_of_active_products(web_channel, hoodie, make_product):
    retired = make_product("Retired", is_active=False)
    for v in [*hoodie.variants.all(), *retired.variants.all()]:
        services.upsert_listing(channel=web_channel, variant=v, price="5.00", is_published=v.sku != "HOOD-L")
    assert sorted(listing.variant.sku for listing in services.sellable_listings(channel=web_channel)) == [
        "HOOD-M"
    ]


def test_publish_and_unpublish_many_listings_at_once(web_channel, hoodie):
    for v in hoodie.variants.all():
        services.upsert_listing(channel=web_channel, variant=v, price="5.00")
    assert services.set_listings_published(listings=ChannelListing.objects.all(), published=True) == 2
    assert services.set_listings_published(listings=ChannelListing.objects.all(), published=True) == 0
    assert all(listing.published_at for listing in ChannelListing.objects.all())


# --- who may see and change which channel's listings -------------------------------------------


@pytest.fixture
def listed(web_channel, market_channel, variant):
    services.upsert_listing(channel=web_channel, variant=variant, price="10.00", is_published=True)
    services.upsert_listing(channel=market_channel, variant=variant, price="12.00", is_published=True)
    return variant


@pytest.fixture
def callers(api, staff_api, make_staff, make_key, web_channel, market_channel):
    return {
        "anonymous": api,
        "key of web": api.with_key(make_key(web_channel, scopes=["catalog:read", "catalog:write"])),
        "key of marketplace": api.with_key(
            make_key(market_channel, scopes=["catalog:read", "catalog:write"])
        ),
        "web key without catalog scopes": api.with_key(make_key(web_channel, scopes=["orders:read"])),
        "web read-only key": api.with_key(make_key(web_channel, scopes=["catalog:read"])),
        "staff without permission": make_staff("view_product", username="noperm"),
        "staff with permission": make_staff(
            "view_channellisting", "change_channellisting", username="pricing"
        ),
    }


MATRIX = [
    # caller, read web's listings, change web's listings
    ("anonymous", 401, 401),
    ("key of web", 200, 200),
    ("key of marketplace", 404, 404),
    ("web key without catalog scopes", 403, 403),
    ("web read-only key", 200, 403),
    ("staff without permission", 403, 403),
    ("staff with permission", 200, 200),
]


@pytest.mark.parametrize(("caller", "read", "write"), MATRIX)
def test_who_may_read_and_change_a_channels_listings(callers, listed, caller, read, write):
    client = callers[caller]
    assert client.get("/catalog/channels/web/listings").status_code == read
    assert client.get(f"/catalog/channels/web/listings/{listed.pk}").status_code == read
    put = client.put(f"/catalog/channels/web/listings/{listed.pk}", {"price": "1.00"})
    bulk = client.post(
        "/catalog/channels/web/listings/bulk", {"listings": [{"sku": listed.sku, "price": "1.00"}]}
    )
    assert (put.status_code, bulk.status_code) == (write, write)
    expected_price = Decimal("1.00") if write == 200 else Decimal("10.00")
    assert ChannelListing.objects.get(channel__code="web").price == expected_price


def test_another_channels_key_cannot_delete_its_listings(callers, listed):
    assert (
        callers["key of marketplace"].delete(f"/catalog/channels/web/listings/{listed.pk}").status_code == 404
    )
    assert ChannelListing.objects.filter(channel__code="web").exists()
    assert callers["key of web"].delete(f"/catalog/channels/web/listings/{listed.pk}").status_code == 204


@pytest.mark.parametrize(
    ("caller", "channels"),
    [
        ("key of web", ["web"]),
        ("key of marketplace", ["marketplace"]),
        ("staff with permission", ["marketplace", "web"]),
        ("staff without permission", []),  # may read products, not prices
    ],
)
def test_product_reads_show_each_caller_only_the_listings_it_may_see(
    callers, listed, hoodie, caller, channels, make_staff
):
    client = callers[caller]
    if caller == "staff with permission":
        client = make_staff("view_product", "view_channellisting", username="pricing-reader")
    body = client.get(f"/catalog/products/{hoodie.pk}").json()
    variant = next(v for v in body["variants"] if v["sku"] == listed.sku)
    assert [listing["channel"] for listing in variant["listings"]] == channels


def test_listing_list_filters_and_orders_by_price(staff_api, web_channel, hoodie):
    for v, price in zip(hoodie.variants.all(), ["20.00", "10.00"], strict=True):
        services.upsert_listing(channel=web_channel, variant=v, price=price, is_published=price == "10.00")
    by_price = staff_api.get("/catalog/channels/web/listings", {"ordering": "price"}).json()["items"]
    assert [i["price"] for i in by_price] == ["10.00", "20.00"]
    published = staff_api.get("/catalog/channels/web/listings", {"is_published": "true"}).json()["items"]
    assert [i["price"] for i in published] == ["10.00"]
    unknown = staff_api.get("/catalog/channels/nowhere/listings")
    assert unknown.status_code == 404 and error(unknown)["code"] == "channel_not_found"


def test_product_list_does_not_query_per_product_variant_or_listing(
    api, make_key, web_channel, make_product, django_assert_num_queries
):
    key = api.with_key(make_key(web_channel, scopes=["catalog:read"]))
    for n in range(6):
        product = make_product(f"P{n}", skus=(f"P{n}-A", f"P{n}-B", f"P{n}-C"))
        services.add_image(product=product, url=f"https://x.example/{n}.jpg")
        for v in product.variants.all():
            services.upsert_listing(channel=web_channel, variant=v, price="5.00", is_published=True)
    key.get("/catalog/products")  # the first call records the key's last use
    # key lookup, products (+category), variants, their listings (+channel), images
    with django_assert_num_queries(5):
        body = key.get("/catalog/products").json()
    assert len(body["items"]) == 6
    assert sum(len(v["listings"]) for p in body["items"] for v in p["variants"]) == 18
