"""Stock counts per location go into the inventory ledger as corrections; the same counts again are a
no-op, and impossible counts wait in quarantine."""

from __future__ import annotations

import pytest

from omnishop.catalog.models import Product, Variant
from omnishop.inventory.models import StockLevel, StockMovement
from omnishop.inventory.services import create_location, receive_stock, verify_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(db):
    product = Product.objects.create(title="Mug", slug="mug")
    mug = Variant.objects.create(product=product, sku="MUG-1")
    Variant.objects.create(product=product, sku="MUG-2")
    london = create_location(code="london", name="London store", kind="retail_store")
    create_location(code="leeds", name="Leeds warehouse")
    receive_stock(variant=mug, location=london, quantity=10)
    return mug, london


def test_stock_counts_book_the_difference_and_a_second_import_changes_nothing(run_import, shelf):
    mug, london = shelf
    data = b"sku,location,on_hand\r\nMUG-1,London,7\r\nMUG-2,leeds,5\r\nMUG-9,leeds,1\r\nMUG-1,mars,1\r\n"
    job = run_import("stock_levels", data, name="counts.csv")
    assert (job.updated, job.imported, job.quarantined) == (1, 1, 2)
    assert StockLevel.objects.get(variant=mug, location=london).on_hand == 7
    assert StockLevel.objects.get(variant__sku="MUG-2", location__code="leeds").on_hand == 5
    assert StockMovement.objects.filter(actor=f"datahub:{job.pk}").count() == 2
    assert verify_ledger() == []
    codes = sorted(r.reasons[0]["code"] for r in job.quarantined_rows.all())
    assert codes == ["unknown_location", "unknown_sku"]
    again = run_import("stock_levels", data, name="counts.csv")
    assert (again.unchanged, again.updated, again.imported) == (2, 0, 0)
    assert StockLevel.objects.get(variant=mug, location=london).on_hand == 7


def test_a_negative_count_is_quarantined(run_import, shelf):
    job = run_import("stock_levels", b"sku,location,on_hand\r\nMUG-1,london,-3\r\n", name="counts.csv")
    assert job.quarantined == 1
    assert job.quarantined_rows.get().reasons[0]["code"] == "out_of_range"
