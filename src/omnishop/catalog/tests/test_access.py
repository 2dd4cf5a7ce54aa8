"""Who may read and change the product master (categories, attributes, products, variants, images)."""

import pytest

from omnishop.catalog.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def callers(api, make_staff, make_key, web_channel, market_channel):
    return {
        "anonymous": lambda: api,
        "read key": lambda: api.with_key(make_key(web_channel, scopes=["catalog:read"])),
        "write key": lambda: api.with_key(make_key(market_channel, scopes=["catalog:read", "catalog:write"])),
        "master-data key": lambda: api.with_key(
            make_key(market_channel, scopes=["catalog:read", "catalog:write", "catalog:master"])
        ),
        "key without catalog scopes": lambda: api.with_key(make_key(web_channel, scopes=["orders:write"])),
        "staff without permission": lambda: make_staff("view_supplier"),
        "staff who may view": lambda: make_staff("view_product", "view_variant", "view_category"),
        "staff who may edit": lambda: make_staff(
            "view_product", "add_product", "change_product", "delete_product", "add_variant"
        ),
    }


MATRIX = [
    # caller, read products, create product, change product, delete product
    ("anonymous", 401, 401, 401, 401),
    ("read key", 200, 403, 403, 403),
    # An ordinary channel key adds to the shared master but cannot change or delete what every channel sees.
    ("write key", 200, 201, 403, 403),
    ("master-data key", 200, 201, 200, 204),
    ("key without catalog scopes", 403, 403, 403, 403),
    ("staff without permission", 403, 403, 403, 403),
    ("staff who may view", 200, 403, 403, 403),
    ("staff who may edit", 200, 201, 200, 204),
]


@pytest.mark.parametrize(("caller", "read", "create", "change", "delete"), MATRIX)
def test_who_may_read_and_change_products(callers, hoodie, caller, read, create, change, delete):
    client = callers[caller]()
    assert client.get("/catalog/products").status_code == read
    assert client.get(f"/catalog/products/{hoodie.pk}").status_code == read
    created = client.post("/catalog/products", {"title": "New", "variants": [{"sku": "NEW-1"}]})
    assert created.status_code == create
    assert Product.objects.filter(title="New").exists() == (create == 201)
    assert client.patch(f"/catalog/products/{hoodie.pk}", {"brand": "Changed"}).status_code == change
    assert Product.objects.get(pk=hoodie.pk).brand == ("Changed" if change == 200 else "Northwind")
    assert client.delete(f"/catalog/products/{hoodie.pk}").status_code == delete
    assert Product.objects.filter(pk=hoodie.pk).exists() == (delete != 204)


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous", 401), ("read key", 403), ("write key", 201), ("staff who may view", 403)],
)
def test_who_may_add_variants_and_categories(callers, hoodie, caller, status):
    client = callers[caller]()
    assert client.post(f"/catalog/products/{hoodie.pk}/variants", {"sku": "HOOD-XL"}).status_code == status
    assert client.post("/catalog/categories", {"name": "Men"}).status_code == status


def test_an_error_response_never_leaks_a_500_for_a_revoked_key(api, make_key, web_channel):
    from omnishop.channels.models import ApiKey
    from omnishop.channels.services import revoke_api_key

    secret = make_key(web_channel, scopes=["catalog:read"])
    revoke_api_key(api_key=ApiKey.objects.get())
    response = api.with_key(secret).get("/catalog/products")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_required"
