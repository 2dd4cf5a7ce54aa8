"""Products with nested variants, images and attributes: created all or nothing, found by search and filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.catalog import services
from omnishop.catalog.errors import DuplicateSku
from omnishop.catalog.models import Attribute, Product, ProductImage, Variant
from omnishop.catalog.services import NewVariant

pytestmark = pytest.mark.django_db


def product_body(**overrides):
    body = {
        "title": "Organic Hoodie",
        "brand": "Northwind",
        "description": "Heavyweight organic cotton.",
        "variants": [
            {"sku": "HOOD-S", "gtin": "4006381333931", "title": "S", "attributes": {"size": "S"}},
            {"sku": "HOOD-M", "title": "M", "attributes": {"size": "M"}},
        ],
        "images": [
            {"url": "https://cdn.example.com/hood.jpg", "alt": "front"},
            {"url": "https://cdn.example.com/hood-s.jpg", "variant_sku": "HOOD-S"},
        ],
        "attributes": {"material": "cotton"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def attributes(db):
    services.create_attribute(
        code="size", name="Size", type="choice", choices=["S", "M", "L"], is_variant_axis=True
    )
    services.create_attribute(code="material", name="Material")
    services.create_attribute(code="organic", name="Organic", type="boolean")


def error(response):
    return response.json()["error"]


def test_a_product_is_created_with_its_variants_images_and_attributes_in_one_call(staff_api, attributes):
    response = staff_api.post("/catalog/products", product_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "organic-hoodie"
    assert [v["sku"] for v in body["variants"]] == ["HOOD-S", "HOOD-M"]
    assert body["variants"][0]["attributes"] == {"size": "S"}
    assert body["attributes"] == {"material": "cotton"}
    shows_small = [i for i in body["images"] if i["variant_id"] == body["variants"][0]["id"]]
    assert [i["url"] for i in shows_small] == ["https://cdn.example.com/hood-s.jpg"]


def test_third_variant_with_a_taken_sku_leaves_no_product_behind(staff_api, make_product):
    make_product("Existing", skus=("TAKEN-1",))
    before = (Product.objects.count(), Variant.objects.count(), ProductImage.objects.count())
    response = staff_api.post(
        "/catalog/products",
        {
            "title": "New tee",
            "variants": [{"sku": "TEE-1"}, {"sku": "TEE-2"}, {"sku": "TAKEN-1"}],
            "images": [{"url": "https://cdn.example.com/tee.jpg"}],
        },
    )
    assert response.status_code == 409
    assert error(response)["code"] == "duplicate_sku"
    assert error(response)["field"] == "variants[2].sku"
    assert (Product.objects.count(), Variant.objects.count(), ProductImage.objects.count()) == before
    assert not Product.objects.filter(title="New tee").exists()


def test_a_sku_lost_to_a_concurrent_writer_still_rolls_the_whole_product_back(make_product, monkeypatch):
    """The pre-check passes (as if the rival commit came just after it), then the insert hits the unique
    index: the transaction undoes the product and the client still gets duplicate_sku with the field."""
    make_product("Existing", skus=("RACE-1",))
    real_check, calls = services._check_variants_free, []

    def check_too_early(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            real_check(*args, **kwargs)

    monkeypatch.setattr(services, "_check_variants_free", check_too_early)
    with pytest.raises(DuplicateSku) as info:
        services.create_product(title="Racer", variants=[NewVariant(sku="NEW-1"), NewVariant(sku="RACE-1")])
    assert info.value.field == "variants[1].sku"
    assert not Product.objects.filter(title="Racer").exists()
    assert not Variant.objects.filter(sku="NEW-1").exists()


def test_the_same_sku_twice_in_one_request_is_a_duplicate(staff_api):
    response = staff_api.post("/catalog/products", {"title": "T", "variants": [{"sku": "X"}, {"sku": "X"}]})
    assert response.status_code == 409
    assert (error(response)["code"], error(response)["field"]) == ("duplicate_sku", "variants[1].sku")


def test_a_gtin_with_a_wrong_check_digit_is_refused(staff_api):
    response = staff_api.post(
        "/catalog/products", {"title": "T", "variants": [{"sku": "X", "gtin": "4006381333932"}]}
    )
    assert response.status_code == 422
    assert (error(response)["code"], error(response)["field"]) == ("invalid_gtin", "variants[0].gtin")
    assert not Product.objects.exists()


def test_the_upc_spelling_of_a_registered_ean_is_a_duplicate_gtin(staff_api, make_product):
    make_product(variants=[NewVariant(sku="CAN-1", gtin="0036000291452")])
    response = staff_api.post(
        "/catalog/products", {"title": "T", "variants": [{"sku": "CAN-2", "gtin": "036000291452"}]}
    )
    assert response.status_code == 409
    assert (error(response)["code"], error(response)["field"]) == ("duplicate_gtin", "variants[0].gtin")


def test_a_scanned_barcode_finds_its_variant_whatever_the_length(staff_api, make_product):
    make_product(variants=[NewVariant(sku="CAN-1", gtin="036000291452")])
    assert services.find_variant_by_gtin("0036000291452").sku == "CAN-1"
    found = staff_api.get("/catalog/variants", {"gtin": "00036000291452"}).json()["items"]
    assert [v["sku"] for v in found] == ["CAN-1"]


def test_unknown_attribute_and_value_outside_the_choices_are_refused(staff_api, attributes):
    unknown = staff_api.post("/catalog/products", product_body(attributes={"colour": "red"}))
    assert unknown.status_code == 422
    assert (error(unknown)["code"], error(unknown)["field"]) == ("unknown_attribute", "attributes.colour")
    bad_variants = [{"sku": "A", "attributes": {"size": "XXL"}}]
    bad_choice = staff_api.post("/catalog/products", product_body(variants=bad_variants, images=[]))
    assert bad_choice.status_code == 422
    assert (error(bad_choice)["code"], error(bad_choice)["field"]) == (
        "invalid_attribute_value",
        "variants[0].attributes.size",
    )
    wrong_type = staff_api.post("/catalog/products", product_body(attributes={"organic": "yes"}))
    assert error(wrong_type)["code"] == "invalid_attribute_value"
    assert not Product.objects.exists()


def test_two_variants_with_the_same_options_are_refused(staff_api, attributes):
    variants = [{"sku": "A", "attributes": {"size": "S"}}, {"sku": "B", "attributes": {"size": "S"}}]
    response = staff_api.post("/catalog/products", product_body(variants=variants, images=[]))
    assert response.status_code == 409
    assert (error(response)["code"], error(response)["field"]) == (
        "duplicate_variant_attributes",
        "variants[1].attributes",
    )


def test_an_image_of_a_sku_outside_the_product_is_refused(staff_api):
    body = {
        "title": "T",
        "variants": [{"sku": "A"}],
        "images": [{"url": "https://x.example/a.jpg", "variant_sku": "Z"}],
    }
    response = staff_api.post("/catalog/products", body)
    assert response.status_code == 422
    assert (error(response)["code"], error(response)["field"]) == (
        "variant_not_in_product",
        "images[0].variant_sku",
    )


@pytest.mark.parametrize("url", ["ftp://x.example/a.jpg", "not a url", "javascript:alert(1)"])
def test_image_urls_must_be_http(staff_api, url):
    response = staff_api.post("/catalog/products", {"title": "T", "images": [{"url": url}]})
    assert response.status_code == 422
    assert (error(response)["code"], error(response)["field"]) == ("invalid_url", "images[0].url")


def test_unknown_category_is_a_404_and_creates_nothing(staff_api):
    response = staff_api.post(
        "/catalog/products", {"title": "T", "category_id": 12345, "variants": [{"sku": "A"}]}
    )
    assert response.status_code == 404
    assert (error(response)["code"], error(response)["field"]) == ("category_not_found", "category_id")
    assert not Variant.objects.exists()


def test_slugs_are_made_unique_and_an_explicit_duplicate_is_a_conflict(staff_api):
    assert staff_api.post("/catalog/products", {"title": "Hoodie"}).json()["slug"] == "hoodie"
    assert staff_api.post("/catalog/products", {"title": "Hoodie"}).json()["slug"] == "hoodie-2"
    clash = staff_api.post("/catalog/products", {"title": "Other", "slug": "hoodie"})
    assert clash.status_code == 409 and error(clash)["code"] == "duplicate_slug"


def test_a_retried_create_with_the_same_idempotency_key_makes_one_product(staff_api):
    headers = {"Idempotency-Key": "create-hoodie-1"}
    first = staff_api.post(
        "/catalog/products", product_body(attributes={}, variants=[{"sku": "A"}], images=[]), headers=headers
    )
    again = staff_api.post(
        "/catalog/products", product_body(attributes={}, variants=[{"sku": "A"}], images=[]), headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Product.objects.count() == 1
    different = staff_api.post("/catalog/products", {"title": "Else"}, headers=headers)
    assert different.status_code == 409 and error(different)["code"] == "idempotency_key_reused"


def test_search_matches_title_description_brand_and_sku(staff_api, make_product):
    by_title = make_product("Alpine parka", skus=("PK-1",))
    by_brand = make_product("Fleece", skus=("FL-1",), brand="Alpinestar")
    by_sku = make_product("Beanie", skus=("ALPINE-BEANIE",))
    by_text = make_product("Gloves", skus=("GL-1",), description="For alpine winters")
    make_product("Sandals", skus=("SD-1",))
    found = staff_api.get("/catalog/products", {"q": "alpine"}).json()["items"]
    assert sorted(p["id"] for p in found) == sorted(p.pk for p in (by_title, by_brand, by_sku, by_text))


def test_filters_by_activity_sku_and_update_time(staff_api, make_product):
    old = make_product("Old", skus=("OLD-1",))
    Product.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=3))
    retired = make_product("Retired", skus=("RET-1",), is_active=False)
    fresh = make_product("Fresh", skus=("FR-1", "FR-2"))
    ids = lambda params: [p["id"] for p in staff_api.get("/catalog/products", params).json()["items"]]  # noqa: E731
    assert ids({"is_active": "false"}) == [retired.pk]
    assert ids({"sku": "FR-2"}) == [fresh.pk]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert sorted(ids({"updated_since": since})) == sorted([retired.pk, fresh.pk])


def test_changing_a_variant_marks_its_product_updated_for_sync_clients(staff_api, hoodie):
    Product.objects.filter(pk=hoodie.pk).update(updated_at=timezone.now() - timedelta(days=3))
    variant = hoodie.variants.first()
    assert staff_api.patch(f"/catalog/variants/{variant.pk}", {"title": "Medium"}).status_code == 200
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert [
        p["id"] for p in staff_api.get("/catalog/products", {"updated_since": since}).json()["items"]
    ] == [hoodie.pk]


def test_cursor_pagination_walks_every_product_once_in_the_chosen_order(staff_api, make_product):
    for title in ["delta", "alpha", "echo", "charlie", "bravo"]:
        make_product(title)
    seen, cursor = [], None
    while True:
        params = {"ordering": "-title", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = staff_api.get("/catalog/products", params).json()
        seen += [p["title"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["echo", "delta", "charlie", "bravo", "alpha"]
    bad = staff_api.get("/catalog/products", {"ordering": "price"})
    assert bad.status_code == 422 and error(bad)["code"] == "invalid_ordering"


def test_adding_and_changing_variants_keeps_skus_unique(staff_api, hoodie, make_product):
    other = make_product("Other", skus=("OTHER-1",))
    added = staff_api.post(f"/catalog/products/{hoodie.pk}/variants", {"sku": "HOOD-XL", "gtin": "96385074"})
    assert added.status_code == 201, added.content
    clash = staff_api.post(f"/catalog/products/{hoodie.pk}/variants", {"sku": "OTHER-1"})
    assert clash.status_code == 409 and (error(clash)["code"], error(clash)["field"]) == (
        "duplicate_sku",
        "sku",
    )
    renamed = staff_api.patch(f"/catalog/variants/{added.json()['id']}", {"sku": "OTHER-1"})
    assert renamed.status_code == 409 and error(renamed)["field"] == "sku"
    gtin_clash = staff_api.patch(f"/catalog/variants/{other.variants.get().pk}", {"gtin": "96385074"})
    assert gtin_clash.status_code == 409 and error(gtin_clash)["code"] == "duplicate_gtin"
    assert staff_api.patch(f"/catalog/variants/{added.json()['id']}", {"gtin": None}).json()["gtin"] is None


def test_unknown_product_and_variant_ids_are_404s_with_codes(staff_api):
    assert error(staff_api.get("/catalog/products/999"))["code"] == "product_not_found"
    assert error(staff_api.patch("/catalog/variants/999", {"title": "x"}))["code"] == "variant_not_found"
    assert (
        error(staff_api.post("/catalog/products/999/variants", {"sku": "Z"}))["code"] == "product_not_found"
    )
    assert (
        error(staff_api.post("/catalog/products/999/images", {"url": "https://x.example/a"}))["code"]
        == "product_not_found"
    )


def test_images_are_added_changed_and_removed(staff_api, hoodie, make_product):
    variant = hoodie.variants.first()
    added = staff_api.post(
        f"/catalog/products/{hoodie.pk}/images", {"url": "https://x.example/a.jpg", "variant_id": variant.pk}
    )
    assert added.status_code == 201, added.content
    image_id = added.json()["id"]
    foreign = make_product("Other").variants.first()
    wrong = staff_api.patch(f"/catalog/images/{image_id}", {"variant_id": foreign.pk})
    assert wrong.status_code == 422 and error(wrong)["code"] == "variant_not_in_product"
    assert staff_api.patch(f"/catalog/images/{image_id}", {"alt": "front"}).json()["alt"] == "front"
    assert staff_api.delete(f"/catalog/images/{image_id}").status_code == 204
    assert error(staff_api.delete(f"/catalog/images/{image_id}"))["code"] == "image_not_found"


def test_deleting_a_product_removes_its_variants_and_images(staff_api, hoodie):
    services.add_image(product=hoodie, url="https://x.example/a.jpg")
    assert staff_api.delete(f"/catalog/products/{hoodie.pk}").status_code == 204
    assert not Variant.objects.filter(sku__startswith="HOOD").exists()
    assert not ProductImage.objects.exists()


def test_patching_a_product_changes_only_the_fields_sent(staff_api, hoodie):
    response = staff_api.patch(f"/catalog/products/{hoodie.pk}", {"is_active": False})
    assert response.status_code == 200
    assert response.json()["is_active"] is False and response.json()["brand"] == "Northwind"
    nulled = staff_api.patch(f"/catalog/products/{hoodie.pk}", {"title": None})
    assert nulled.status_code == 422 and error(nulled)["field"] == "title"


def test_attribute_in_use_cannot_be_deleted_or_change_type(staff_api, attributes, make_product):
    make_product(attributes={"material": "wool"})
    material = Attribute.objects.get(code="material")
    deleted = staff_api.delete(f"/catalog/attributes/{material.pk}")
    assert deleted.status_code == 409 and error(deleted)["code"] == "attribute_in_use"
    retyped = staff_api.patch(f"/catalog/attributes/{material.pk}", {"type": "number"})
    assert retyped.status_code == 409


def test_a_choice_in_use_cannot_be_removed(staff_api, attributes, make_product):
    make_product(variants=[NewVariant(sku="S-1", attributes={"size": "S"})])
    size = Attribute.objects.get(code="size")
    response = staff_api.patch(f"/catalog/attributes/{size.pk}", {"choices": ["M", "L"]})
    assert response.status_code == 409 and error(response)["details"]["removed"] == ["S"]
    assert (
        staff_api.patch(f"/catalog/attributes/{size.pk}", {"choices": ["S", "M", "L", "XL"]}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("title", "slug"), [("纯棉 T恤", "纯棉-t恤"), ("Café Crème", "café-crème"), ("!!!", "product")]
)
def test_titles_in_any_script_get_a_usable_slug(staff_api, title, slug):
    response = staff_api.post("/catalog/products", {"title": title})
    assert response.status_code == 201 and response.json()["slug"] == slug
