"""A shopper opens one product of a channel: every published variant with its price, images, attributes."""

from __future__ import annotations

import pytest

from omnishop.catalog.models import ProductImage, Variant
from omnishop.storefront.schemas import ProductDetailOut

pytestmark = pytest.mark.django_db


def test_detail_shows_every_published_variant_with_price_and_the_products_images(
    api, web_channel, make_product, list_in, make_category
):
    mug = make_product(
        "Enamel mug",
        variants=3,
        images=2,
        category=make_category("home/kitchen"),
        attributes={"colour": "red"},
    )
    listings = list_in(mug, web_channel, ["8", "9.5", "11"], compare_at="12")
    listings[2].is_published = False
    listings[2].save()
    first_variant = listings[0].variant
    ProductImage.objects.create(
        product=mug, variant=first_variant, url="https://img.example.com/v.jpg", position=9
    )

    response = api.get(f"/storefront/web/products/{mug.slug}")
    assert response.status_code == 200, response.content
    body = response.json()
    ProductDetailOut.model_validate(body)
    assert body["title"] == "Enamel mug" and body["description"] == "Enamel mug, a fine thing."
    assert body["attributes"] == {"colour": "red"}
    assert body["category"] == {"path": "home/kitchen", "name": "Kitchen"}
    assert body["price"] == {"currency": "GBP", "min": "8.00", "max": "9.50"}
    assert body["compare_at_price"] == "12.00"
    assert [(v["sku"], v["title"], v["price"], v["attributes"]) for v in body["variants"]] == [
        (first_variant.sku, "Size 0", "8.00", {"size": "0"}),
        (listings[1].variant.sku, "Size 1", "9.50", {"size": "1"}),
    ]
    assert [i["url"] for i in body["images"]] == [
        f"https://img.example.com/{mug.slug}/0.jpg",
        f"https://img.example.com/{mug.slug}/1.jpg",
        "https://img.example.com/v.jpg",
    ]
    assert body["images"][2]["variant_id"] == first_variant.pk


def test_a_product_without_images_has_an_empty_image_list(api, web_channel, make_product, list_in):
    plain = make_product("Plain")
    list_in(plain, web_channel)
    assert api.get(f"/storefront/web/products/{plain.slug}").json()["images"] == []


def test_the_channel_title_and_currency_replace_the_products_own(
    api, web_channel, market_channel, make_product, list_in
):
    lamp = make_product("Lamp")
    list_in(lamp, web_channel, "20")
    list_in(lamp, market_channel, "23.99", title="Lampe")
    body = api.get(f"/storefront/marketplace/products/{lamp.slug}").json()
    assert (body["title"], body["price"]["currency"], body["variants"][0]["price"]) == (
        "Lampe",
        "EUR",
        "23.99",
    )


def test_a_product_not_for_sale_in_the_channel_is_not_found(
    api, web_channel, market_channel, make_product, list_in
):
    web_only = make_product("Web only")
    list_in(web_only, web_channel)
    draft = make_product("Draft")
    list_in(draft, market_channel, published=False)
    retired = make_product("Retired", is_active=False)
    list_in(retired, market_channel)
    no_variants_left = make_product("Sold out forever")
    list_in(no_variants_left, market_channel)
    Variant.objects.filter(product=no_variants_left).update(is_active=False)
    for product in (web_only, draft, retired, no_variants_left):
        response = api.get(f"/storefront/marketplace/products/{product.slug}")
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "product_not_found",
            "message": f"No product '{product.slug}' is for sale in this channel.",
            "field": "slug",
            "details": {},
        }
    assert api.get("/storefront/marketplace/products/no-such-slug").status_code == 404


def test_detail_of_an_unknown_channel_is_channel_not_found(api, web_channel, make_product, list_in):
    product = make_product("Thing")
    list_in(product, web_channel)
    response = api.get(f"/storefront/elsewhere/products/{product.slug}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "channel_not_found"


def test_detail_is_the_catalogue_version_then_one_sql_statement_plus_one_for_stock(
    api, web_channel, make_product, list_in, django_assert_num_queries
):
    from omnishop.storefront import queries, services

    product = make_product("Thing", variants=5, images=3)
    list_in(product, web_channel)
    # The catalogue version (ETag, Last-Modified: storefront/caching.py), the detail, the stock — which the
    # detail on PostgreSQL reads in its own statement (ADR 0057).
    separate_stock = services._availability_service() is not None and not queries.stock_in_detail()
    with django_assert_num_queries(2 + separate_stock):
        response = api.get(f"/storefront/web/products/{product.slug}")
    assert len(response.json()["variants"]) == 5


def test_the_storefront_is_public_and_a_channel_key_never_reveals_unpublished_listings(
    api, market_channel, make_key, make_product, list_in
):
    public = make_product("Public")
    list_in(public, market_channel)
    draft = make_product("Draft")
    list_in(draft, market_channel, published=False)
    own_key = make_key(market_channel, scopes=["catalog:read"])
    for client in (api, api.with_key(own_key)):
        page = client.get("/storefront/marketplace/products").json()
        assert [i["slug"] for i in page["items"]] == [public.slug]
        assert client.get(f"/storefront/marketplace/products/{draft.slug}").status_code == 404
