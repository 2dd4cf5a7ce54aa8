"""The category tree: materialised paths, moves that rewrite whole subtrees, and no cycles."""

import pytest

from omnishop.catalog import services
from omnishop.catalog.errors import CategoryCycle, DuplicateCategory
from omnishop.catalog.models import Category, Product
from omnishop.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree():
    men = services.create_category(name="Men")
    tops = services.create_category(name="Tops", parent=men)
    hoodies = services.create_category(name="Hoodies", parent=tops)
    zip_ups = services.create_category(name="Zip ups", slug="zip-ups", parent=hoodies)
    sale = services.create_category(name="Sale")
    return {"men": men, "tops": tops, "hoodies": hoodies, "zip_ups": zip_ups, "sale": sale}


def paths():
    return sorted(Category.objects.values_list("path", flat=True))


def test_a_node_path_lists_its_ancestors_slugs(tree):
    assert tree["zip_ups"].path == "men/tops/hoodies/zip-ups"


def test_moving_a_node_rewrites_the_paths_of_its_whole_subtree(tree):
    services.update_category(category=tree["tops"], parent=tree["sale"])
    assert paths() == ["men", "sale", "sale/tops", "sale/tops/hoodies", "sale/tops/hoodies/zip-ups"]


def test_renaming_a_slug_rewrites_descendants_but_not_lookalike_siblings(tree):
    services.create_category(name="Tops extra", slug="tops-extra", parent=tree["men"])
    services.update_category(category=tree["tops"], slug="shirts")
    assert paths() == [
        "men",
        "men/shirts",
        "men/shirts/hoodies",
        "men/shirts/hoodies/zip-ups",
        "men/tops-extra",
        "sale",
    ]


def test_moving_a_node_under_its_own_descendant_is_refused_and_changes_nothing(tree, staff_api):
    before = paths()
    response = staff_api.patch(f"/catalog/categories/{tree['men'].pk}", {"parent_id": tree["hoodies"].pk})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "category_cycle"
    assert response.json()["error"]["field"] == "parent_id"
    assert paths() == before


def test_a_node_cannot_become_its_own_parent(tree):
    with pytest.raises(CategoryCycle) as info:
        services.update_category(category=tree["tops"], parent=tree["tops"])
    assert info.value.code == "category_cycle"


def test_moving_to_the_root_through_the_api(tree, staff_api):
    response = staff_api.patch(f"/catalog/categories/{tree['hoodies'].pk}", {"parent_id": None})
    assert response.status_code == 200, response.content
    assert response.json()["path"] == "hoodies"
    assert Category.objects.get(pk=tree["zip_ups"].pk).path == "hoodies/zip-ups"


def test_the_same_slug_twice_under_one_parent_is_a_conflict_but_fine_elsewhere(tree, staff_api):
    clash = staff_api.post("/catalog/categories", {"name": "Tops", "parent_id": tree["men"].pk})
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "duplicate_category"
    elsewhere = staff_api.post("/catalog/categories", {"name": "Tops", "parent_id": tree["sale"].pk})
    assert elsewhere.status_code == 201
    assert elsewhere.json()["path"] == "sale/tops"


def test_a_move_onto_an_existing_path_is_a_conflict(tree):
    services.create_category(name="Hoodies", parent=tree["sale"])
    with pytest.raises(DuplicateCategory):
        services.update_category(category=tree["hoodies"], parent=tree["sale"])
    assert Category.objects.get(pk=tree["zip_ups"].pk).path == "men/tops/hoodies/zip-ups"


def test_a_category_with_subcategories_cannot_be_deleted(tree, staff_api):
    response = staff_api.delete(f"/catalog/categories/{tree['tops'].pk}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "category_not_empty"


def test_deleting_a_leaf_leaves_its_products_uncategorised(tree, staff_api, make_product):
    product = make_product(category=tree["zip_ups"])
    assert staff_api.delete(f"/catalog/categories/{tree['zip_ups'].pk}").status_code == 204
    assert Product.objects.get(pk=product.pk).category is None


def test_unknown_parent_is_a_404_with_its_field(staff_api):
    response = staff_api.post("/catalog/categories", {"name": "Orphan", "parent_id": 999})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "category_not_found"
    assert response.json()["error"]["field"] == "parent_id"


def test_product_filter_by_category_includes_its_subtree(tree, staff_api, make_product):
    in_zip = make_product("Zip hoodie", category=tree["zip_ups"])
    in_tops = make_product("Tee", category=tree["tops"])
    make_product("Sale sock", category=tree["sale"])
    response = staff_api.get("/catalog/products", {"category": tree["tops"].pk})
    assert sorted(p["id"] for p in response.json()["items"]) == sorted([in_zip.pk, in_tops.pk])
    missing = staff_api.get("/catalog/products", {"category": 999})
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "category"


def test_category_list_walks_the_tree_in_path_order_page_by_page(tree, staff_api):
    first = staff_api.get("/catalog/categories", {"limit": 3}).json()
    second = staff_api.get("/catalog/categories", {"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [c["path"] for c in first["items"] + second["items"]] == paths()
    assert second["next_cursor"] is None
    within = staff_api.get("/catalog/categories", {"within": tree["tops"].pk}).json()["items"]
    assert [c["path"] for c in within] == ["men/tops", "men/tops/hoodies", "men/tops/hoodies/zip-ups"]


def test_a_move_that_would_make_a_descendant_path_too_long_changes_nothing(tree):
    deep = tree["zip_ups"]
    for n in range(9):  # ~9 × 100 characters below zip-ups
        deep = services.create_category(name=f"L{n}", slug=f"{n}" * 99, parent=deep)
    long_parent = services.create_category(name="Long", slug="x" * 100)
    before = paths()
    with pytest.raises(ValidationFailed) as info:
        services.update_category(category=tree["tops"], parent=long_parent)
    assert info.value.field == "slug" and "1000" in info.value.message
    assert paths() == before
