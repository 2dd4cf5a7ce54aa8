"""The product matches desk: the data hub's product review queue side by side, merged or kept apart, and
every product merge undone exactly — through the data hub's services, by the roles that hold
`datahub.merge_product` (store manager, merchandiser) and no one else."""

from __future__ import annotations

import pytest

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.conftest import ApiClient
from omnishop.datahub.models import MatchCandidate, ProductMerge
from omnishop.datahub.tests.conftest import datahub_dirs, retail_channel, run_import  # noqa: F401 (fixtures)
from omnishop.datahub.tests.test_product_matching import (  # noqa: F401 (fixtures)
    OTHER_VENDOR,
    apparel,
    catalog_rows,
    marketplace,
    shopify,
)

from .test_home import signed_in, staff_in

pytestmark = pytest.mark.django_db
URL = "/admin/ops/products/matches/"


@pytest.fixture
def queued(run_import, apparel, marketplace):  # noqa: F811
    """A marketplace's same-titled shirt from another vendor: imported on its own and queued for review."""
    run_import("shopify_products", shopify(OTHER_VENDOR), channel=marketplace)
    candidate = MatchCandidate.objects.get(entity="product", status="open")
    return candidate, apparel, Product.objects.get(variants__sku="OBS-B")


def test_the_pair_is_shown_side_by_side_with_its_evidence(queued):
    _, shirt, other = queued
    page = signed_in(staff_in("merchandiser")).get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 product pair waits for a decision." in html
    assert f"Products {shirt.pk} and {other.pk}" in html
    assert "Bargain Basement" in html and "partners-demo" in html  # both brands, side by side
    assert "brand: conflicting (&#x27;partners-demo&#x27; / &#x27;Bargain Basement&#x27;)" in html
    assert f"Merge {other.pk} into {shirt.pk}" in html and f"Keep {shirt.pk} and {other.pk} apart" in html


def test_a_merge_accepted_on_the_desk_is_undone_exactly_from_it(queued, marketplace):  # noqa: F811
    candidate, shirt, other = queued
    before = catalog_rows()
    client = signed_in(staff_in("merchandiser"))
    done = client.post(URL, {"action": "merge", "candidate": candidate.pk}, follow=True)
    assert f"Product {other.pk} merged into {shirt.pk}" in done.content.decode()
    candidate.refresh_from_db()
    merge = ProductMerge.objects.get()
    assert candidate.status == "merged" and merge.kind == "review" and merge.candidate_id == candidate.pk
    assert ChannelListing.objects.get(channel=marketplace).variant.product_id == shirt.pk
    assert "No product pairs to review." in done.content.decode()
    assert f"Undo merge {merge.pk}" in done.content.decode()

    undone = client.post(URL, {"action": "undo", "merge": merge.pk}, follow=True)
    assert f"Merge {merge.pk} undone" in undone.content.decode()
    merge.refresh_from_db()
    assert merge.undone_at is not None and Variant.objects.get(sku="OBS-B").product_id == other.pk
    assert catalog_rows() == before  # every product, variant, listing and image row as it was
    again = client.post(URL, {"action": "undo", "merge": merge.pk}, follow=True)
    assert "merge_already_undone" in again.content.decode()


def test_keeping_a_pair_apart_changes_no_product_and_closes_the_pair(queued):
    candidate, shirt, other = queued
    before = catalog_rows()
    client = signed_in(staff_in("store_manager"))
    done = client.post(URL, {"action": "keep_apart", "candidate": candidate.pk}, follow=True)
    assert f"Products {shirt.pk} and {other.pk} kept apart" in done.content.decode()
    candidate.refresh_from_db()
    assert candidate.status == "rejected" and catalog_rows() == before and not ProductMerge.objects.exists()
    twice = client.post(URL, {"action": "keep_apart", "candidate": candidate.pk}, follow=True)
    assert "already decided" in twice.content.decode()


def test_only_roles_holding_the_product_merge_permission_see_the_queue_or_decide(queued):
    candidate, _, _ = queued
    for role in ("customer_service", "analyst", "warehouse", "finance"):
        client = signed_in(staff_in(role))
        assert client.get(URL).status_code == 403
        assert client.post(URL, {"action": "merge", "candidate": candidate.pk}).status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == "open"


def test_product_decisions_over_the_api_need_the_product_permission_not_the_customer_one(queued):
    candidate, _, _ = queued
    care = ApiClient(signed_in(staff_in("customer_service")))  # holds customers.merge_customer
    refused = care.post(f"/datahub/matches/{candidate.pk}/decision", {"merge": True})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    candidate.refresh_from_db()
    assert candidate.status == "open"
    merchandiser = ApiClient(signed_in(staff_in("merchandiser")))
    accepted = merchandiser.post(f"/datahub/matches/{candidate.pk}/decision", {"merge": True})
    assert accepted.status_code == 200 and accepted.json()["status"] == "merged"
    merge = ProductMerge.objects.get()
    assert care.post(f"/datahub/product-merges/{merge.pk}/undo").status_code == 403
    assert merchandiser.post(f"/datahub/product-merges/{merge.pk}/undo").status_code == 200


def test_the_product_matches_desk_in_chinese(queued):
    from .test_desks_i18n import chinese

    _, shirt, other = queued
    body = chinese(
        signed_in(staff_in("merchandiser")), URL, "商品匹配", "待审核", "1 对商品等待决定。", "合并记录"
    )
    assert f"保持 {shirt.pk} 和 {other.pk} 分开" in body
