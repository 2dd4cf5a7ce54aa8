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


def test_ticking_preferred_on_an_offer_form_moves_the_preference(admin_client, catalog):
    variant = catalog.variants.first()
    first = SupplierOffer.objects.get()
    services.update_offer(offer=first, is_preferred=True)
    other = services.create_offer(
        supplier=services.create_supplier(code="bolt", name="Bolt"), variant=variant, cost="3"
    )
    response = admin_client.post(
        reverse("admin:catalog_supplieroffer_change", args=[other.pk]),
        {
            "supplier": other.supplier_id,
            "variant": variant.pk,
            "supplier_sku": "",
            "cost": "2.75",
            "currency": "eur",
            "lead_time_days": 5,
            "min_order_quantity": 1,
            "pack_size": 6,
            "is_preferred": "on",
        },
    )
    assert response.status_code == 302, response.context_data["adminform"].form.errors
    assert list(SupplierOffer.objects.filter(is_preferred=True).values_list("pk", flat=True)) == [other.pk]
    assert SupplierOffer.objects.get(pk=other.pk).currency == "EUR"


def test_a_variant_page_refuses_two_preferred_offers_at_once(admin_client, catalog):
    variant = catalog.variants.first()
    offer = SupplierOffer.objects.get()
    bolt = services.create_supplier(code="bolt", name="Bolt")
    url = reverse("admin:catalog_variant_change", args=[variant.pk])
    form = admin_client.get(url).context_data["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and value is not False}
    data.update({"product": variant.product_id, "attributes": "{}", "is_active": "on"})
    prefix_l, prefix_o = "listings", "supplier_offers"
    data.update(
        {
            f"{prefix_l}-TOTAL_FORMS": 1,
            f"{prefix_l}-INITIAL_FORMS": 1,
            f"{prefix_l}-0-id": ChannelListing.objects.get().pk,
            f"{prefix_l}-0-variant": variant.pk,
            f"{prefix_l}-0-channel": ChannelListing.objects.get().channel_id,
            f"{prefix_l}-0-price": "10.00",
            f"{prefix_o}-TOTAL_FORMS": 2,
            f"{prefix_o}-INITIAL_FORMS": 1,
            f"{prefix_o}-0-id": offer.pk,
            f"{prefix_o}-0-variant": variant.pk,
            f"{prefix_o}-0-supplier": offer.supplier_id,
            f"{prefix_o}-0-cost": "4",
            f"{prefix_o}-0-currency": "GBP",
            f"{prefix_o}-0-lead_time_days": 7,
            f"{prefix_o}-0-min_order_quantity": 1,
            f"{prefix_o}-0-pack_size": 1,
            f"{prefix_o}-0-is_preferred": "on",
            f"{prefix_o}-1-variant": variant.pk,
            f"{prefix_o}-1-supplier": bolt.pk,
            f"{prefix_o}-1-cost": "3",
            f"{prefix_o}-1-currency": "GBP",
            f"{prefix_o}-1-lead_time_days": 7,
            f"{prefix_o}-1-min_order_quantity": 1,
            f"{prefix_o}-1-pack_size": 1,
        }
    )
    one_preferred = admin_client.post(url, {**data, f"{prefix_o}-1-is_preferred": ""})
    ctx = one_preferred.context_data if one_preferred.status_code == 200 else {}
    assert one_preferred.status_code == 302, (
        ctx["adminform"].form.errors,
        [fs.formset.errors for fs in ctx["inline_admin_formsets"]],
    )
    assert SupplierOffer.objects.count() == 2
    data[f"{prefix_o}-INITIAL_FORMS"] = 2
    data[f"{prefix_o}-1-id"] = SupplierOffer.objects.get(supplier=bolt).pk
    two_preferred = admin_client.post(url, {**data, f"{prefix_o}-1-is_preferred": "on"})
    assert two_preferred.status_code == 200
    assert b"at most one offer" in two_preferred.content
    assert SupplierOffer.objects.filter(is_preferred=True).count() == 1


def test_the_offer_screen_takes_freight_and_duty_and_shows_the_landed_unit_cost(admin_client, catalog):
    offer = SupplierOffer.objects.get()
    url = reverse("admin:catalog_supplieroffer_change", args=[offer.pk])
    fields = {
        "supplier": offer.supplier_id,
        "variant": offer.variant_id,
        "supplier_sku": "",
        "cost": "4.0000",
        "currency": "GBP",
        "lead_time_days": 7,
        "min_order_quantity": 1,
        "pack_size": 1,
    }
    refused = admin_client.post(url, {**fields, "freight_per_unit": "-1", "duty_percent": "0"})
    assert refused.status_code == 200 and refused.context_data["adminform"].form.errors
    saved = admin_client.post(url, {**fields, "freight_per_unit": "0.5", "duty_percent": "12.5"})
    assert saved.status_code == 302, saved.content
    offer.refresh_from_db()
    assert (str(offer.freight_per_unit), str(offer.duty_percent)) == ("0.5000", "12.5000")
    page = admin_client.get(url).content.decode()
    assert "5.0000 GBP" in page  # 4.00 + 0.50 + 12.5 % of 4.00
    assert (
        "5.0000 GBP" in admin_client.get(reverse("admin:catalog_supplieroffer_changelist")).content.decode()
    )
