"""/admin/ops/: each role lands on its own desk, with what that role has to do next."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from omnishop.backoffice import roles
from omnishop.inventory import services as inventory
from omnishop.inventory.models import LowStockAlert
from omnishop.inventory.services.replenishment import open_low_stock_alerts
from omnishop.orders import services as orders
from omnishop.orders.tests.conftest import Shop
from omnishop.payments import services as payments

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)
HOME = "/admin/ops/"


def staff_in(role_key: str | None, *, username: str | None = None, password: str = "correct horse 42"):
    """A member of staff holding one role (None: staff with no role)."""
    user = get_user_model().objects.create_user(
        username=username or f"{role_key or 'norole'}-{next(_seq)}", password=password, is_staff=True
    )
    if role_key:
        user.groups.add(Group.objects.get(name=roles.BY_KEY[role_key].name))
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_shop(web_channel, make_key) -> Shop:
    """A web channel selling from a warehouse and a London shop (orders tests' Shop factory)."""
    warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
    store = inventory.create_location(code="shop-ldn", name="London shop", kind="retail_store")
    inventory.set_channel_locations(channel=web_channel, location_codes=[warehouse.code, store.code])
    shop = Shop(web_channel, warehouse, make_key)
    shop.store = store
    return shop


@pytest.fixture
def shop(web_channel, make_key):
    return make_shop(web_channel, make_key)


def test_the_warehouse_sees_what_to_pick_pack_and_ship_per_location(shop):
    from_wh = shop.variant(stock=5)
    from_store = shop.variant(stock=3, location=shop.store)
    ready = shop.checkout({from_wh: 2}, key="a")
    packing = shop.checkout({from_store: 1}, key="b")
    orders.create_fulfilments(order=packing, actor="test")
    shipped = shop.checkout({from_wh: 1}, key="c")
    for fulfilment in orders.create_fulfilments(order=shipped, actor="test"):
        orders.ship_fulfilment(fulfilment=fulfilment, carrier="dpd", tracking_number="T1", actor="test")

    page = signed_in(staff_in("warehouse")).get(HOME)

    assert page.status_code == 200
    html = page.content.decode()
    main, store = html.index("Main warehouse"), html.index("London shop")
    assert main < store  # locations in code order
    assert (
        f'href="/admin/ops/orders/{ready.number}/"' in html[main:store]
    )  # ready to fulfil, in the warehouse
    assert f'href="/admin/ops/orders/{packing.number}/"' in html[store:]  # being packed at the shop
    assert shipped.number not in html
    work = {w.code: w for w in page.context["locations"]}
    assert [(r.number, r.units, r.fulfilment_id) for r in work["main-wh"].ready] == [(ready.number, 2, None)]
    assert work["main-wh"].to_pack == []
    assert [(r.number, r.units) for r in work["shop-ldn"].to_pack] == [(packing.number, 1)]
    assert work["shop-ldn"].ready == []


def test_the_warehouse_page_costs_the_same_queries_for_one_order_or_many(shop, django_assert_max_num_queries):
    variant = shop.variant(stock=50)
    shop.checkout({variant: 1}, key="first")
    client = signed_in(staff_in("warehouse"))
    client.get(HOME)
    with django_assert_max_num_queries(12) as one:
        client.get(HOME)
    for n in range(8):
        order = shop.checkout({variant: 1}, key=f"more-{n}")
        if n % 2:
            orders.create_fulfilments(order=order, actor="test")
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(HOME)
    assert sum(len(w.ready) + len(w.to_pack) for w in page.context["locations"]) == 9


def test_finance_sees_payments_to_capture_failed_captures_and_refunds_above_the_limit(shop, settings):
    settings.OMNISHOP_REFUND_LIMIT = Decimal("50")
    order = shop.checkout({shop.variant(price="100.00"): 1}, key="paid")
    captured = payments.payments_for(reference=order.payment_reference)[0]
    payments.refund_payment(payment=captured, amount=Decimal("60"), key="big", reason="damaged")
    payments.refund_payment(payment=captured, amount=Decimal("5"), key="small", reason="late")
    authorised = payments.start_payment(
        channel=shop.channel,
        reference="AUTH-1",
        provider="test_card",
        amount=Decimal("30"),
        currency="GBP",
        token="4242424242424242",
        capture=False,
    )
    payments.record_failed_attempt(
        channel=shop.channel,
        reference="FAIL-1",
        provider="test_card",
        amount=Decimal("12"),
        currency="GBP",
        failure_code="card_declined",
    )

    page = signed_in(staff_in("finance")).get(HOME)

    assert page.status_code == 200
    assert [p.pk for p in page.context["to_capture"]] == [authorised.pk]
    assert [p.failure_code for p in page.context["failed"]] == ["card_declined"]
    (large_heading, large, *_), (_, recent, *_) = page.context["refund_sections"]
    assert [r.amount for r in large] == [Decimal("60.0000")]
    assert sorted(r.amount for r in recent) == [Decimal("5.0000"), Decimal("60.0000")]
    assert "50" in str(large_heading)
    assert f'href="/admin/ops/orders/{order.number}/"' in page.content.decode()  # the refunds' order


def test_the_merchandiser_sees_changed_listings_unpublished_products_and_low_stock_on_sale(shop):
    on_sale = shop.variant(sku="ON-SALE", stock=2)
    hidden = shop.variant(sku="HIDDEN", published=False, stock=1)
    for variant in (on_sale, hidden):
        level = shop.stock(variant)
        level.reorder_point = 5
        level.save(update_fields=["reorder_point"])
    open_low_stock_alerts(levels=[shop.stock(on_sale), shop.stock(hidden)])
    assert LowStockAlert.objects.count() == 2

    page = signed_in(staff_in("merchandiser")).get(HOME)

    assert page.status_code == 200
    assert {x.variant.sku for x in page.context["listings"]} == {"ON-SALE", "HIDDEN"}
    assert [p.pk for p in page.context["unpublished"]] == [hidden.product_id]
    assert [a.variant.sku for a in page.context["low_stock"]] == ["ON-SALE"]  # the hidden SKU is not on sale


def test_customer_service_sees_open_exceptions_and_recent_returns(shop):
    order = shop.checkout({shop.variant(): 1}, key="x")
    orders.open_exception(order=order, reason="carrier_exception", details={}, actor="test")
    page = signed_in(staff_in("customer_service")).get(HOME)
    assert page.status_code == 200
    assert [x.order.number for x in page.context["exceptions"]] == [order.number]
    assert "Carrier reported a problem" in page.content.decode()
    assert page.context["returns"] == []


def test_returns_waiting_for_a_decision_come_before_closed_ones_newest_first(shop):
    order = shop.checkout({shop.variant(stock=5): 3}, key="r")
    for fulfilment in orders.create_fulfilments(order=order, actor="test"):
        orders.ship_fulfilment(fulfilment=fulfilment, carrier="dpd", tracking_number="T9", actor="test")
        orders.mark_delivered(fulfilment=fulfilment, actor="test")
    line = order.lines.get()
    first, second, third = (
        orders.request_return(order=order, lines=[(line.pk, 1, "too small")], actor="test") for _ in range(3)
    )
    orders.decide_return(rma=second, approve=False, actor="test")  # closed
    orders.decide_return(rma=first, approve=True, actor="test")  # waiting for the parcel

    assert [r.number for r in orders.recent_returns()] == [third.number, first.number, second.number]
    assert [r.number for r in orders.recent_returns(limit=1)] == [third.number]
    page = signed_in(staff_in("customer_service")).get(HOME)
    assert [r.number for r in page.context["returns"]] == [third.number, first.number, second.number]


@pytest.mark.parametrize("role_key", ["store_manager", "analyst"])
def test_the_store_manager_and_the_analyst_are_sent_to_the_dashboard(role_key):
    page = signed_in(staff_in(role_key)).get(HOME)
    assert page.status_code == 302 and page["Location"] == "/admin/ops/dashboard/"


def test_a_manager_may_open_the_warehouse_desk_but_the_warehouse_not_finance(shop):
    assert signed_in(staff_in("store_manager")).get(HOME + "?desk=warehouse").status_code == 200
    assert signed_in(staff_in("warehouse")).get(HOME + "?desk=finance").status_code == 403
    assert signed_in(staff_in("warehouse")).get(HOME + "?desk=nowhere").status_code == 404


def test_staff_without_a_role_are_told_so_and_shoppers_are_sent_to_the_admin_log_in(db):
    page = signed_in(staff_in(None)).get(HOME)
    assert page.status_code == 200 and "no back-office role yet" in page.content.decode()
    shopper = get_user_model().objects.create_user(username="shopper", password="x" * 12)
    page = signed_in(shopper).get(HOME)
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")


def test_the_admin_log_in_lands_staff_on_their_desk_and_the_admin_index_links_the_desks(db):
    staff_in("warehouse", username="wendy", password="correct horse 42")
    client = Client()
    form = client.get("/admin/login/?next=/admin/")
    assert 'name="next" value="/admin/ops/"' in form.content.decode()
    landed = client.post(
        "/admin/login/?next=/admin/",
        {"username": "wendy", "password": "correct horse 42", "next": "/admin/ops/"},
    )
    assert landed.status_code == 302 and landed["Location"] == "/admin/ops/"
    other = Client().get("/admin/login/?next=/admin/orders/order/")
    assert 'name="next" value="/admin/orders/order/"' in other.content.decode()

    index = client.get("/admin/")
    assert index.status_code == 200
    html = index.content.decode()
    assert 'id="desks-module"' in html and 'href="/admin/ops/"' in html
