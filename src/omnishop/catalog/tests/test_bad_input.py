"""Every catalog endpoint answers bad input with a 4xx error envelope naming the problem — never a 500,
never a half-written row."""

import orjson
import pytest
from django.conf import settings

from omnishop.catalog import services
from omnishop.catalog.models import (
    Attribute,
    Category,
    ChannelListing,
    Product,
    Supplier,
    SupplierOffer,
    Variant,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(web_channel, hoodie, supplier):
    variant = hoodie.variants.first()
    return {
        "category": services.create_category(name="Men").pk,
        "attribute": services.create_attribute(code="material", name="Material").pk,
        "product": hoodie.pk,
        "variant": variant.pk,
        "image": services.add_image(product=hoodie, url="https://x.example/a.jpg").pk,
        "supplier": supplier.pk,
        "offer": services.create_offer(supplier=supplier, variant=variant, cost="1").pk,
        "listing": services.upsert_listing(channel=web_channel, variant=variant, price="9.99").variant_id,
    }


# method, path, a field of the right name with a wrong type, a body that would be accepted
WRITES = [
    ("post", "/catalog/categories", {"name": ["Men"]}, {"name": "Women"}),
    ("patch", "/catalog/categories/{category}", {"position": "first"}, {"position": 2}),
    ("post", "/catalog/attributes", {"code": "x", "name": "X", "type": "colour"}, {"code": "x", "name": "X"}),
    ("patch", "/catalog/attributes/{attribute}", {"choices": "S,M"}, {"name": "Fabric"}),
    ("post", "/catalog/products", {"title": "T", "variants": {"sku": "A"}}, {"title": "T"}),
    ("patch", "/catalog/products/{product}", {"is_active": "maybe"}, {"brand": "B"}),
    ("post", "/catalog/products/{product}/variants", {"sku": "A", "weight_grams": -5}, {"sku": "NEW-1"}),
    ("patch", "/catalog/variants/{variant}", {"attributes": ["size", "M"]}, {"title": "M"}),
    (
        "post",
        "/catalog/products/{product}/images",
        {"url": "https://x.example/b.jpg", "position": -1},
        {"url": "https://x.example/b.jpg"},
    ),
    ("patch", "/catalog/images/{image}", {"variant_id": "first"}, {"alt": "front"}),
    ("put", "/catalog/channels/web/listings/{listing}", {"price": 9.99}, {"price": "8.99"}),
    (
        "post",
        "/catalog/channels/web/listings/bulk",
        {"listings": []},
        {"listings": [{"sku": "HOOD-M", "price": "1.00"}]},
    ),
    (
        "post",
        "/catalog/suppliers",
        {"code": "b", "name": "B", "default_lead_time_days": "soon"},
        {"code": "b", "name": "B"},
    ),
    ("patch", "/catalog/suppliers/{supplier}", {"is_active": [True]}, {"city": "Leeds"}),
    (
        "post",
        "/catalog/supplier-offers",
        {"supplier_id": 1, "variant_id": 1, "cost": "1", "pack_size": 0},
        {"supplier_id": 1, "variant_id": 1, "cost": "1"},
    ),
    ("patch", "/catalog/supplier-offers/{offer}", {"min_order_quantity": 0}, {"cost": "2"}),
]

READS = [
    "/catalog/categories/{category}",
    "/catalog/attributes/{attribute}",
    "/catalog/products/{product}",
    "/catalog/variants/{variant}",
    "/catalog/channels/web/listings/{listing}",
    "/catalog/suppliers/{supplier}",
    "/catalog/supplier-offers/{offer}",
]

LISTS = [
    "/catalog/categories",
    "/catalog/attributes",
    "/catalog/products",
    "/catalog/variants",
    "/catalog/channels/web/listings",
    "/catalog/suppliers",
    "/catalog/supplier-offers",
]


def send(client, method, path, raw: bytes, content_type="application/json"):
    return client.client.generic(method.upper(), f"/api/v1{path}", raw, content_type=content_type)


def counts():
    return [
        m.objects.count()
        for m in (Category, Attribute, Product, Variant, ChannelListing, Supplier, SupplierOffer)
    ]


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field", "details"}
    assert body["error"]["code"] == code, body


@pytest.mark.parametrize(("method", "path", "wrong_type", "valid"), WRITES)
def test_malformed_json_is_a_400(staff_api, world, method, path, wrong_type, valid):
    before = counts()
    assert_envelope(send(staff_api, method, path.format(**world), b'{"name": "x",'), 400, "malformed_json")
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "wrong_type", "valid"), WRITES)
def test_an_unknown_field_is_named_not_ignored(staff_api, world, method, path, wrong_type, valid):
    before = counts()
    response = send(staff_api, method, path.format(**world), orjson.dumps({**valid, "colour_typo": "red"}))
    assert_envelope(response, 422, "unknown_field")
    assert response.json()["error"]["field"] == "colour_typo"
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "wrong_type", "valid"), WRITES)
def test_a_wrong_type_is_a_422_naming_the_field(staff_api, world, method, path, wrong_type, valid):
    before = counts()
    response = send(staff_api, method, path.format(**world), orjson.dumps(wrong_type))
    assert_envelope(response, 422, "validation_error")
    assert response.json()["error"]["field"].split("[")[0].split(".")[0] in wrong_type
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "wrong_type", "valid"), WRITES)
def test_the_valid_body_of_each_write_is_accepted(staff_api, world, method, path, wrong_type, valid):
    """Guards the cases above: each endpoint refuses the bad input, not everything."""
    body = {
        k: world[k.removesuffix("_id")] if k in ("supplier_id", "variant_id") else v for k, v in valid.items()
    }
    if path == "/catalog/supplier-offers":
        body["supplier_id"] = services.create_supplier(code="other", name="Other").pk
    response = send(staff_api, method, path.format(**world), orjson.dumps(body))
    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize(("method", "path", "wrong_type", "valid"), WRITES)
