"""Data migrations of the inventory context, run on rows written before them."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from omnishop.inventory.models import PurchaseOrderLine, PurchaseOrderReceipt

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("inventory", "0003_till_oversold")]
AFTER = [("inventory", "0004_landed_cost")]


@pytest.fixture(autouse=True)
def back_to_the_latest_schema():
    """Migrating inventory back to 0003 also unapplies every later migration that depends on it (core's
    outbox trigger and rate counters, inventory 0005+, …): the tests after this one need them back."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_lines_and_receipts_booked_before_landed_costs_land_at_their_unit_cost():
    old = migrate(BEFORE)
    try:
        product = old.get_model("catalog", "Product").objects.create(title="Mug", slug="mug")
        variant = old.get_model("catalog", "Variant").objects.create(product=product, sku="MUG")
        supplier = old.get_model("catalog", "Supplier").objects.create(code="potter", name="Potter")
        location = old.get_model("inventory", "StockLocation").objects.create(code="wh", name="Warehouse")
        order = old.get_model("inventory", "PurchaseOrder").objects.create(
            number="PO-1", supplier=supplier, location=location, currency="GBP", status="partially_received"
        )
        line = old.get_model("inventory", "PurchaseOrderLine").objects.create(
            purchase_order=order, variant=variant, quantity=10, received=4, unit_cost=Decimal("2.1250")
        )
        movement = old.get_model("inventory", "StockMovement").objects.create(
            variant=variant, location=location, kind="receipt", quantity=4
        )
        old.get_model("inventory", "PurchaseOrderReceipt").objects.create(
            line=line, key="dn", quantity=4, movement=movement
        )
    finally:
        migrate(AFTER)
    line = PurchaseOrderLine.objects.get()
    receipt = PurchaseOrderReceipt.objects.get()
    assert (line.unit_cost, line.landed_unit_cost) == (Decimal("2.1250"), Decimal("2.1250"))
    assert (receipt.landed_unit_cost, receipt.extra_charge) == (Decimal("2.1250"), Decimal(0))
