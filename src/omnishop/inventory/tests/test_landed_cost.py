"""Landed cost on purchasing: a purchase order line drafted from a supplier offer carries the offer's freight
and duty, each receipt records the landed unit cost it was received at (plus its share of a delivery's
extra charge), and the stock's moving weighted-average cost per variant and location follows the receipts
— in one currency, never mixed."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnishop.catalog.models import Supplier
from omnishop.core.errors import DomainError
from omnishop.inventory import services
from omnishop.inventory.models import (
    PurchaseOrder,
    PurchaseOrderReceipt,
    StockLevel,
    StockMovement,
    StockValuation,
)
from omnishop.testing import search_settings

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def mug(make_variant, make_offer):
    """MUG from the potter: 2.00 a unit, 0.25 freight a unit, 10 % duty → 2.45 landed."""
    variant = make_variant("MUG")
    make_offer(variant, "potter", cost=D("2.0000"), freight_per_unit=D("0.2500"), duty_percent=D("10"))
    return variant


@pytest.fixture
def potter(mug):
    return Supplier.objects.get(code="potter")


def order(potter, warehouse, *lines, send=True):
    po = services.create_purchase_order(
        supplier=potter, location=warehouse, lines=[services.OrderLine(*x) for x in lines]
    )
    return services.send_purchase_order(order=po) if send else po


def receive(po, *lines, extra_charge=None):
    return services.receive_purchase_order(
        order=po, lines=[services.ReceiptLine(*x) for x in lines], extra_charge=extra_charge
    )


def valuation(variant, location) -> StockValuation:
    return StockValuation.objects.get(variant=variant, location=location)


def test_a_line_drafted_from_an_offer_records_the_offers_landed_unit_cost(
    potter, warehouse, mug, make_variant
):
    plain = make_variant("PLAIN")  # no offer: the buyer types the cost, nothing lands on top of it
    po = order(potter, warehouse, ("MUG", 10), ("PLAIN", 3, D("4.1000")), send=False)
    lines = {x.variant.sku: x for x in po.lines.select_related("variant")}
    assert (lines["MUG"].unit_cost, lines["MUG"].landed_unit_cost) == (D("2.0000"), D("2.4500"))
    assert (lines["PLAIN"].unit_cost, lines["PLAIN"].landed_unit_cost) == (D("4.1000"), D("4.1000"))
    assert plain.pk == lines["PLAIN"].variant_id


def test_a_negotiated_unit_cost_still_carries_the_offers_freight_and_duty(potter, warehouse, mug):
    po = order(potter, warehouse, ("MUG", 10, D("1.8000")), send=False)
    line = po.lines.get()
    # 1.80 + 0.25 freight + 10 % of 1.80 duty
    assert (line.unit_cost, line.landed_unit_cost) == (D("1.8000"), D("2.2300"))


def test_editing_draft_quantities_keeps_the_landed_unit_cost(potter, warehouse, mug):
    po = order(potter, warehouse, ("MUG", 10), send=False)
    services.change_draft_quantities(order=po, quantities={"MUG": 24})
    line = po.lines.get()
    assert (line.quantity, line.landed_unit_cost) == (24, D("2.4500"))


def test_an_offer_in_another_currency_than_the_order_is_refused_not_mixed(
    warehouse, make_variant, make_offer
):
    vase = make_variant("VASE")
    offer = make_offer(vase, "glassworks", cost=D("3.0000"), currency="EUR", freight_per_unit=D("0.10"))
    supplier = offer.supplier  # the supplier trades in GBP; this offer is in EUR
    with pytest.raises(DomainError) as refused:
        services.create_purchase_order(
            supplier=supplier, location=warehouse, lines=[services.OrderLine("VASE", 1)]
        )
    assert (refused.value.code, refused.value.field) == ("currency_mismatch", "lines[0].unit_cost")
    with pytest.raises(DomainError) as typed:  # a GBP cost cannot take on EUR freight either
        services.create_purchase_order(
            supplier=supplier, location=warehouse, lines=[services.OrderLine("VASE", 1, D("2.5000"))]
        )
    assert typed.value.code == "currency_mismatch"
    assert PurchaseOrder.objects.count() == 0


def test_partial_receipts_keep_a_moving_weighted_average_landed_cost(potter, warehouse, mug):
    first = order(potter, warehouse, ("MUG", 10))
    receive(first, ("MUG", 4, "DN-1"))
    assert PurchaseOrderReceipt.objects.get(key="DN-1").landed_unit_cost == D("2.4500")
    v = valuation(mug, warehouse)
    assert (v.currency, v.quantity, v.average_cost) == ("GBP", 4, D("2.4500"))

    second = order(potter, warehouse, ("MUG", 6, D("3.0000")))  # 3.00 + 0.25 + 0.30 = 3.55 landed
    receive(second, ("MUG", 6, "DN-2"))
    v.refresh_from_db()
    assert (v.quantity, v.average_cost) == (10, D("3.1100"))  # (4 × 2.45 + 6 × 3.55) / 10

    receive(first, ("MUG", 4, "DN-1"))  # a repeated delivery note moves nothing, the average included
    v.refresh_from_db()
    assert (v.quantity, v.average_cost) == (10, D("3.1100"))

    receive(first, ("MUG", 6, "DN-3"))  # the rest of the first order, still at its own landed cost
    v.refresh_from_db()
    assert (v.quantity, v.value, v.average_cost) == (16, D("45.8000"), D("2.8625"))
    assert_books_balance()


def test_units_sold_in_between_leave_at_the_average_and_do_not_weigh_on_the_next_receipt(
    potter, warehouse, mug
):
    receive(order(potter, warehouse, ("MUG", 10)), ("MUG", 10, "a"))
    services.adjust_stock(variant=mug, location=warehouse, delta=-6, reason_code="lost")
    receive(order(potter, warehouse, ("MUG", 4, D("3.0000"))), ("MUG", 4, "b"))
    v = valuation(mug, warehouse)
    # 4 left at 2.45 and 4 new at 3.55 (not the 14 ever received: that would be 2.7643)
    assert (v.quantity, v.average_cost) == (8, D("3.0000"))


def test_uncosted_stock_already_on_hand_is_taken_at_the_first_landed_cost(potter, warehouse, mug, stock):
    stock(mug, warehouse, 5)  # opening stock, received without a cost
    receive(order(potter, warehouse, ("MUG", 5)), ("MUG", 5, "a"))
    v = valuation(mug, warehouse)
    assert (v.quantity, v.value, v.average_cost) == (10, D("24.5000"), D("2.4500"))


def test_a_deliverys_extra_charge_is_spread_over_its_lines_by_value(
    potter, warehouse, mug, make_variant, make_offer
):
    cup = make_variant("CUP")
    make_offer(cup, "potter", cost=D("1.0000"))
    po = order(potter, warehouse, ("MUG", 10), ("CUP", 20))
    # Values: MUG 10 × 2.45 = 24.50, CUP 20 × 1.00 = 20.00; a 8.90 shipment charge splits 4.90 / 4.00.
    receive(po, ("MUG", 10, "a"), ("CUP", 20, "a"), extra_charge=D("8.90"))
    mug_receipt = PurchaseOrderReceipt.objects.get(line__variant=mug)
    cup_receipt = PurchaseOrderReceipt.objects.get(line__variant=cup)
    assert (mug_receipt.extra_charge, mug_receipt.landed_unit_cost) == (D("4.9000"), D("2.9400"))
    assert (cup_receipt.extra_charge, cup_receipt.landed_unit_cost) == (D("4.0000"), D("1.2000"))
    assert valuation(cup, warehouse).average_cost == D("1.2000")


def test_an_extra_charge_is_allocated_to_the_last_ten_thousandth(
    potter, warehouse, mug, make_variant, make_offer
):
    others = [make_variant(f"S{n}") for n in range(3)]
    for variant in others:
        make_offer(variant, "potter", cost=D("1.0000"))
    po = order(potter, warehouse, ("S0", 1), ("S1", 1), ("S2", 1))
    # Equal values, so 1.0000 splits 0.3334 / 0.3333 / 0.3333: nothing lost, nothing made up.
    receive(po, ("S0", 1, "a"), ("S1", 1, "a"), ("S2", 1, "a"), extra_charge=D("1"))
    shares = sorted(PurchaseOrderReceipt.objects.values_list("extra_charge", flat=True))
    assert shares == [D("0.3333"), D("0.3333"), D("0.3334")] and sum(shares) == D(1)


def test_an_extra_charge_on_free_goods_is_spread_by_quantity(warehouse, make_variant, make_offer):
    sample = make_variant("SAMPLE")
    offer = make_offer(sample, "potter", cost=D("0"))
    po = services.send_purchase_order(
        order=services.create_purchase_order(
            supplier=offer.supplier, location=warehouse, lines=[services.OrderLine("SAMPLE", 4)]
        )
    )
    receive(po, ("SAMPLE", 4, "a"), extra_charge=D("2.00"))
    assert PurchaseOrderReceipt.objects.get().landed_unit_cost == D("0.5000")


def test_an_extra_charge_with_nothing_new_to_receive_is_booked_nowhere(potter, warehouse, mug):
    po = order(potter, warehouse, ("MUG", 10))
    receive(po, ("MUG", 4, "a"))
    receive(po, ("MUG", 4, "a"), extra_charge=D("5.00"))  # the same delivery note again
    assert PurchaseOrderReceipt.objects.get().extra_charge == D(0)
    assert valuation(mug, warehouse).average_cost == D("2.4500")


def test_a_negative_extra_charge_is_refused(potter, warehouse, mug):
    po = order(potter, warehouse, ("MUG", 10))
    with pytest.raises(DomainError) as refused:
        receive(po, ("MUG", 4, "a"), extra_charge=D("-1"))
    assert (refused.value.code, refused.value.field) == ("invalid_amount", "extra_charge")


def test_receiving_into_a_valuation_held_in_another_currency_is_refused(
    potter, warehouse, mug, make_offer, make_variant
):
    receive(order(potter, warehouse, ("MUG", 10)), ("MUG", 10, "a"))
    usd = Supplier.objects.create(code="yankee", name="Yankee Kilns", currency="USD")
    make_offer(mug, "yankee", cost=D("2.1000"), currency="USD", is_preferred=False)
    dollar_po = services.send_purchase_order(
        order=services.create_purchase_order(
            supplier=usd, location=warehouse, lines=[services.OrderLine("MUG", 5)]
        )
    )
    movements = StockMovement.objects.count()
    with pytest.raises(DomainError) as refused:
        receive(dollar_po, ("MUG", 5, "b"))
    assert (refused.value.code, refused.value.status) == ("valuation_currency_mismatch", 409)
    assert refused.value.details == {"sku": "MUG", "expected": "GBP", "got": "USD"}
    assert StockMovement.objects.count() == movements  # nothing booked, nothing revalued
    assert StockLevel.objects.get(variant=mug, location=warehouse).on_hand == 10
    assert valuation(mug, warehouse).currency == "GBP"
    dollar_po.refresh_from_db()
    assert dollar_po.status == PurchaseOrder.Status.SENT

    # Once no unit valued in pounds is left, the next receipt values the stock in its own currency.
    services.adjust_stock(variant=mug, location=warehouse, delta=-10, reason_code="damaged")
    receive(dollar_po, ("MUG", 5, "b"))
    v = valuation(mug, warehouse)
    assert (v.currency, v.quantity, v.average_cost) == ("USD", 5, D("2.1000"))


def test_the_api_carries_landed_costs_on_lines_and_receipts(staff_api, potter, warehouse, mug):
    created = staff_api.post(
        "/inventory/purchase-orders",
        {"supplier": "potter", "location": "main-wh", "lines": [{"sku": "MUG", "quantity": 10}]},
    )
    assert created.status_code == 201, created.content
    po = created.json()
    assert po["lines"] == [
        {
            "sku": "MUG",
            "quantity": 10,
            "received": 0,
            "unit_cost": "2.0000",
            "landed_unit_cost": "2.4500",
            "receipts": [],
        }
    ]
    staff_api.post(f"/inventory/purchase-orders/{po['id']}/send")
    received = staff_api.post(
        f"/inventory/purchase-orders/{po['id']}/receive",
        {"lines": [{"sku": "MUG", "quantity": 4, "key": "DN-1"}], "extra_charge": "1.00"},
    )
    assert received.status_code == 200, received.content
    (receipt,) = received.json()["lines"][0]["receipts"]
    assert {k: receipt[k] for k in ("key", "quantity", "extra_charge", "landed_unit_cost")} == {
        "key": "DN-1",
        "quantity": 4,
        "extra_charge": "1.0000",
        "landed_unit_cost": "2.7000",  # 2.45 + 1.00 / 4
    }
    stock = staff_api.get("/inventory/stock", {"sku": "MUG"}).json()["items"][0]
    assert (stock["average_cost"], stock["cost_currency"]) == ("2.7000", "GBP")
    bad = staff_api.post(
        f"/inventory/purchase-orders/{po['id']}/receive",
        {"lines": [{"sku": "MUG", "quantity": 1, "key": "DN-2"}], "extra_charge": "-1"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "extra_charge"


receipt_plans = st.lists(
    st.tuples(
        st.integers(1, 40),  # units
        st.decimals(min_value=0, max_value=D("999.9999"), places=4),  # unit cost
        st.decimals(min_value=0, max_value=D("25"), places=4),  # freight a unit
        st.decimals(min_value=0, max_value=D("150"), places=2),  # duty %
        st.booleans(),  # received in two parts
    ),
    min_size=1,
    max_size=6,
)


@search_settings("landed_cost")
@given(plan=receipt_plans)
def test_after_any_receipts_the_average_is_the_received_value_over_the_received_units(
    plan, make_variant, make_offer, warehouse
):
    variant = make_variant()  # a fresh SKU per example: its valuation starts empty
    received_value, received_units = D(0), 0
    for n, (units, cost, freight, duty, split) in enumerate(plan):
        offer = make_offer(
            variant,
            f"sup-{variant.pk}-{n}",
            cost=cost,
            freight_per_unit=freight,
            duty_percent=duty,
            is_preferred=False,
        )
        po = services.send_purchase_order(
            order=services.create_purchase_order(
                supplier=offer.supplier, location=warehouse, lines=[services.OrderLine(variant.sku, units)]
            )
        )
        parts = [units // 2, units - units // 2] if split and units > 1 else [units]
        for i, part in enumerate(parts):
            receive(po, (variant.sku, part, f"k{i}"))
        for receipt in PurchaseOrderReceipt.objects.filter(line__purchase_order=po):
            received_value += receipt.quantity * receipt.landed_unit_cost
            received_units += receipt.quantity
    v = valuation(variant, warehouse)
    assert v.quantity == received_units
    assert v.value == received_value
    assert v.average_cost == (received_value / received_units).quantize(D("0.0001"), rounding=ROUND_HALF_UP)