def test_an_oversized_body_is_a_413(staff_api, world, method, path, wrong_type, valid):
    filler = b"x" * (settings.OMNISHOP_API_MAX_BODY + 1)
    response = send(staff_api, method, path.format(**world), b'{"name": "' + filler + b'"}')
    assert_envelope(response, 413, "payload_too_large")


@pytest.mark.parametrize(("method", "path", "wrong_type", "valid"), WRITES)
def test_a_non_object_body_and_a_non_json_content_type_are_refused(
    staff_api, world, method, path, wrong_type, valid
):
    assert send(staff_api, method, path.format(**world), b"[1, 2]").status_code == 422
    assert_envelope(
        send(staff_api, method, path.format(**world), b"a=b", "text/plain"), 415, "unsupported_media_type"
    )


@pytest.mark.parametrize("path", READS)
def test_unknown_ids_are_404s_with_a_specific_code(staff_api, world, path):
    response = staff_api.get(path.format(**{k: 987654 for k in world}))
    assert response.status_code == 404
    assert response.json()["error"]["code"].endswith("_not_found")
    deleted = staff_api.delete(path.format(**{k: 987654 for k in world}))
    assert deleted.status_code == 404


@pytest.mark.parametrize("path", READS)
def test_a_non_numeric_id_is_a_422(staff_api, world, path):
    assert_envelope(staff_api.get(path.format(**{k: "abc" for k in world})), 422, "validation_error")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "validation_error"),
        ({"limit": "lots"}, "validation_error"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"ordering": "secret_field"}, "invalid_ordering"),
    ],
)
def test_bad_list_parameters_are_422s(staff_api, world, path, params, code):
    assert_envelope(staff_api.get(path, params), 422, code)


def test_a_bad_update_time_filter_is_a_422(staff_api, world):
    assert_envelope(
        staff_api.get("/catalog/products", {"updated_since": "yesterday"}), 422, "validation_error"
    )
    assert_envelope(staff_api.get("/catalog/variants", {"gtin": "123"}), 422, "invalid_gtin")


HUGE = 2**70  # past what a 64-bit id column or a 32-bit count can hold


@pytest.mark.parametrize("path", READS)
def test_an_id_too_large_for_the_database_is_a_422_not_a_500(staff_api, world, path):
    assert_envelope(staff_api.get(path.format(**{k: HUGE for k in world})), 422, "validation_error")


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("post", "/catalog/products", b'{"title": "x", "category_id": %d}' % HUGE),
        (
            "post",
            "/catalog/products",
            b'{"title": "x", "variants": [{"sku": "A", "weight_grams": %d}]}' % HUGE,
        ),
        (
            "post",
            "/catalog/channels/web/listings/bulk",
            b'{"listings": [{"variant_id": %d, "price": "1"}]}' % HUGE,
        ),
        (
            "post",
            "/catalog/supplier-offers",
            b'{"supplier_id": 1, "variant_id": 1, "cost": "1", "pack_size": %d}' % HUGE,
        ),
        ("patch", "/catalog/categories/{category}", b'{"position": %d}' % HUGE),
    ],
)
def test_numbers_too_large_for_the_database_are_422s(staff_api, world, method, path, raw):
    before = counts()
    assert_envelope(send(staff_api, method, path.format(**world), raw), 422, "validation_error")
    assert counts() == before


@pytest.mark.parametrize("price", ["1e20", "99999999999.00", "1E+30", "-1E+30"])
def test_a_price_too_large_for_the_column_is_refused(staff_api, world, price):
    response = staff_api.put(f"/catalog/channels/web/listings/{world['listing']}", {"price": price})
    assert_envelope(response, 422, "invalid_amount")
    large_cost = staff_api.patch(f"/catalog/supplier-offers/{world['offer']}", {"cost": price})
    assert_envelope(large_cost, 422, "invalid_amount")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/catalog/products", {"title": "Hoo\x00die"}),
        ("post", "/catalog/products", {"title": "x", "attributes": {"material\x00": "cotton"}}),
        ("patch", "/catalog/variants/{variant}", {"title": "M\x00"}),
        ("post", "/catalog/suppliers", {"code": "b", "name": "B\x00"}),
    ],
)
def test_nul_characters_are_refused_on_every_database(staff_api, world, method, path, body):
    before = counts()
    assert_envelope(
        send(staff_api, method, path.format(**world), orjson.dumps(body)), 422, "validation_error"
    )
    assert counts() == before


def test_a_nul_character_in_a_search_is_a_422(staff_api, world):
    assert_envelope(staff_api.get("/catalog/products", {"q": "a\x00b"}), 422, "validation_error")
    assert_envelope(staff_api.get("/catalog/channels/we%00b/listings"), 404, "not_found")
