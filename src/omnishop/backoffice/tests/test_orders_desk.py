"""The orders desk through the Django test client: finding orders, the order page, and each operation as a
form — refused without the permission, errors beside the field, a confirmation step where money or stock
moves, the staff member on the timeline, and a form posted twice acting once."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

from omnishop.inventory.models import StockMovement
from omnishop.orders import services as orders
from omnishop.orders.models import Fulfilment, Order, OrderEvent, OrderException
from omnishop.payments import credit
from omnishop.payments.models import Refund

from .orders_shop import Shop, carrier, customer, staff_with

pytestmark = pytest.mark.django_db

VIEW, CHANGE = "orders.view_order", "orders.change_order"
REFUND, FINANCE, CREDIT = "payments.change_payment", "payments.change_refund", "payments.add_storecreditentry"
CLERK = (VIEW, CHANGE, REFUND, CREDIT)


@pytest.fixture
def shop(web_channel):
    return Shop(web_channel)


@pytest.fixture
def clerk():
    return staff_with(*CLERK, username="clerk")


@pytest.fixture
def desk(client, clerk):
    client.force_login(clerk)
    return client


def url(name: str, *args) -> str:
    return reverse(f"backoffice:{name}", args=args)


def token(response) -> str:
    """The idempotency key the form carries from the moment it was shown."""
    return re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode())[1]


def field_error(response, field: str) -> str:
    """The error shown right after the field `field` (id_<field>_error), '' when there is none."""
    m = re.search(rf'id="id_{field}_error">([^<]*)<', response.content.decode())
    return m[1] if m else ""


def post_confirmed(client, path: str, data: dict):
    """The two steps of a form that moves money or stock: first the summary, then "Confirm"."""
    first = client.post(path, data)
    assert first.status_code == 200 and "Please confirm" in first.content.decode()
    return client.post(path, {**data, "confirm": "yes"})


# --- finding orders -------------------------------------------------------------------------------------


def test_the_order_list_is_in_the_desk_navigation_and_finds_an_order_by_customer_name(desk, shop):
    ada = customer()
    v = shop.variant()
    mine = shop.checkout({v: 1}, customer=ada)
    other = shop.checkout({v: 1}, email="bob@example.com")
    page = desk.get(url("orders"), {"q": "ada love"})
    html = page.content.decode()
    assert page.status_code == 200
    assert f'href="{url("orders")}"' in html  # the desk's own navigation entry
    assert mine.number in html and other.number not in html
    assert "Ada Lovelace" in html and f"{mine.total.quantize(Decimal('0.01'))} GBP" in html


def test_the_order_list_runs_a_fixed_number_of_queries_however_many_orders_it_shows(
    desk, shop, django_assert_max_num_queries
):
    v = shop.variant(stock=100)
    for i in range(25):
        shop.checkout({v: 1}, customer=customer(email=f"c{i}@example.com"))
    with django_assert_max_num_queries(10):
        page = desk.get(url("orders"))
    assert page.content.decode().count('href="/admin/ops/orders/WEB-') == 25


def test_a_date_range_ending_before_it_starts_is_refused_beside_the_end(desk, shop):
    page = desk.get(url("orders"), {"placed_from": "2026-05-02", "placed_to": "2026-05-01"})
    assert field_error(page, "placed_to") == "The end of the range is before its start."


def test_staff_without_view_order_get_403_and_visitors_the_login(client, shop):
    assert client.get(url("orders")).status_code == 302
    client.force_login(staff_with(CHANGE, username="nosee"))
    assert client.get(url("orders")).status_code == 403


# --- the order page -------------------------------------------------------------------------------------


def test_the_order_page_shows_lines_money_parcels_and_the_timeline_with_the_staff_name(desk, shop, clerk):
    ada = customer()
    v = shop.variant(price="10.00")
    order = shop.checkout({v: 2}, customer=ada)
    orders.add_note(order=order, text="Customer rang about the colour", actor=f"staff:{clerk.pk}")
    html = desk.get(url("order", order.number)).content.decode()
    assert v.sku in html and "Customer rang about the colour" in html
    assert "Clerk" in html  # the actor as a person, not staff:<id>
    assert f'data-amount="paid">{order.total.quantize(Decimal("0.01"))} GBP' in html
    assert 'data-amount="refunded">0.00 GBP' in html
    assert f'href="/admin/ops/customers/{ada.pk}/"' in html


def test_the_order_page_reads_a_fixed_number_of_queries_however_many_lines_and_parcels(
    desk, shop, django_assert_max_num_queries
):
    order = shop.checkout({shop.variant(): 1 for _ in range(8)}, customer=customer())
    for f in orders.create_fulfilments(order=order, actor="t"):
        orders.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T", actor="t")
    for i in range(5):
        orders.add_note(order=order, text=f"note {i}", actor="t")
    with django_assert_max_num_queries(20):  # 18 today: session, user, permissions, then one per section
        page = desk.get(url("order", order.number))
    assert page.content.decode().count("note ") == 5


def test_operations_that_only_post_refuse_a_get(desk, shop):
    order = shop.checkout({shop.variant(): 1})
    assert desk.get(url("order-fulfil", order.number)).status_code == 405


def test_an_unknown_order_is_404(desk):
    assert desk.get(url("order", "WEB-NOPE")).status_code == 404


def test_the_order_page_links_the_split_family(desk, shop):
    v, w = shop.variant(), shop.variant()
    order = shop.checkout({v: 1, w: 1})
    child = orders.split_order(order=order, quantities={order.lines.get(variant=w).pk: 1}, actor="test")
    html = desk.get(url("order", order.number)).content.decode()
    assert f'href="{url("order", child.number)}"' in html
    assert f'href="{url("order", order.number)}"' in desk.get(url("order", child.number)).content.decode()


# --- fulfil, ship, deliver ------------------------------------------------------------------------------


def fulfilment_of(desk, order) -> Fulfilment:
    assert desk.post(url("order-fulfil", order.number)).status_code == 302
    return Fulfilment.objects.get(order=order)


def test_ship_with_a_carrier_confirms_then_ships_once_and_the_timeline_names_the_clerk(desk, shop, clerk):
    carrier()
    v = shop.variant(stock=5)
    order = shop.checkout({v: 2})
    f = fulfilment_of(desk, order)
    path = url("order-ship", order.number, f.pk)
    data = {"token": token(desk.get(path)), "carrier": "dhl", "tracking_number": "JD0001", "parcels": "2"}
    first = desk.post(path, data)
    assert "Please confirm" in first.content.decode()
    assert Fulfilment.objects.get(pk=f.pk).status == "pending"  # nothing moved before "Confirm"
    assert desk.post(path, {**data, "confirm": "yes"}).status_code == 302
    again = desk.post(path, {**data, "confirm": "yes"})  # the same form posted twice
    assert again.status_code == 302
    f.refresh_from_db()
    assert (f.status, f.carrier, f.tracking_number) == ("shipped", "dhl", "JD0001")
    shipped = OrderEvent.objects.get(order=order, kind="shipped")
    assert shipped.actor == f"staff:{clerk.pk}" and shipped.after["parcels"] == 2
    assert StockMovement.objects.filter(variant=v, kind="sale").count() == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED


def test_an_unknown_carrier_is_refused_beside_the_carrier_field(desk, shop):
    carrier()
    order = shop.checkout({shop.variant(): 1})
    f = fulfilment_of(desk, order)
    path = url("order-ship", order.number, f.pk)
    page = desk.post(
        path, {"token": token(desk.get(path)), "carrier": "pigeon", "tracking_number": "X", "parcels": "1"}
    )
    assert "pigeon" in field_error(page, "carrier")
    assert Fulfilment.objects.get(pk=f.pk).status == "pending"


def test_a_carrier_switched_off_after_the_form_was_shown_is_refused_at_the_confirmation(desk, shop):
    dhl = carrier()
    order = shop.checkout({shop.variant(): 1})
    f = fulfilment_of(desk, order)
    path = url("order-ship", order.number, f.pk)
    data = {"token": token(desk.get(path)), "carrier": "dhl", "tracking_number": "X1", "parcels": "1"}
    assert "Please confirm" in desk.post(path, data).content.decode()
    dhl.is_active = False
    dhl.save()
    page = desk.post(path, {**data, "confirm": "yes"})
    assert "dhl" in field_error(page, "carrier")
    assert Fulfilment.objects.get(pk=f.pk).status == "pending"


def test_a_missing_tracking_number_is_shown_beside_its_field(desk, shop):
    carrier()
    order = shop.checkout({shop.variant(): 1})
    f = fulfilment_of(desk, order)
    path = url("order-ship", order.number, f.pk)
    page = desk.post(
        path, {"token": token(desk.get(path)), "carrier": "dhl", "tracking_number": "", "parcels": "1"}
    )
    assert field_error(page, "tracking_number") == "This field is required."


def test_mark_delivered_delivers_the_parcel_and_the_order(desk, shop, clerk):
    order = shop.checkout({shop.variant(): 1})
    f = fulfilment_of(desk, order)
    orders.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T", actor="test")
    assert desk.post(url("order-deliver", order.number, f.pk)).status_code == 302
    assert Fulfilment.objects.get(pk=f.pk).status == "delivered"
    assert Order.objects.get(pk=order.pk).status == Order.Status.DELIVERED
    assert OrderEvent.objects.get(order=order, kind="delivered").actor == f"staff:{clerk.pk}"


# --- refunds and store credit ---------------------------------------------------------------------------


def test_a_refund_confirms_first_then_refunds_and_a_double_submit_refunds_once(desk, shop, clerk):
    order = shop.checkout({shop.variant(price="30.00"): 1})
    path = url("order-refund", order.number)
    data = {"token": token(desk.get(path)), "amount": "12.50", "reason": "scratched"}
    first = desk.post(path, data)
    assert "Refund 12.50 GBP to the original payment method." in first.content.decode()
    assert not Refund.objects.exists()
    assert desk.post(path, {**data, "confirm": "yes"}).status_code == 302
    assert desk.post(path, {**data, "confirm": "yes"}).status_code == 302  # posted twice
    assert [r.amount for r in Refund.objects.all()] == [Decimal("12.50")]
    assert orders.paid(order) == order.total - Decimal("12.50")
    event = OrderEvent.objects.get(order=order, kind="refunded")
    assert event.actor == f"staff:{clerk.pk}" and event.message == "scratched"


@override_settings(OMNISHOP_REFUND_LIMIT=Decimal("20"))
def test_a_refund_above_the_limit_is_refused_without_the_finance_permission(desk, shop, client):
    order = shop.checkout({shop.variant(price="30.00"): 1})
    path = url("order-refund", order.number)
    page = desk.post(path, {"token": token(desk.get(path)), "amount": "20.01"})
    assert "payments.change_refund" in field_error(page, "amount")
    assert not Refund.objects.exists()
    client.force_login(staff_with(*CLERK, FINANCE, username="finance"))
    done = post_confirmed(client, path, {"token": token(client.get(path)), "amount": "20.01"})
    assert done.status_code == 302 and Refund.objects.get().amount == Decimal("20.01")


def test_a_refund_above_what_was_paid_is_refused_beside_the_amount(desk, shop):
    order = shop.checkout({shop.variant(price="10.00"): 1})
    path = url("order-refund", order.number)
    page = post_confirmed(desk, path, {"token": token(desk.get(path)), "amount": "100.00"})
    assert "refund_exceeds_captured" in field_error(page, "amount")
    assert not Refund.objects.exists()


def test_a_refund_with_more_decimals_than_the_currency_has_is_refused(desk, shop):
    order = shop.checkout({shop.variant(): 1})
    path = url("order-refund", order.number)
    page = desk.post(path, {"token": token(desk.get(path)), "amount": "1.005"})
    assert field_error(page, "amount") == "GBP amounts have 2 decimal places."


def test_store_credit_is_given_once_and_not_beyond_what_was_paid(desk, shop, clerk):
    ada = customer()
    order = shop.checkout({shop.variant(price="10.00"): 1}, customer=ada)
    path = url("order-credit", order.number)
    data = {"token": token(desk.get(path)), "amount": "5.00"}
    assert post_confirmed(desk, path, data).status_code == 302
    assert desk.post(path, {**data, "confirm": "yes"}).status_code == 302  # posted twice
    assert credit.balance_of(customer=ada, currency="GBP") == Decimal("5.00")
    assert orders.paid(order) == order.total  # the payment stays; the credit is instead of money back
    assert OrderEvent.objects.get(order=order, kind="store_credit_issued").actor == f"staff:{clerk.pk}"
    page = post_confirmed(desk, path, {"token": token(desk.get(path)), "amount": str(order.total)})
    assert "credit_exceeds_paid" in field_error(page, "amount")
    assert credit.balance_of(customer=ada, currency="GBP") == Decimal("5.00")


# --- cancel, address, split, merge ----------------------------------------------------------------------


def test_cancelling_chosen_units_releases_them_refunds_and_names_the_clerk(desk, shop, clerk):
    v, w = shop.variant(price="10.00"), shop.variant(price="6.00")
    order = shop.checkout({v: 2, w: 1})
    line = order.lines.get(variant=v)
    path = url("order-cancel", order.number)
    paid_before = orders.paid(order)
    done = post_confirmed(
        desk, path, {"token": token(desk.get(path)), f"line_{line.pk}": "1", "reason": "changed mind"}
    )
    assert done.status_code == 302
    assert order.lines.get(pk=line.pk).cancelled == 1
    assert paid_before - orders.paid(order) == Decimal("10.00")  # the web channel lists prices with tax
    assert OrderEvent.objects.get(order=order, kind="cancelled_lines").actor == f"staff:{clerk.pk}"


def test_cancel_without_choosing_anything_says_so_and_too_many_units_is_shown_beside_the_line(desk, shop):
    order = shop.checkout({shop.variant(): 2})
    line = order.lines.get()
    path = url("order-cancel", order.number)
    t = token(desk.get(path))
    assert "Tick" in desk.post(path, {"token": t}).content.decode()
    page = desk.post(path, {"token": t, f"line_{line.pk}": "3"})
    assert field_error(page, f"line_{line.pk}") == "Ensure this value is less than or equal to 2."
    assert order.lines.get().cancelled == 0


def test_cancelling_the_whole_order_cancels_it(desk, shop):
    order = shop.checkout({shop.variant(): 1})
    path = url("order-cancel", order.number)
    assert post_confirmed(desk, path, {"token": token(desk.get(path)), "everything": "on"}).status_code == 302
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED


def test_cancelling_a_shipped_order_is_refused_on_the_form_not_a_500(desk, shop):
    order = shop.checkout({shop.variant(): 1})
    f = orders.create_fulfilments(order=order, actor="t")[0]
    orders.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T", actor="t")
    path = url("order-cancel", order.number)
    page = post_confirmed(desk, path, {"token": token(desk.get(path)), "everything": "on"})
    assert page.status_code == 200 and "invalid_transition" in page.content.decode()


def test_a_new_address_with_an_unknown_country_is_refused_beside_the_country(desk, shop):
    order = shop.checkout({shop.variant(): 1})
    path = url("order-address", order.number)
    form = desk.get(path)
    assert 'value="1 Analytical Row"' in form.content.decode()  # starts from the order's address
    data = {"token": token(form), "name": "Ada", "line1": "2 Engine St", "city": "Paris", "country": "ZZ"}
    page = post_confirmed(desk, path, data)
    assert "ISO-3166" in field_error(page, "country")
    done = post_confirmed(desk, path, {**data, "country": "FR", "postcode": "75001"})
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.shipping_address["city"] == "Paris"
    assert OrderEvent.objects.filter(order=order, kind="address_changed").exists()


def test_split_moves_chosen_units_into_a_child_order(desk, shop):
    v, w = shop.variant(), shop.variant()
    order = shop.checkout({v: 1, w: 2})
    line = order.lines.get(variant=w)
    path = url("order-split", order.number)
    assert (
        post_confirmed(desk, path, {"token": token(desk.get(path)), f"line_{line.pk}": "2"}).status_code
        == 302
    )
    child = Order.objects.get(parent=order)
    assert child.lines.get().quantity == 2 and order.lines.count() == 1


def test_splitting_every_unit_off_is_refused_on_the_form(desk, shop):
    order = shop.checkout({shop.variant(): 1})
    line = order.lines.get()
    path = url("order-split", order.number)
    page = post_confirmed(desk, path, {"token": token(desk.get(path)), f"line_{line.pk}": "1"})
    assert "leaves nothing behind" in page.content.decode()
    assert not Order.objects.filter(parent=order).exists()


def test_merge_offers_the_customers_other_open_orders_and_merges_them(desk, shop):
    ada = customer()
    v = shop.variant()
    older = shop.checkout({v: 1}, customer=ada)
    newer = shop.checkout({v: 2}, customer=ada)
    stranger = shop.checkout({v: 1}, customer=customer(email="x@example.com"))
    path = url("order-merge", newer.number)
    form = desk.get(path).content.decode()
    assert older.number in form and stranger.number not in form
    done = post_confirmed(desk, path, {"token": token(desk.get(path)), "orders": [older.number]})
    assert done.status_code == 302 and done["Location"] == url("order", older.number)
    assert Order.objects.get(pk=newer.pk).status == Order.Status.MERGED
    assert older.lines.get().quantity == 3


# --- exceptions and notes -------------------------------------------------------------------------------


def test_an_out_of_stock_exception_is_resolved_by_substituting_a_sku(desk, shop, clerk):
    gone, alike = shop.variant(stock=0), shop.variant(stock=3)
    order = shop.marketplace({gone: 1}, "M-1")
    item = OrderException.objects.get(order=order)
    line = order.lines.get()
    path = url("order-resolve", order.number, item.pk)
    data = {"token": token(desk.get(path)), "action": "substitute", f"substitute_{line.pk}": "NOPE"}
    page = post_confirmed(desk, path, data)
    assert "variant_unavailable" in field_error(page, f"substitute_{line.pk}")
    done = post_confirmed(desk, path, {**data, f"substitute_{line.pk}": alike.sku})
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.lines.get().sku == alike.sku
    assert OrderEvent.objects.get(order=order, kind="substituted").actor == f"staff:{clerk.pk}"


def test_substitute_without_a_sku_is_shown_beside_the_line(desk, shop):
    order = shop.marketplace({shop.variant(stock=0): 1}, "M-2")
    item = OrderException.objects.get(order=order)
    line = order.lines.get()
    path = url("order-resolve", order.number, item.pk)
    page = desk.post(path, {"token": token(desk.get(path)), "action": "substitute"})
    assert field_error(page, f"substitute_{line.pk}") == "Name the SKU that replaces this one."


def test_backorder_and_cancel_unavailable_resolve_the_exception(desk, shop):
    first = shop.marketplace({shop.variant(stock=0): 1}, "M-3")
    have, missing = shop.variant(price="10.00", stock=1), shop.variant(price="7.00", stock=0)
    second = shop.marketplace({have: 1, missing: 1}, "M-4")
    for order, action in ((first, "backorder"), (second, "cancel_unavailable")):
        item = OrderException.objects.get(order=order)
        path = url("order-resolve", order.number, item.pk)
        assert (
            post_confirmed(desk, path, {"token": token(desk.get(path)), "action": action}).status_code == 302
        )
    assert Order.objects.get(pk=first.pk).backordered_at is not None
    assert Order.objects.get(pk=second.pk).status == Order.Status.PAID
    assert second.lines.get(variant=missing).cancelled == 1


def test_a_note_lands_on_the_timeline_once_with_the_clerk(desk, shop, clerk):
    order = shop.checkout({shop.variant(): 1})
    path = url("order-note", order.number)
    t = token(desk.get(path))
    page = desk.post(path, {"token": t, "text": "   "})
    assert field_error(page, "text") == "This field is required."
    assert desk.post(path, {"token": t, "text": "Gift wrap please"}).status_code == 302
    assert desk.post(path, {"token": t, "text": "Gift wrap please"}).status_code == 302
    notes = OrderEvent.objects.filter(order=order, kind="note")
    assert [(n.message, n.actor) for n in notes] == [("Gift wrap please", f"staff:{clerk.pk}")]


# --- permissions ----------------------------------------------------------------------------------------


OPERATIONS = [
    ("order-cancel", CHANGE),
    ("order-address", CHANGE),
    ("order-split", CHANGE),
    ("order-merge", CHANGE),
    ("order-note", CHANGE),
    ("order-refund", REFUND),
    ("order-credit", CREDIT),
]


@pytest.mark.parametrize(("name", "needed"), OPERATIONS)
def test_an_operation_is_refused_to_staff_without_its_permission(client, shop, name, needed):
    order = shop.checkout({shop.variant(): 1}, customer=customer())
    held = [p for p in CLERK if p != needed]
    client.force_login(staff_with(*held, username="partial"))
    assert client.get(url(name, order.number)).status_code == 403
    assert client.post(url(name, order.number), {"amount": "1.00", "confirm": "yes"}).status_code == 403
    client.force_login(staff_with(*CLERK, username="full"))
    assert client.get(url(name, order.number)).status_code == 200


def test_ship_deliver_fulfil_and_resolve_are_refused_without_change_order(client, shop):
    order = shop.checkout({shop.variant(): 1})
    f = orders.create_fulfilments(order=order, actor="t")[0]
    client.force_login(staff_with(VIEW, REFUND, username="viewer"))
    assert client.post(url("order-fulfil", order.number)).status_code == 403
    assert client.get(url("order-ship", order.number, f.pk)).status_code == 403
    assert client.post(url("order-deliver", order.number, f.pk)).status_code == 403
    page = client.get(url("order", order.number)).content.decode()
    assert "Ship parcel" not in page and "Cancel items" not in page  # the page offers only what they may do
