"""The back office: every catalog screen opens, forms apply the catalog's rules, actions call services."""

import pytest
from django.test import Client
from django.urls import reverse

from omnishop.catalog import services
from omnishop.catalog.models import Category, ChannelListing, Product, Supplier, SupplierOffer

pytestmark = pytest.mark.django_db

MODELS = [
    "category",
    "attribute",
    "product",
    "variant",
    "productimage",
    "channellisting",
    "supplier",
    "supplieroffer",
]


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def catalog(web_channel, hoodie, supplier):
    variant = hoodie.variants.first()
    services.add_image(product=hoodie, url="https://x.example/a.jpg", variant=variant)
    services.upsert_listing(channel=web_channel, variant=variant, price="10.00")
    services.create_offer(supplier=supplier, variant=variant, cost="4")
    services.create_attribute(code="size", name="Size")
    services.create_category(name="Men")
    return hoodie


@pytest.mark.parametrize("model", MODELS)
def test_every_catalog_list_and_edit_screen_opens(admin_client, catalog, model):
    assert admin_client.get(reverse(f"admin:catalog_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:catalog_{model}_changelist"), {"q": "hood"}).status_code == 200
    assert admin_client.get(reverse(f"admin:catalog_{model}_add")).status_code == 200
    model_class = {m._meta.model_name: m for m in (Category, Product, ChannelListing, SupplierOffer)}.get(
        model
    )
    if model_class is not None:
        obj = model_class.objects.first()
        assert admin_client.get(reverse(f"admin:catalog_{model}_change", args=[obj.pk])).status_code == 200


def test_product_list_screen_does_not_query_per_row(
    admin_client, make_product, django_assert_max_num_queries
):
    for n in range(15):
        make_product(f"P{n}")
    with django_assert_max_num_queries(12):
        assert admin_client.get(reverse("admin:catalog_product_changelist")).status_code == 200


def test_publish_action_publishes_through_the_service(admin_client, catalog):
    listing = ChannelListing.objects.get()
    response = admin_client.post(
        reverse("admin:catalog_channellisting_changelist"),
        {"action": "publish", "_selected_action": [listing.pk]},
    )
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.is_published and listing.published_at is not None


def test_a_category_added_in_the_back_office_gets_its_path(admin_client):
    men = services.create_category(name="Men")
    response = admin_client.post(
        reverse("admin:catalog_category_add"),
        {"name": "Tops", "slug": "tops", "parent": men.pk, "position": 0},
    )
    assert response.status_code == 302, response.content
    assert Category.objects.get(slug="tops").path == "men/tops"


def test_moving_a_category_under_its_child_is_refused_in_the_back_office(admin_client):
    men = services.create_category(name="Men")
    tops = services.create_category(name="Tops", parent=men)
    response = admin_client.post(
        reverse("admin:catalog_category_change", args=[men.pk]),
        {"name": "Men", "slug": "men", "parent": tops.pk, "position": 0},
    )
    assert response.status_code == 200  # the form is shown again with the error
    assert b"own subtree" in response.content
    assert Category.objects.get(pk=men.pk).parent is None


def test_supplier_form_normalises_the_phone_and_rejects_a_bad_email(admin_client):
    fields = {
        "code": "acme",
        "name": "Acme",
        "phone": "020 7946 0958",
        "country": "gb",
        "currency": "gbp",
        "default_lead_time_days": 7,
        "is_active": "on",
    }
    bad = admin_client.post(reverse("admin:catalog_supplier_add"), {**fields, "email": "nope"})
    assert bad.status_code == 200 and "email" in bad.context_data["adminform"].form.errors
    good = admin_client.post(reverse("admin:catalog_supplier_add"), {**fields, "email": "a@acme.example"})
    assert good.status_code == 302
    supplier = Supplier.objects.get()
    assert (supplier.phone, supplier.country, supplier.currency) == ("+442079460958", "GB", "GBP")


def test_make_preferred_action_keeps_one_preferred_offer(admin_client, catalog):
    variant = catalog.variants.first()
    first = SupplierOffer.objects.get()
    first.is_preferred = True
    first.save()
    other = services.create_offer(
        supplier=services.create_supplier(code="bolt", name="Bolt"), variant=variant, cost="3"
    )
    admin_client.post(
        reverse("admin:catalog_supplieroffer_changelist"),
        {"action": "make_preferred", "_selected_action": [other.pk]},
    )
    assert list(SupplierOffer.objects.filter(is_preferred=True).values_list("pk", flat=True)) == [other.pk]


def test_deactivate_action_takes_products_off_sale(admin_client, catalog):
    admin_client.post(
        reverse("admin:catalog_product_changelist"),
        {"action": "deactivate", "_selected_action": [catalog.pk]},
    )
    assert not Product.objects.get(pk=catalog.pk).is_active
