"""The catalogue desk through the Django test client: the product list and page, bulk publication and the
bulk price change with its preview, refusals and confirmation, and who may do which."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from omnishop.catalog import services as catalog
from omnishop.catalog.models import ChannelListing
from omnishop.core.models import OutboxEvent
from omnishop.inventory import services as inventory

pytestmark = pytest.mark.django_db
PRICE_URL = "/admin/ops/products/bulk-price/"


def build_catalogue(web, market, *, image_base: str = "https://img.example.com"):
    """A hoodie (two sizes, an image, listed on both channels, stock, a supplier offer) and a mug."""
    catalog.create_attribute(code="size", name="Size", is_variant_axis=True)
    hoodie = catalog.create_product(
        title="Organic Hoodie",
        brand="Northwind",
        variants=[
            catalog.NewVariant(sku="HOOD-M", gtin="4006381333931", attributes={"size": "M"}),
            catalog.NewVariant(sku="HOOD-L", attributes={"size": "L"}),
        ],
        images=[catalog.NewImage(url=f"{image_base}/static/admin/img/icon-yes.svg", alt="Hoodie, front")],
    )
    mug = catalog.create_product(title="Tea Mug", brand="Contoso", variants=[catalog.NewVariant(sku="MUG-1")])
    medium, large = hoodie.variants.get(sku="HOOD-M"), hoodie.variants.get(sku="HOOD-L")
    catalog.upsert_listing(
        channel=web, variant=medium, price="30.00", compare_at_price="40.00", is_published=True
    )
    catalog.upsert_listing(channel=web, variant=large, price="32.00", is_published=False)
    catalog.upsert_listing(channel=market, variant=medium, price="35.00", is_published=False)
    catalog.upsert_listing(channel=web, variant=mug.variants.get(), price="8.00", is_published=False)
    warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
    inventory.receive_stock(variant=medium, location=warehouse, quantity=7, reference="t")
    acme = catalog.create_supplier(code="acme", name="Acme Textiles", country="GB")
    catalog.create_offer(
        supplier=acme,
        variant=medium,
        cost="12.40",
        lead_time_days=9,
        min_order_quantity=24,
        freight_per_unit="0.85",
        duty_percent="12",
    )
    return hoodie, mug


@pytest.fixture
def products(web_channel, market_channel):
    return build_catalogue(web_channel, market_channel)


@pytest.fixture
def staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def clerk(django_user_model):
    def make(*codenames: str) -> Client:
        user = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
        for codename in codenames:
            app, name = codename.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=name))
        client = Client()
        client.force_login(user)
        return client

    return make


def price(sku, channel):
    return ChannelListing.objects.get(variant__sku=sku, channel=channel).price


def field_errors(response, name):
    return re.findall(rf'id="id_{name}_error">([^<]*)<', response.content.decode())


def test_staff_without_the_catalogue_permission_get_403(clerk, products):
    hoodie, _ = products
    nobody = clerk()
    for url in ("/admin/ops/products/", f"/admin/ops/products/{hoodie.pk}/", PRICE_URL):
        assert nobody.get(url).status_code == 403


def test_a_viewer_sees_products_but_cannot_publish_or_reprice(clerk, products, web_channel):
    hoodie, _ = products
    viewer = clerk("catalog.view_product")
    page = viewer.get(f"/admin/ops/products/{hoodie.pk}/")
    assert page.status_code == 200 and "Supplier offers" not in page.content.decode()  # costs need their own
    assert viewer.get(PRICE_URL).status_code == 403
    denied = viewer.post("/admin/ops/products/bulk-publish/", {"product": [hoodie.pk], "action": "publish"})
    assert denied.status_code == 403
    assert not ChannelListing.objects.get(variant__sku="HOOD-L", channel=web_channel).is_published


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "HOOD-L"}, ["Organic Hoodie"]),
        ({"brand": "contoso"}, ["Tea Mug"]),
        ({"published": "yes"}, ["Organic Hoodie"]),
        ({"published": "no"}, ["Tea Mug"]),
    ],
)
def test_the_product_list_filters(staff, products, query, expected):
    page = staff.get("/admin/ops/products/", query).content.decode()
    shown = re.findall(r'<a href="/admin/ops/products/\d+/">([^<]+)</a>', page)
    assert shown == expected


def test_the_list_filters_by_channel(staff, products, market_channel):
    page = staff.get("/admin/ops/products/", {"channel": market_channel.pk}).content.decode()
    assert re.findall(r'<a href="/admin/ops/products/\d+/">([^<]+)</a>', page) == ["Organic Hoodie"]


def test_the_product_page_shows_images_variants_listings_stock_and_offers(staff, products):
    hoodie, _ = products
    page = staff.get(f"/admin/ops/products/{hoodie.pk}/").content.decode()
    assert 'src="https://img.example.com/static/admin/img/icon-yes.svg" alt="Hoodie, front"' in page
    assert "<td>HOOD-M</td><td>size: M</td><td>4006381333931</td>" in page
    assert (
        "<td>web</td><td>HOOD-M</td><td>30.00 GBP</td><td>40.00 GBP</td><td>GBP</td><td>Published</td>"
        in page
    )
    assert (
        "<td>marketplace</td><td>HOOD-M</td><td>35.00 EUR</td><td>—</td><td>EUR</td><td>Not published</td>"
        in page
    )
    assert "<td>7</td><td>0</td><td>0</td><td>7</td>" in page  # on hand, allocated, reserved, free
    # landed: 12.40 + 0.85 freight + 12 % duty (1.488) = 14.738 a unit
    assert (
        "<td>Acme Textiles</td><td>—</td><td>12.40 GBP</td><td>14.738 GBP</td><td>9</td><td>24</td>" in page
    )


def test_bulk_publish_on_one_channel_publishes_only_there_and_announces_it(staff, products, web_channel):
    hoodie, mug = products
    before = OutboxEvent.objects.filter(type="listing.changed").count()
    response = staff.post(
        "/admin/ops/products/bulk-publish/",
        {"product": [hoodie.pk, mug.pk], "on_channel": web_channel.pk, "action": "publish"},
    )
    assert response.status_code == 302
    published = dict(
        ChannelListing.objects.values_list("variant__sku", "is_published").filter(channel=web_channel)
    )
    assert published == {"HOOD-M": True, "HOOD-L": True, "MUG-1": True}
    assert not ChannelListing.objects.get(variant__sku="HOOD-M", channel__code="marketplace").is_published
    assert OutboxEvent.objects.filter(type="listing.changed").count() == before + 2


def test_bulk_unpublish_of_every_product_matching_a_filter(staff, products):
    response = staff.post(
        "/admin/ops/products/bulk-publish/",
        {"scope": "matching", "brand": "Northwind", "action": "unpublish"},
    )
    assert response.status_code == 302 and "brand=Northwind" in response["Location"]
    assert not ChannelListing.objects.filter(variant__product__brand="Northwind", is_published=True).exists()


def test_bulk_publish_without_a_selection_says_what_is_missing(staff, products):
    response = staff.post("/admin/ops/products/bulk-publish/", {"action": "publish"})
    assert response.status_code == 400
    assert "Tick at least one product" in response.content.decode()


def test_a_price_change_is_previewed_then_confirmed_once(staff, products, web_channel, market_channel):
    hoodie, mug = products
    form = {"product": [hoodie.pk, mug.pk], "price_channel": web_channel.pk, "rule": "percent", "value": "10"}
    preview = staff.post(PRICE_URL, form)
    assert preview.status_code == 200
    text = preview.content.decode()
    assert "<td>HOOD-M</td><td>30.00 GBP</td><td>33.00 GBP</td>" in text
    assert "<td>MUG-1</td><td>8.00 GBP</td><td>8.80 GBP</td>" in text
    assert price("HOOD-M", web_channel) == Decimal("30.00")  # the preview changes nothing
    token = re.search(r'name="expected" value="([^"]+)"', text).group(1)

    done = staff.post(PRICE_URL, {**form, "expected": token, "confirm": "yes"})
    assert done.status_code == 302
    assert [price(s, web_channel) for s in ("HOOD-M", "HOOD-L", "MUG-1")] == [
        Decimal("33.00"),
        Decimal("35.20"),
        Decimal("8.80"),
    ]
    assert price("HOOD-M", market_channel) == Decimal("35.00")

    again = staff.post(PRICE_URL, {**form, "expected": token, "confirm": "yes"}, follow=True)
    assert "No price changed" in again.content.decode()
    assert price("HOOD-M", web_channel) == Decimal("33.00")  # a double submit is not a second rise


def test_a_refused_row_is_shown_with_its_reason_and_left_alone(staff, products, web_channel):
    hoodie, _ = products
    form = {"product": [hoodie.pk], "price_channel": web_channel.pk, "rule": "set", "value": "45"}
    text = staff.post(PRICE_URL, form).content.decode()
    assert "above the compare-at price 40.00 GBP" in text  # HOOD-M
    token = re.search(r'name="expected" value="([^"]+)"', text).group(1)
    staff.post(PRICE_URL, {**form, "expected": token, "confirm": "yes"})
    assert (price("HOOD-M", web_channel), price("HOOD-L", web_channel)) == (
        Decimal("30.00"),
        Decimal("45.00"),
    )


def test_a_confirmation_for_another_change_than_the_one_previewed_is_refused(staff, products, web_channel):
    hoodie, _ = products
    form = {"product": [hoodie.pk], "price_channel": web_channel.pk, "rule": "amount", "value": "1"}
    token = re.search(r'name="expected" value="([^"]+)"', staff.post(PRICE_URL, form).content.decode()).group(
        1
    )
    response = staff.post(PRICE_URL, {**form, "value": "100", "expected": token, "confirm": "yes"})
    assert response.status_code == 400 and "differs from the one previewed" in response.content.decode()
    assert price("HOOD-M", web_channel) == Decimal("30.00")


@pytest.mark.parametrize(("value", "message"), [("", "This field is required"), ("ten", "Enter a number")])
def test_price_form_errors_sit_next_to_the_value(staff, products, web_channel, value, message):
    hoodie, _ = products
    response = staff.post(
        PRICE_URL, {"product": [hoodie.pk], "price_channel": web_channel.pk, "rule": "set", "value": value}
    )
    assert response.status_code == 400
    assert any(message in e for e in field_errors(response, "value"))


def test_products_not_listed_on_the_channel_are_refused_with_the_reason(staff, products, market_channel):
    _, mug = products
    response = staff.post(
        PRICE_URL, {"product": [mug.pk], "price_channel": market_channel.pk, "rule": "set", "value": "5"}
    )
    assert response.status_code == 400 and "no_listings_to_price" in response.content.decode()


def test_the_price_page_opens_with_the_products_ticked_in_the_list(staff, products):
    hoodie, _ = products
    response = staff.post(PRICE_URL, {"product": [hoodie.pk], "start": "yes"})
    assert response.status_code == 200
    text = response.content.decode()
    assert f'name="product" value="{hoodie.pk}"' in text and "Please confirm" not in text
    assert not re.findall(r'class="field-error"', text)


def test_the_product_list_costs_the_same_queries_for_two_products_or_twenty(
    staff, products, django_assert_max_num_queries
):
    with django_assert_max_num_queries(QUERY_BUDGET) as few:
        staff.get("/admin/ops/products/")
    for n in range(18):
        catalog.create_product(
            title=f"Sock {n}",
            variants=[catalog.NewVariant(sku=f"SOCK-{n}")],
            images=[catalog.NewImage(url=f"https://img.example.com/sock-{n}.jpg")],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = staff.get("/admin/ops/products/").content.decode()
    assert "Sock 17" in page


QUERY_BUDGET = 20
