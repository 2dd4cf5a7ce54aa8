"""Retried creates never create twice, and list endpoints cost the same number of queries for any page."""

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from omnishop.catalog import services
from omnishop.catalog.models import (
    Attribute,
    Category,
    ChannelListing,
    Product,
    ProductImage,
    Supplier,
    SupplierOffer,
    Variant,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ids(web_channel, hoodie, supplier):
    return {"product": hoodie.pk, "variant": hoodie.variants.first().pk, "supplier": supplier.pk}


CREATES = [
    ("/catalog/categories", lambda ids: {"name": "Men"}, Category),
    ("/catalog/attributes", lambda ids: {"code": "size", "name": "Size"}, Attribute),
    ("/catalog/products", lambda ids: {"title": "Tee", "variants": [{"sku": "TEE-1"}]}, Product),
    ("/catalog/products/{product}/variants", lambda ids: {"sku": "HOOD-XL"}, Variant),
    ("/catalog/products/{product}/images", lambda ids: {"url": "https://x.example/a.jpg"}, ProductImage),
    ("/catalog/suppliers", lambda ids: {"code": "bolt", "name": "Bolt"}, Supplier),
    (
        "/catalog/supplier-offers",
        lambda ids: {"supplier_id": ids["supplier"], "variant_id": ids["variant"], "cost": "1.25"},
        SupplierOffer,
    ),
    (
        "/catalog/channels/web/listings/bulk",
        lambda ids: {"listings": [{"variant_id": ids["variant"], "price": "9.99"}]},
        ChannelListing,
    ),
]


@pytest.mark.parametrize(("path", "body", "model"), CREATES)
def test_a_retried_create_is_replayed_not_repeated(staff_api, ids, path, body, model):
    before = model.objects.count()
    headers = {"Idempotency-Key": f"retry-{path}"}
    first = staff_api.post(path.format(**ids), body(ids), headers=headers)
    again = staff_api.post(path.format(**ids), body(ids), headers=headers)
    assert first.status_code in (200, 201), first.content
    assert again.status_code == first.status_code and again["Idempotent-Replayed"] == "true"
    assert orjson.loads(again.content) == orjson.loads(first.content)
    assert model.objects.count() == before + 1


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, {"limit": 200})
    assert response.status_code == 200, response.content
    return len(captured)


def _grow(web_channel, supplier, n, *, prefix):
    """n products with 3 variants, an image, a listing and an offer per variant."""
    for i in range(n):
        product = services.create_product(
            title=f"{prefix} {i}",
            variants=[services.NewVariant(sku=f"{prefix}{i}-{s}") for s in "ABC"],
            images=[services.NewImage(url=f"https://x.example/{prefix}{i}.jpg")],
        )
        for v in product.variants.all():
            services.upsert_listing(channel=web_channel, variant=v, price="3.00")
            services.create_offer(supplier=supplier, variant=v, cost="1")


@pytest.mark.parametrize(
    "path",
    ["/catalog/products", "/catalog/variants", "/catalog/channels/web/listings", "/catalog/supplier-offers"],
)
def test_list_endpoints_do_not_query_per_row(staff_api, web_channel, supplier, path):
    _grow(web_channel, supplier, 2, prefix="F")
    staff_api.get(path)  # the first request loads the session and user once
    few = _queries(staff_api, path)
    _grow(web_channel, supplier, 8, prefix="M")
    assert _queries(staff_api, path) == few
