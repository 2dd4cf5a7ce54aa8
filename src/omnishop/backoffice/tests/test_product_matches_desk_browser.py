"""The product matches desk in a real browser: a merchandiser reviews a look-alike pair side by side, merges
it, then undoes the merge from the same page — axe-core on the queue and on the merges table."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from omnishop.catalog.models import Variant
from omnishop.datahub.models import ProductMerge
from omnishop.datahub.tests.conftest import datahub_dirs, retail_channel, run_import  # noqa: F401 (fixtures)
from omnishop.datahub.tests.test_product_matching import (  # noqa: F401 (fixtures)
    apparel,
    catalog_rows,
    marketplace,
)
from omnishop.testing_browser import assert_accessible, screenshot

from .test_home import staff_in
from .test_product_matches_desk import URL, queued  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=30_000)  # the shared test machine is often busy


def test_a_merchandiser_merges_a_look_alike_and_undoes_it(browser_page, live_server, queued):  # noqa: F811
    _, shirt, other = queued
    before = catalog_rows()
    staff_in("merchandiser", username="mona", password="correct horse 42")
    page = browser_page("desktop")
    page.set_default_timeout(30_000)
    page.goto(f"/admin/login/?next={URL}")
    page.get_by_label("Username").fill("mona")
    page.get_by_label("Password").fill("correct horse 42")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{URL}")

    pair = page.get_by_role("region", name=f"Products {shirt.pk} and {other.pk}")
    expect(pair.get_by_text("Bargain Basement", exact=True)).to_be_visible()
    expect(pair.get_by_text("partners-demo", exact=True)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "backoffice-product-matches")

    pair.get_by_role("button", name=f"Merge {other.pk} into {shirt.pk}").click()
    expect(page.get_by_text(f"Product {other.pk} merged into {shirt.pk}")).to_be_visible()
    expect(page.get_by_text("No product pairs to review.")).to_be_visible()
    merge = ProductMerge.objects.get()
    merges = page.get_by_role("region", name="Merges")
    expect(merges.get_by_role("row", name=f"{merge.pk} ")).to_contain_text("Ocean Blue Shirt")
    assert_accessible(page)

    merges.get_by_role("button", name=f"Undo merge {merge.pk}").click()
    expect(page.get_by_text(f"Merge {merge.pk} undone")).to_be_visible()
    assert Variant.objects.get(sku="OBS-B").product_id == other.pk and catalog_rows() == before
