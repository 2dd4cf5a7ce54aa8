"""The two operations the back-office stock desk added: editing a draft purchase order's quantities, and
reviewing a cycle count's differences before it is posted."""

from __future__ import annotations

import pytest

from omnishop.core.errors import InvalidTransition, ValidationFailed
from omnishop.inventory import services
from omnishop.inventory.errors import InvalidQuantity
from omnishop.inventory.models import StockMovement

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(warehouse, make_variant, make_offer):
    mug, cup = make_variant("MUG"), make_variant("CUP")
    offer = make_offer(mug, "potter")
    make_offer(cup, "potter")
    return services.create_purchase_order(
        supplier=offer.supplier,
        location=warehouse,
        lines=[services.OrderLine("MUG", 10), services.OrderLine("CUP", 5)],
    )


def test_a_draft_purchase_orders_quantities_can_be_changed_line_by_line(draft):
    services.change_draft_quantities(order=draft, quantities={"MUG": 12})
    assert {x.variant.sku: x.quantity for x in draft.lines.all()} == {"MUG": 12, "CUP": 5}


def test_a_sent_purchase_order_cannot_be_edited(draft):
    services.send_purchase_order(order=draft)
    with pytest.raises(InvalidTransition):
        services.change_draft_quantities(order=draft, quantities={"MUG": 12})
    assert draft.lines.get(variant__sku="MUG").quantity == 10


def test_editing_refuses_zero_quantities_and_skus_not_on_the_order(draft):
    with pytest.raises(InvalidQuantity):
        services.change_draft_quantities(order=draft, quantities={"MUG": 0})
    with pytest.raises(ValidationFailed) as refused:
        services.change_draft_quantities(order=draft, quantities={"MUG": 3, "TEA": 1})
    assert refused.value.details["sku"] == "TEA"
    assert draft.lines.get(variant__sku="MUG").quantity == 10  # all or nothing


def test_count_review_shows_expected_counted_and_difference_and_books_nothing(warehouse, make_variant, stock):
    mug = make_variant("MUG")
    make_variant("CUP")  # never stocked here: expected 0
    stock(mug, warehouse, 10)
    count = services.start_count(location=warehouse)
    review = services.review_count(
        count=count, lines=[services.SkuQuantity("MUG", 8), services.SkuQuantity("CUP", 2)]
    )
    assert [(r.sku, r.expected, r.counted, r.difference) for r in review] == [
        ("MUG", 10, 8, -2),
        ("CUP", 0, 2, 2),
    ]
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.CYCLE_COUNT).exists()
    count = services.complete_count(count=count, lines=[services.SkuQuantity("MUG", 8)])
    with pytest.raises(InvalidTransition):
        services.review_count(count=count, lines=[services.SkuQuantity("MUG", 8)])
    assert_books_balance()


def test_a_purchase_order_gets_its_number_whatever_the_size_of_the_ids(make_location, make_variant):
    # Regression: the placeholder number embedded the supplier's and location's ids and overflowed the
    # 30-character column once ids grew (seen on PostgreSQL, whose sequences are not reset between tests).
    from omnishop.catalog.models import Supplier, SupplierOffer

    supplier = Supplier.objects.create(pk=2_000_000_000, code="far-away", name="Far away")
    template = make_location("template")
    location = type(template).objects.create(
        pk=2_000_000_001, code="big-ids", name="Big ids", kind=template.kind
    )
    mug = make_variant("MUG-BIG")
    SupplierOffer.objects.create(
        supplier=supplier, variant=mug, cost="2.50", currency="GBP", is_preferred=True
    )
    order = services.create_purchase_order(
        supplier=supplier, location=location, lines=[services.OrderLine("MUG-BIG", 3)]
    )
    assert order.number == f"PO-{order.pk:06d}"
