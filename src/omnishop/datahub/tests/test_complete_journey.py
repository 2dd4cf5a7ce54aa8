"""The Complete Journey grocery panel (Parquet): the product master with no product names, and baskets that
become past orders — with the README's problems: quantity-0 lines, orphan products, fuel quantities,
naive US Eastern timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from omnishop.catalog.models import Product, Variant
from omnishop.customers.models import ChannelIdentity
from omnishop.datahub import services
from omnishop.datahub.models import QuarantinedRow, StagedDocument
from omnishop.orders.models import Order, OrderLine

from .conftest import dataset

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pc = pytest.importorskip("pyarrow.compute")

pytestmark = pytest.mark.django_db

LINES = 3000
HELD_BACK = 1082185  # a product of the first baskets, imported only later (an "orphan" until then)
FUEL = 6534178  # gasoline: quantity 8,725 for $20.06 in basket 31198770125


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """Real slices: the first 3,000 transaction lines, and the products they name (plus two products
    without a type), one of them held back."""
    folder = dataset("complete_journey")
    lines = pq.ParquetFile(folder / "transactions_weeks01-39.parquet")
    first = pa.Table.from_batches([next(lines.iter_batches(batch_size=LINES))])
    products = pq.read_table(folder / "products.parquet")
    wanted = pa.array(sorted(set(first.column("product_id").to_pylist()) | {26081, 47237}))
    named = products.filter(pc.is_in(products.column("product_id"), wanted))
    out = tmp_path_factory.mktemp("cj")
    held = pc.equal(named.column("product_id"), HELD_BACK)
    pq.write_table(first, out / "transactions.parquet")
    pq.write_table(named.filter(pc.invert(held)), out / "products.parquet")
    pq.write_table(named.filter(held), out / "held_back.parquet")
    return out


@pytest.fixture
def grocery(make_channel):
    return make_channel("grocery", "pos_store", "USD", country="US")


def test_products_without_names_get_namespaced_skus_and_fallback_titles(run_import, panel):
    job = run_import("complete_journey_products", panel / "products.parquet")
    assert job.format == "parquet" and job.quarantined == 0 and job.imported == job.rows_read > 500
    ice = Variant.objects.get(sku="CJ-26081").product  # no category, no type: the department
    assert ice.title == "MISCELLANEOUS"
    socks = Variant.objects.get(sku="CJ-47237").product  # no type: the category
    assert socks.title == "HOSIERY/SOCKS"
    assert socks.attributes["brand_type"] == "National" and socks.attributes["manufacturer_id"] == "1411"
    assert socks.category.name == "DRUG GM"
    assert not Variant.objects.filter(sku="47237").exists()  # never the bare id: another channel's SKU
    # Near-duplicate departments are different counters in the store: kept apart, as published.
    departments = set(Product.objects.values_list("category__name", flat=True))
    assert {"MEAT", "MEAT-PCKGD"} <= departments
    # Titles repeat (many products are "SOFT DRINKS 12/18&15PK CAN CAR"): never merged by title.
    assert Product.objects.count() == job.imported
    again = run_import("complete_journey_products", panel / "products.parquet")
    assert again.unchanged == job.imported


def test_baskets_become_orders_of_the_households_with_the_panels_problems_handled(run_import, panel, grocery):
    run_import("complete_journey_products", panel / "products.parquet")
    job = run_import("complete_journey_transactions", panel / "transactions.parquet", channel=grocery)
    assert job.rows_read == LINES
    reasons = {}
    for row in job.quarantined_rows.all():
        for reason in row.reasons:
            reasons.setdefault(f"{reason['field']}:{reason['code']}", []).append(row)
    # Quantity 0 (coupon lines, meaning undocumented) and products missing from the master wait in quarantine.
    assert set(reasons) == {"quantity:zero_quantity", "sku:unknown_product"}
    held = [r for r in reasons["sku:unknown_product"] if str(r.raw["product_id"]) == str(HELD_BACK)]
    assert held
    baskets = set(StagedDocument.objects.values_list("document_no", flat=True))
    orders = Order.objects.filter(channel=grocery)
    assert orders.count() == len(baskets) > 100
    # One basket = one household's order; households are the channel's customer ids.
    fuel = OrderLine.objects.get(variant__sku=f"CJ-{FUEL}", order__external_id="31198770125")
    assert (fuel.quantity, fuel.line_total) == (8725, Decimal("20.0600"))  # kept as published
    order = fuel.order
    assert order.customer == ChannelIdentity.objects.get(channel=grocery, external_id="909").customer
    # 2017-01-01 14:23:15 US Eastern (EST, UTC-5)
    assert order.created_at == datetime(2017, 1, 1, 19, 23, 15, tzinfo=UTC)
    assert order.status == Order.Status.COMPLETED
    # A line with sales value 0 (the whole price taken off by the loyalty discount) is a free line.
    free = OrderLine.objects.get(order__external_id="31198840153", variant__sku="CJ-7138817")
    assert (free.quantity, free.line_total) == (1, Decimal("0.0000"))
    again = run_import("complete_journey_transactions", panel / "transactions.parquet", channel=grocery)
    assert again.unchanged == job.imported and Order.objects.filter(channel=grocery).count() == orders.count()


def test_an_orphan_line_joins_its_basket_once_its_product_is_imported(run_import, panel, grocery):
    run_import("complete_journey_products", panel / "products.parquet")
    job = run_import("complete_journey_transactions", panel / "transactions.parquet", channel=grocery)
    row = next(
        r
        for r in job.quarantined_rows.all()
        if str(r.raw["product_id"]) == str(HELD_BACK) and int(r.raw["quantity"]) > 0
    )
    basket = Order.objects.get(channel=grocery, external_id=str(row.raw["basket_id"]))
    before = basket.total
    assert not basket.lines.filter(sku=f"CJ-{HELD_BACK}").exists()
    run_import("complete_journey_products", panel / "held_back.parquet")
    resolved, _ = services.resubmit_quarantined(row=row)
    assert resolved.status == QuarantinedRow.Status.RESOLVED
    basket.refresh_from_db()
    line = basket.lines.get(sku=f"CJ-{HELD_BACK}")
    assert basket.total == before + line.line_total
    assert basket.events.filter(kind="reimported").exists()
