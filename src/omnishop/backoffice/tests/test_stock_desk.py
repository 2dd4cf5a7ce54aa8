"""The stock desk through the Django test client: every operation, who may run it, its validation errors
shown beside the fields, its confirmation step, a second post that books nothing, and the ledger after."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from omnishop.catalog.models import Product, SupplierOffer, Variant
from omnishop.inventory import services as inventory
from omnishop.inventory.models import (
    CycleCount,
    LowStockAlert,
    PurchaseOrder,
    PurchaseOrderReceipt,
    StockLevel,
    StockMovement,
    Transfer,
)
from omnishop.orders import services as orders
from omnishop.orders.models import Order, ReturnRequest
from omnishop.payments import credit

from .stock_world import World, staff_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(web_channel, make_key):
    return World(web_channel, make_key)


@pytest.fixture
def desk(client, staff_user):
    client.force_login(staff_user)
    client.actor = f"staff:{staff_user.pk}"
    return client


def url(name, *args):
    return reverse(f"backoffice:{name}", args=args)


def field_errors(response, field):
    return [str(e) for e in response.context["form"].errors.get(field, [])]


def books_balance():
    assert inventory.verify_ledger() == []
    assert credit.verify_credit_ledger() == []


# --- who may open what ----------------------------------------------------------------------------------


PAGES = [
    ("returns", ()),
    ("stock", ()),
    ("stock-receive", ()),
    ("stock-adjust", ()),
    ("stock-alerts", ()),
    ("stock-transfers", ()),
    ("stock-transfer-new", ()),
    ("stock-counts", ()),
    ("purchase_orders", ()),
    ("replenishment", ()),
    ("purchase_order-new", ()),
]


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_every_stock_page_opens_for_staff_with_the_permission_and_is_403_without(
    client, staff_user, world, name, args
):
    client.force_login(staff_with())
    assert client.get(url(name, *args)).status_code == 403
    client.force_login(staff_user)
    assert client.get(url(name, *args)).status_code == 200


def test_anonymous_visitors_are_sent_to_the_admin_log_in(client, world):
    response = client.get(url("stock"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_viewer_sees_stock_but_cannot_move_it(client, world):
    client.force_login(staff_with("inventory.view_stocklevel", "inventory.view_stockmovement"))
    assert client.get(url("stock-sku", "MUG")).status_code == 200
    assert client.get(url("stock-receive")).status_code == 403
    count = inventory.start_count(location=world.warehouse)
    assert client.post(url("stock-count", count.pk), {"counted_1": "3"}).status_code == 403
    assert client.post(url("stock-counts"), {"location": "main-wh"}).status_code == 403
    assert CycleCount.objects.count() == 1


def test_navigation_shows_only_the_desks_a_role_may_open(client, world):
    client.force_login(staff_with("inventory.view_purchaseorder"))
    page = client.get(url("purchase_orders")).content.decode()
    assert url("purchase_orders") in page and url("returns") not in page and url("stock") + '"' not in page


# --- returns ----------------------------------------------------------------------------------------------


def test_returns_list_filters_by_status(desk, world):
    first = world.requested_return(key="a")
    second = world.requested_return(key="b")
    on_hand = world.on_hand(world.mug)
    orders.decide_return(rma=second, approve=True, actor="test")
    page = desk.get(url("returns"), {"status": "approved"}).content.decode()
    assert second.number in page and first.number not in page
    assert world.on_hand(world.mug) == on_hand  # approving moves no stock


def test_approving_a_return_is_recorded_with_the_staff_member(desk, world):
    rma = world.requested_return()
    response = desk.post(url("return-decide", rma.number), {"decision": "approve", "note": "ok"})
    assert response.status_code == 302
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.APPROVED
    event = rma.order.events.filter(kind="return_approved").get()
    assert event.actor == desk.actor


def test_rejecting_needs_a_reason_shown_next_to_it(desk, world):
    rma = world.requested_return()
    response = desk.post(url("return-decide", rma.number), {"decision": "reject", "note": ""})
    assert response.status_code == 400
    assert "Give the reason" in response.content.decode()
    assert response.context["decision_form"].errors["note"]
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.REQUESTED
    desk.post(url("return-decide", rma.number), {"decision": "reject", "note": "worn"})
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.REJECTED


def test_deciding_twice_is_refused_on_the_form(desk, world):
    rma = world.requested_return()
    desk.post(url("return-decide", rma.number), {"decision": "approve"})
    again = desk.post(url("return-decide", rma.number), {"decision": "reject", "note": "no"})
    assert again.status_code == 400 and "The return is approved" in again.content.decode()
    assert "decision_form" not in again.context  # the page shows the return as it is now
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.APPROVED


def test_receiving_a_return_confirms_then_restocks_refunds_and_books_the_staff_member(desk, world):
    rma = world.requested_return()
    orders.decide_return(rma=rma, approve=True, actor="test")
    line = rma.lines.get()
    before = world.on_hand(world.mug)
    data = {"location": "main-wh", f"line_{line.order_line_id}": "restock"}
    preview = desk.post(url("return-receive", rma.number), data)
    assert preview.status_code == 200
    assert "Restock 1 × MUG at main-wh" in preview.content.decode()
    assert world.on_hand(world.mug) == before  # nothing moved before the confirmation
    done = desk.post(url("return-receive", rma.number), {**data, "confirm": "yes"})
    assert done.status_code == 302
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.RECEIVED and rma.refund_amount > 0
    assert world.on_hand(world.mug) == before + 1
    movement = StockMovement.objects.filter(kind=StockMovement.Kind.RETURN).get()
    assert movement.actor == desk.actor and movement.quantity == 1
    # the second post of the same confirmation moves nothing and is told why
    again = desk.post(url("return-receive", rma.number), {**data, "confirm": "yes"})
    assert again.status_code == 400 and "received" in again.content.decode()
    assert world.on_hand(world.mug) == before + 1
    books_balance()


def test_a_written_off_return_refunds_but_never_restocks(desk, world):
    rma = world.requested_return()
    orders.decide_return(rma=rma, approve=True, actor="test")
    line = rma.lines.get()
    before = world.on_hand(world.mug)
    desk.post(
        url("return-receive", rma.number),
        {"location": "", f"line_{line.order_line_id}": "write_off", "confirm": "yes"},
    )
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.RECEIVED and rma.lines.get().disposition == "write_off"
    assert world.on_hand(world.mug) == before
    books_balance()


def test_restocking_needs_a_location_next_to_the_field(desk, world):
    rma = world.requested_return()
    orders.decide_return(rma=rma, approve=True, actor="test")
    line = rma.lines.get()
    response = desk.post(
        url("return-receive", rma.number), {f"line_{line.order_line_id}": "restock", "confirm": "yes"}
    )
    assert response.status_code == 400
    assert response.context["receive_form"].errors["location"]
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.APPROVED


def test_an_exchange_places_one_new_order_paid_by_the_return(desk, world):
    rma = world.requested_return(refund_to="exchange")
    orders.decide_return(rma=rma, approve=True, actor="test")
    data = {"lines": "CUP 1"}
    preview = desk.post(url("return-exchange", rma.number), data)
    assert "New order: 1 × CUP" in preview.content.decode()
    assert not Order.objects.filter(exchange_for=rma).exists()
    desk.post(url("return-exchange", rma.number), {**data, "confirm": "yes"})
    desk.post(url("return-exchange", rma.number), {**data, "confirm": "yes"})
    (new,) = Order.objects.filter(exchange_for=rma)
    assert new.lines.get().sku == "CUP" and new.status == Order.Status.PAID
    books_balance()


def test_an_exchange_with_an_unknown_sku_is_refused_on_the_form(desk, world):
    rma = world.requested_return(refund_to="exchange")
    orders.decide_return(rma=rma, approve=True, actor="test")
    response = desk.post(url("return-exchange", rma.number), {"lines": "NOPE 1", "confirm": "yes"})
    assert response.status_code == 400
    assert "NOPE" in response.content.decode()
    assert not Order.objects.filter(exchange_for=rma).exists()


def test_return_operations_need_the_orders_change_permission(client, world):
    rma = world.requested_return()
    client.force_login(staff_with("orders.view_returnrequest"))
    assert client.get(url("return", rma.number)).status_code == 200
    assert client.post(url("return-decide", rma.number), {"decision": "approve"}).status_code == 403
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.REQUESTED


# --- receiving and adjusting --------------------------------------------------------------------------------


def test_the_sku_screen_shows_every_location_and_what_each_channel_may_sell(desk, world, make_channel):
    inventory.receive_stock(variant=world.mug, location=world.store, quantity=3)
    world.shop.checkout({world.mug: 2}, key="hold")  # allocates 2 at the warehouse
    make_channel("pos", "pos_store", "GBP")  # served by no location: sells nothing
    response = desk.get(url("stock-sku", "MUG"))
    rows = {r["location"].code: r["level"] for r in response.context["rows"]}
    assert (rows["main-wh"].on_hand, rows["main-wh"].allocated, rows["main-wh"].free) == (10, 2, 8)
    assert rows["north"].on_hand == 3
    assert response.context["totals"] == {"on_hand": 13, "allocated": 2, "reserved": 0, "free": 11}
    available = {c.code: a.available for c, a in response.context["channels"]}
    assert available == {"web": 8, "pos": 0}
    assert desk.get(url("stock-sku", "NOPE")).status_code == 404


def test_finding_a_sku_goes_to_its_screen_and_an_unknown_one_is_an_error(desk, world):
    assert desk.get(url("stock"), {"sku": "MUG"})["Location"] == url("stock-sku", "MUG")
    response = desk.get(url("stock"), {"sku": "NOPE"})
    assert response.status_code == 400 and field_errors(response, "sku")


def test_receiving_stock_confirms_first_and_books_once_with_the_staff_member(desk, world):
    page = desk.get(url("stock-receive"))
    token = page.context["form"]["token"].value()
    data = {"token": token, "sku": "MUG", "location": "north", "quantity": "5", "reference": "DN-1"}
    preview = desk.post(url("stock-receive"), data)
    assert "on hand 0 → 5" in preview.content.decode()
    assert world.on_hand(world.mug, world.store) == 0
    assert desk.post(url("stock-receive"), {**data, "confirm": "yes"}).status_code == 302
    again = desk.post(url("stock-receive"), {**data, "confirm": "yes"}, follow=True)
    assert "already done" in again.content.decode()
    assert world.on_hand(world.mug, world.store) == 5
    movement = StockMovement.objects.get(location=world.store)
    assert (movement.actor, movement.reference, movement.kind) == (desk.actor, "DN-1", "receipt")
    books_balance()


def test_receiving_checks_every_field(desk, world):
    response = desk.post(url("stock-receive"), {"token": "t", "sku": "NOPE", "location": "", "quantity": "0"})
    assert response.status_code == 400
    assert field_errors(response, "location") and field_errors(response, "quantity")
    response = desk.post(
        url("stock-receive"), {"token": "t", "sku": "NOPE", "location": "north", "quantity": "1"}
    )
    assert field_errors(response, "sku") == ["No variant with SKU NOPE."]
    assert not StockMovement.objects.filter(location=world.store).exists()


def test_adjusting_books_the_reason_and_a_refused_removal_shows_on_the_delta_field(desk, world):
    world.shop.checkout({world.mug: 8}, key="hold")  # 2 of 10 free
    data = {"token": "adj-1", "sku": "MUG", "location": "main-wh", "delta": "-3", "reason_code": "damaged"}
    refused = desk.post(url("stock-adjust"), {**data, "confirm": "yes"})
    assert refused.status_code == 400
    assert "insufficient_stock" in " ".join(field_errors(refused, "delta"))
    assert refused.context["form"]["token"].value() != "adj-1"  # a corrected form may run
    ok = desk.post(url("stock-adjust"), {**data, "token": "adj-2", "delta": "-2", "confirm": "yes"})
    assert ok.status_code == 302
    movement = StockMovement.objects.get(kind=StockMovement.Kind.WRITE_OFF)
    assert (movement.quantity, movement.reason_code, movement.actor) == (-2, "damaged", desk.actor)
    assert world.on_hand(world.mug) == 8
    books_balance()


def test_an_adjustment_of_zero_is_refused(desk, world):
    response = desk.post(
        url("stock-adjust"),
        {"token": "t", "sku": "MUG", "location": "main-wh", "delta": "0", "reason_code": "found"},
    )
    assert response.status_code == 400 and field_errors(response, "delta")


def test_open_low_stock_alerts_are_listed(desk, world):
    StockLevel.objects.filter(variant=world.cup).update(reorder_point=4)  # 4 free: one more sold crosses it
    inventory.adjust_stock(variant=world.cup, location=world.warehouse, delta=-1, reason_code="lost")
    assert LowStockAlert.objects.filter(resolved_at__isnull=True).count() == 1
    page = desk.get(url("stock-alerts")).content.decode()
    assert url("stock-sku", "CUP") in page and url("stock-sku", "MUG") not in page


def test_recomputing_reorder_points_opens_alerts_for_levels_already_under_them(desk, client, world):
    for n in range(4):  # the cups sell out today
        world.shipped_order({world.cup: 1}, key=f"c{n}")
    assert not LowStockAlert.objects.exists()
    assert desk.post(url("stock-alerts")).status_code == 302
    (alert,) = LowStockAlert.objects.filter(resolved_at__isnull=True)
    assert (alert.variant.sku, alert.free) == ("CUP", 0) and alert.reorder_point > 0
    client.force_login(staff_with("inventory.view_lowstockalert"))
    assert client.post(url("stock-alerts")).status_code == 403


# --- transfers ---------------------------------------------------------------------------------------------


def test_a_transfer_is_requested_dispatched_and_received_with_confirmations(desk, world):
    response = desk.post(
        url("stock-transfer-new"),
        {"token": "tr-1", "source": "main-wh", "destination": "north", "lines": "MUG 4\nCUP 1"},
    )
    transfer = Transfer.objects.get()
    assert response["Location"] == url("stock-transfer", transfer.pk)
    desk.post(
        url("stock-transfer-new"),
        {"token": "tr-1", "source": "main-wh", "destination": "north", "lines": "MUG 4\nCUP 1"},
    )
    assert Transfer.objects.count() == 1  # the same page posted twice requests once
    preview = desk.post(url("stock-transfer", transfer.pk), {"action": "dispatch"})
    assert "−4 × MUG on hand at main-wh" in preview.content.decode()
    assert world.on_hand(world.mug) == 10
    desk.post(url("stock-transfer", transfer.pk), {"action": "dispatch", "confirm": "yes"})
    assert world.on_hand(world.mug) == 6
    twice = desk.post(url("stock-transfer", transfer.pk), {"action": "dispatch", "confirm": "yes"})
    assert twice.status_code == 400 and world.on_hand(world.mug) == 6
    desk.post(url("stock-transfer", transfer.pk), {"action": "receive", "confirm": "yes"})
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.RECEIVED
    assert world.on_hand(world.mug, world.store) == 4 and world.on_hand(world.cup, world.store) == 1
    assert set(StockMovement.objects.filter(reference_type="transfer").values_list("actor", flat=True)) == {
        desk.actor
    }
    books_balance()


def test_a_transfer_form_shows_its_errors_beside_the_fields(desk, world):
    response = desk.post(
        url("stock-transfer-new"), {"token": "t", "source": "north", "destination": "north", "lines": "MUG x"}
    )
    assert response.status_code == 400
    assert field_errors(response, "destination") and field_errors(response, "lines")
    unknown = desk.post(
        url("stock-transfer-new"),
        {"token": "t2", "source": "main-wh", "destination": "north", "lines": "NOPE 1"},
    )
    assert unknown.status_code == 400 and "unknown_sku" in " ".join(field_errors(unknown, "lines"))
    assert not Transfer.objects.exists()


def test_a_transfer_can_be_cancelled_before_it_leaves_and_dispatching_more_than_is_free_is_refused(
    desk, world
):
    transfer = inventory.request_transfer(
        source=world.warehouse, destination=world.store, lines=[inventory.SkuQuantity("MUG", 50)]
    )
    refused = desk.post(url("stock-transfer", transfer.pk), {"action": "dispatch", "confirm": "yes"})
    assert refused.status_code == 400 and "insufficient_stock" in refused.content.decode()
    desk.post(url("stock-transfer", transfer.pk), {"action": "cancel"})
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.CANCELLED
    books_balance()


def test_transfer_actions_need_the_change_permission(client, world):
    transfer = inventory.request_transfer(
        source=world.warehouse, destination=world.store, lines=[inventory.SkuQuantity("MUG", 1)]
    )
    client.force_login(staff_with("inventory.view_transfer"))
    assert client.get(url("stock-transfer", transfer.pk)).status_code == 200
    assert client.post(url("stock-transfer", transfer.pk), {"action": "cancel"}).status_code == 403


# --- cycle counts ------------------------------------------------------------------------------------------


def test_a_cycle_count_shows_its_differences_before_posting_them_to_the_ledger(desk, world):
    response = desk.post(url("stock-counts"), {"location": "main-wh"})
    count = CycleCount.objects.get()
    assert response["Location"] == url("stock-count", count.pk)
    sheet = {f"counted_{world.mug.pk}": "7", f"counted_{world.cup.pk}": "4", "extra": ""}
    review = desk.post(url("stock-count", count.pk), sheet)
    rows = {r.sku: (r.expected, r.counted, r.difference) for r in review.context["review"]}
    assert rows == {"MUG": (10, 7, -3), "CUP": (4, 4, 0)}
    assert "Review the differences" in review.content.decode()
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.CYCLE_COUNT).exists()
    posted = desk.post(url("stock-count", count.pk), {**sheet, "confirm": "yes"})
    assert posted.status_code == 302
    movement = StockMovement.objects.get(kind=StockMovement.Kind.CYCLE_COUNT)
    assert (movement.quantity, movement.actor) == (-3, desk.actor)
    assert world.on_hand(world.mug) == 7
    again = desk.post(url("stock-count", count.pk), {**sheet, "confirm": "yes"})
    assert again.status_code == 400 and StockMovement.objects.filter(kind="cycle_count").count() == 1
    books_balance()


def test_a_count_takes_skus_found_on_the_shelf_and_refuses_unknown_ones(desk, world, make_channel):

    product = Product.objects.create(title="Teapot", slug="teapot")
    Variant.objects.create(product=product, sku="TEA")
    count = inventory.start_count(location=world.store)
    unknown = desk.post(url("stock-count", count.pk), {"extra": "NOPE 2", "confirm": "yes"})
    assert unknown.status_code == 400 and "NOPE" in unknown.content.decode()
    desk.post(url("stock-count", count.pk), {"extra": "TEA 2", "confirm": "yes"})
    assert StockLevel.objects.get(variant__sku="TEA", location=world.store).on_hand == 2
    books_balance()


def test_an_empty_count_sheet_and_a_second_count_of_a_location_are_refused(desk, world):
    desk.post(url("stock-counts"), {"location": "main-wh"})
    second = desk.post(url("stock-counts"), {"location": "main-wh"})
    assert second.status_code == 400 and "count_in_progress" in " ".join(field_errors(second, "location"))
    count = CycleCount.objects.get()
    empty = desk.post(url("stock-count", count.pk), {"extra": ""})
    assert empty.status_code == 400 and "at least one counted quantity" in empty.content.decode()
    negative = desk.post(url("stock-count", count.pk), {f"counted_{world.mug.pk}": "-1"})
    assert negative.status_code == 400 and field_errors(negative, f"counted_{world.mug.pk}")


def test_counting_fewer_than_are_allocated_is_refused_and_a_count_can_be_cancelled(desk, world):
    world.shop.checkout({world.mug: 5}, key="hold")
    count = inventory.start_count(location=world.warehouse)
    refused = desk.post(url("stock-count", count.pk), {f"counted_{world.mug.pk}": "3", "confirm": "yes"})
    assert refused.status_code == 400
    assert "count_below_committed" in " ".join(field_errors(refused, f"counted_{world.mug.pk}"))
    desk.post(url("stock-count", count.pk), {"action": "cancel"})
    count.refresh_from_db()
    assert count.status == CycleCount.Status.CANCELLED
    assert not StockMovement.objects.filter(kind="cycle_count").exists()


# --- purchasing --------------------------------------------------------------------------------------------


def make_draft(world, **quantities):
    return inventory.create_purchase_order(
        supplier=world.supplier,
        location=world.warehouse,
        lines=[inventory.OrderLine(sku, qty) for sku, qty in (quantities or {"MUG": 10, "CUP": 6}).items()],
    )


def test_suggestions_become_draft_orders_once(desk, world):
    for n in range(4):  # sell the cups: 4 sold today, nothing left
        order = world.shipped_order({world.cup: 1}, key=f"c{n}")
        assert order.status == Order.Status.FULFILLED
    page = desk.get(url("replenishment"))
    (row,) = page.context["rows"]
    assert (row["s"].sku, row["s"].supplier) == ("CUP", "potter")
    response = desk.post(url("replenishment"), {})
    assert response.status_code == 302
    (po,) = PurchaseOrder.objects.all()
    assert (po.status, po.created_by) == ("draft", desk.actor)
    assert po.lines.get().variant.sku == "CUP" and po.lines.get().quantity == row["s"].quantity
    desk.post(url("replenishment"), {})
    assert PurchaseOrder.objects.count() == 1  # the draft counts as on order


def test_a_buyer_types_a_draft_whose_cost_defaults_to_the_supplier_offer(desk, world):
    data = {"token": "po-1", "supplier": "potter", "location": "main-wh", "lines": "MUG 12\nCUP 3 0.99"}
    response = desk.post(url("purchase_order-new"), data)
    po = PurchaseOrder.objects.get()
    assert response["Location"] == url("purchase_order", po.pk)
    desk.post(url("purchase_order-new"), data)
    assert PurchaseOrder.objects.count() == 1
    costs = {x.variant.sku: (x.quantity, x.unit_cost) for x in po.lines.select_related("variant")}
    assert costs == {"MUG": (12, Decimal("2.5000")), "CUP": (3, Decimal("0.9900"))}
    page = desk.get(url("purchase_order", po.pk)).content.decode()
    assert "32.97 GBP" in page  # 12 × 2.50 + 3 × 0.99


def test_a_draft_without_an_offer_or_with_bad_lines_is_refused_beside_the_lines(desk, world):

    Variant.objects.create(product=Product.objects.create(title="Tea", slug="tea"), sku="TEA")
    response = desk.post(
        url("purchase_order-new"),
        {"token": "a", "supplier": "potter", "location": "main-wh", "lines": "TEA 2"},
    )
    assert response.status_code == 400 and "no_supplier_offer" in " ".join(field_errors(response, "lines"))
    response = desk.post(
        url("purchase_order-new"), {"token": "b", "supplier": "", "location": "main-wh", "lines": "MUG 2 -1"}
    )
    assert field_errors(response, "supplier") and field_errors(response, "lines")
    assert not PurchaseOrder.objects.exists()


def test_a_drafts_quantities_are_edited_and_a_sent_order_is_not(desk, world):
    po = make_draft(world)
    mug = po.lines.get(variant__sku="MUG")
    cup = po.lines.get(variant__sku="CUP")
    bad = desk.post(url("purchase_order-edit", po.pk), {f"quantity_{mug.pk}": "0", f"quantity_{cup.pk}": "6"})
    assert bad.status_code == 400 and bad.context["edit_form"].errors[f"quantity_{mug.pk}"]
    desk.post(url("purchase_order-edit", po.pk), {f"quantity_{mug.pk}": "15", f"quantity_{cup.pk}": "6"})
    mug.refresh_from_db()
    assert mug.quantity == 15
    desk.post(url("purchase_order-act", po.pk), {"action": "send"})
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.SENT
    late = desk.post(
        url("purchase_order-edit", po.pk), {f"quantity_{mug.pk}": "20", f"quantity_{cup.pk}": "6"}
    )
    assert late.status_code == 400 and "cannot be edited" in late.content.decode()
    mug.refresh_from_db()
    assert mug.quantity == 15
    twice = desk.post(url("purchase_order-act", po.pk), {"action": "send"})
    assert twice.status_code == 400 and "invalid_transition" in twice.content.decode()


def test_a_purchase_order_is_received_in_part_then_in_full_each_delivery_once(desk, world):
    po = make_draft(world)
    inventory.send_purchase_order(order=po)
    mug = po.lines.get(variant__sku="MUG")
    cup = po.lines.get(variant__sku="CUP")
    delivery = {"token": "dn-1", f"receive_{mug.pk}": "4", f"receive_{cup.pk}": ""}
    preview = desk.post(url("purchase_order-receive", po.pk), delivery)
    assert "Receive 4 × MUG at main-wh" in preview.content.decode()
    assert world.on_hand(world.mug) == 10
    desk.post(url("purchase_order-receive", po.pk), {**delivery, "confirm": "yes"})
    again = desk.post(url("purchase_order-receive", po.pk), {**delivery, "confirm": "yes"}, follow=True)
    assert "already booked" in again.content.decode()
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    assert world.on_hand(world.mug) == 14
    receipt = StockMovement.objects.get(reference=po.number)
    assert (receipt.quantity, receipt.actor) == (4, desk.actor)
    over = desk.post(
        url("purchase_order-receive", po.pk), {"token": "dn-2", f"receive_{mug.pk}": "7", "confirm": "yes"}
    )
    assert over.status_code == 400 and "over_receipt" in over.content.decode()
    desk.post(
        url("purchase_order-receive", po.pk),
        {"token": "dn-3", f"receive_{mug.pk}": "6", f"receive_{cup.pk}": "6", "confirm": "yes"},
    )
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.RECEIVED
    assert (world.on_hand(world.mug), world.on_hand(world.cup)) == (20, 10)
    books_balance()


def test_a_delivery_is_shown_and_booked_at_its_landed_cost_with_its_extra_charge(desk, world):
    SupplierOffer.objects.filter(variant=world.mug).update(freight_per_unit=Decimal("0.30"), duty_percent=10)
    po = make_draft(world)  # MUG 10 × (2.50 + 0.30 + 0.25) = 3.05 landed; CUP 6 × 1.20, nothing on top
    page = desk.get(url("purchase_order", po.pk)).content.decode()
    assert "3.05 GBP" in page and "30.50 GBP" in page  # landed unit cost and landed line total
    assert "Landed value" in page and "37.70 GBP" in page  # 30.50 + 7.20
    assert "packs of 1; freight 0.30 GBP a unit, duty 10 %" in page  # the offer's components
    inventory.send_purchase_order(order=po)
    mug = po.lines.get(variant__sku="MUG")
    cup = po.lines.get(variant__sku="CUP")
    form = desk.get(url("purchase_order", po.pk)).context["receive_form"]
    assert "3.05 GBP" in str(form[f"receive_{mug.pk}"].help_text)
    delivery = {
        "token": "dn-1",
        f"receive_{mug.pk}": "4",
        f"receive_{cup.pk}": "5",
        "extra_charge": "3.1",
    }
    bad = desk.post(url("purchase_order-receive", po.pk), {**delivery, "extra_charge": "-1"})
    assert bad.status_code == 400 and bad.context["receive_form"].errors["extra_charge"]
    preview = desk.post(url("purchase_order-receive", po.pk), delivery).content.decode()
    assert "Receive 4 × MUG at main-wh (on hand goes up by 4), landed at 3.05 GBP a unit." in preview
    assert "Spread an extra charge of 3.10 GBP over these lines by value." in preview
    desk.post(url("purchase_order-receive", po.pk), {**delivery, "confirm": "yes"})
    # Values 4 × 3.05 = 12.20 and 5 × 1.20 = 6.00: the 3.10 splits 2.0780 / 1.0220.
    receipts = {r.line.variant.sku: r for r in PurchaseOrderReceipt.objects.select_related("line__variant")}
    assert (receipts["MUG"].extra_charge, receipts["MUG"].landed_unit_cost) == (
        Decimal("2.0780"),
        Decimal("3.5695"),
    )
    page = desk.get(url("purchase_order", po.pk)).content.decode()
    assert "3.5695 GBP" in page and "2.08 GBP" in page  # the receipt's landed cost and its charge share
    sku = desk.get(url("stock-sku", "MUG"))
    average = {r["location"].code: r.get("average_cost") for r in sku.context["rows"]}
    # 10 units on hand before, uncosted, taken at the first landed cost: all 14 at 3.5695
    assert average == {"main-wh": "3.5695 GBP", "north": "—"}
    books_balance()


def test_the_average_cost_is_shown_only_to_staff_who_may_see_purchasing(client, world):
    po = make_draft(world)
    inventory.send_purchase_order(order=po)
    inventory.receive_purchase_order(order=po, lines=[inventory.ReceiptLine("MUG", 2, "k")])
    client.force_login(staff_with("inventory.view_stocklevel", username="picker"))
    page = client.get(url("stock-sku", "MUG"))
    assert page.status_code == 200 and "Average landed cost" not in page.content.decode()
    client.force_login(
        staff_with("inventory.view_stocklevel", "inventory.view_purchaseorder", username="receiver")
    )
    assert "Average landed cost" not in client.get(url("stock-sku", "MUG")).content.decode()
    client.force_login(staff_with("inventory.view_stocklevel", "inventory.view_cost", username="buyer"))
    assert "Average landed cost" in client.get(url("stock-sku", "MUG")).content.decode()


def test_the_warehouse_receives_a_purchase_order_without_seeing_a_cost(client, world):
    from omnishop.conftest import ApiClient

    from .test_home import staff_in

    for n in range(4):  # sell the cups out: a suggestion to reorder them, at 1.20 GBP
        world.shipped_order({world.cup: 1}, key=f"c{n}")
    suggestions = "/inventory/replenishment/suggestions"
    client.force_login(staff_in("store_manager"))
    assert [(r["sku"], r["unit_cost"]) for r in ApiClient(client).get(suggestions).json()] == [
        ("CUP", "1.2000")
    ]
    client.force_login(staff_in("warehouse"))
    suggested = ApiClient(client).get(suggestions).json()
    assert [(r["sku"], r["unit_cost"], r["landed_unit_cost"]) for r in suggested] == [("CUP", None, None)]
    SupplierOffer.objects.filter(variant=world.mug).update(freight_per_unit=Decimal("0.30"), duty_percent=10)
    po = make_draft(world)  # MUG lands at 3.05 GBP, CUP at 1.20 GBP
    inventory.send_purchase_order(order=po)
    mug = po.lines.get(variant__sku="MUG")
    costs = ("3.05", "2.50", "1.20", "Unit cost", "Landed", "Order value", "extra charge")
    page = client.get(url("purchase_order", po.pk))
    assert page.status_code == 200 and "Receive a delivery" in page.content.decode()
    assert [c for c in costs if c in page.content.decode()] == []
    assert "extra_charge" not in page.context["receive_form"].fields
    delivery = {"token": "dn-w", f"receive_{mug.pk}": "4", "extra_charge": "9"}
    preview = client.post(url("purchase_order-receive", po.pk), delivery).content.decode()
    assert "Receive 4 × MUG at main-wh (on hand goes up by 4)." in preview
    assert [c for c in costs if c in preview] == []
    client.post(url("purchase_order-receive", po.pk), {**delivery, "confirm": "yes"})
    receipt = PurchaseOrderReceipt.objects.get()
    assert (receipt.quantity, receipt.extra_charge) == (4, 0)  # an extra charge it was not asked is ignored
    assert [c for c in costs if c in client.get(url("purchase_order", po.pk)).content.decode()] == []
    api = ApiClient(client)
    lines = api.get(f"/inventory/purchase-orders/{po.pk}").json()["lines"]
    assert {(x["unit_cost"], x["landed_unit_cost"]) for x in lines} == {(None, None)}
    (received,) = [r for x in lines for r in x["receipts"]]
    assert (received["quantity"], received["extra_charge"], received["landed_unit_cost"]) == (4, None, None)
    # The store manager (purchasing) sees the same order with its costs.
    client.force_login(staff_in("store_manager"))
    assert "3.05 GBP" in client.get(url("purchase_order", po.pk)).content.decode()
    lines = ApiClient(client).get(f"/inventory/purchase-orders/{po.pk}").json()["lines"]
    assert {x["sku"]: x["landed_unit_cost"] for x in lines} == {"MUG": "3.0500", "CUP": "1.2000"}


def test_receiving_nothing_is_refused_and_a_draft_cannot_be_received(desk, world):
    po = make_draft(world)
    mug = po.lines.get(variant__sku="MUG")
    draft = desk.post(
        url("purchase_order-receive", po.pk), {"token": "a", f"receive_{mug.pk}": "1", "confirm": "yes"}
    )
    assert draft.status_code == 400 and "cannot be received" in draft.content.decode()
    inventory.send_purchase_order(order=po)
    nothing = desk.post(url("purchase_order-receive", po.pk), {"token": "b", f"receive_{mug.pk}": "0"})
    assert nothing.status_code == 400 and "at least one line" in nothing.content.decode()
    assert world.on_hand(world.mug) == 10


def test_an_order_with_deliveries_cannot_be_cancelled(desk, world):
    po = make_draft(world)
    desk.post(url("purchase_order-act", po.pk), {"action": "cancel"})
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.CANCELLED
    other = make_draft(world)
    inventory.send_purchase_order(order=other)
    inventory.receive_purchase_order(order=other, lines=[inventory.ReceiptLine("MUG", 1, "k")])
    refused = desk.post(url("purchase_order-act", other.pk), {"action": "cancel"})
    assert refused.status_code == 400
    other.refresh_from_db()
    assert other.status == PurchaseOrder.Status.PARTIALLY_RECEIVED


def test_purchasing_operations_need_their_permissions(client, world):
    po = make_draft(world)
    client.force_login(staff_with("inventory.view_purchaseorder"))
    assert client.get(url("purchase_order", po.pk)).status_code == 200
    assert client.post(url("purchase_order-act", po.pk), {"action": "send"}).status_code == 403
    assert client.post(url("replenishment"), {}).status_code == 403
    assert client.get(url("purchase_order-new")).status_code == 403
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.DRAFT
