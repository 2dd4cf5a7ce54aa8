"""Back-office screens for orders, payments and shipping render, stay read-only, and their actions change
orders only through the services (timeline written, refusals shown as messages)."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from omnishop.orders import services
from omnishop.orders.models import Order, OrderEvent
from omnishop.payments.models import Payment
from omnishop.shipping import services as shipping

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db

APPS = ("orders", "payments", "shipping")
SECRET = "a-very-long-carrier-secret"


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def registered_models():
    return [m for m in admin.site._registry if m._meta.app_label in APPS]


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture
def busy_shop(shop, customer, give_credit):
    """One of everything: a shipped and tracked order, a bank-transfer order, a refund, store credit."""
    v = shop.variant(stock=20)
    shipped = shop.checkout({v: 2}, key="shipped", customer=customer)
    for f in services.create_fulfilments(order=shipped, actor="test"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="JD0001", actor="test")
    shipping.create_carrier(code="dhl", name="DHL", webhook_secret=SECRET)
    body = orjson.dumps(
        {
            "events": [
                {
                    "id": "e1",
                    "tracking_number": "JD0001",
                    "status": "in_transit",
                    "occurred_at": "2026-11-25T10:00:00Z",
                }
            ]
        }
    )
    ts = str(int(time.time()))
    shipping.ingest_webhook(
        carrier_code="dhl", body=body, timestamp=ts, signature=shipping.sign(SECRET, ts, body)
    )
    partly = shop.checkout({v: 3}, key="partly")
    services.cancel_order(order=partly, quantities={partly.lines.get().pk: 1}, actor="test")
    transfer = shop.checkout({v: 1}, key="transfer", provider="manual", card="")
    give_credit(customer, "5.00")
    return {"variant": v, "shipped": shipped, "transfer": transfer}


def test_every_order_payment_and_shipping_screen_opens_for_staff(admin_client, busy_shop):
    models = registered_models()
    assert {m._meta.model_name for m in models} >= {"order", "payment", "refund", "trackingevent", "carrier"}
    for model in models:
        assert admin_client.get(changelist(model)).status_code == 200, model
        first = model.objects.first()
        if first is not None:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[first.pk])
            assert admin_client.get(url).status_code == 200, model


def test_order_page_shows_lines_parcels_payments_and_timeline_with_currency(admin_client, busy_shop):
    order = busy_shop["shipped"]
    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert order.number in page
    assert busy_shop["variant"].sku in page and "JD0001" in page
    assert f"{order.total.quantize(Decimal('0.01'))} GBP" in page
    assert "test_card" in page and "shipped" in page  # a payment row and a timeline event


def test_staff_can_find_an_order_by_sku_tracking_number_or_email(admin_client, busy_shop):
    url = changelist(Order)
    shipped = busy_shop["shipped"].number
    assert shipped in admin_client.get(url, {"q": "JD0001"}).content.decode()
    by_sku = admin_client.get(url, {"q": busy_shop["variant"].sku}).content.decode()
    assert shipped in by_sku and busy_shop["transfer"].number in by_sku
    assert busy_shop["transfer"].number not in admin_client.get(url, {"q": "JD0001"}).content.decode()


def test_order_list_does_a_fixed_number_of_queries_however_many_orders(
    admin_client, shop, customer, django_assert_max_num_queries
):
    v = shop.variant(stock=50)
    for i in range(12):
        shop.checkout({v: 1}, key=f"k{i}", customer=customer)
    with django_assert_max_num_queries(10):
        response = admin_client.get(changelist(Order))
    assert response.status_code == 200
    assert response.content.decode().count("GBP") >= 24  # total and paid of every row


def test_the_order_page_is_read_only(admin_client, shop):
    order = shop.checkout({shop.variant(): 1})
    url = reverse("admin:orders_order_change", args=[order.pk])
    assert admin_client.post(url, {"status": "cancelled", "email": "x@example.com"}).status_code == 403
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_cancelling_from_the_admin_releases_stock_refunds_and_writes_the_timeline(
    admin_client, shop, staff_user
):
    v = shop.variant(stock=3)
    order = shop.checkout({v: 2})
    response = admin_client.post(
        changelist(Order), {"action": "cancel", "_selected_action": [order.pk]}, follow=True
    )
    assert "Cancelled order(s): 1." in response.content.decode()
    order = services.get_order(order.number)
    assert order.status == Order.Status.CANCELLED and services.paid(order) == 0
    assert OrderEvent.objects.filter(order=order, kind="cancelled", actor=f"staff:{staff_user.pk}").exists()
    assert shop.stock(v).allocated == 0
    assert_books_balance()


def test_a_refused_admin_action_is_an_error_message_not_a_crash(admin_client, shop):
    order = services.cancel_order(order=shop.checkout({shop.variant(): 1}), actor="test")
    events = order.events.count()
    response = admin_client.post(
        changelist(Order), {"action": "cancel", "_selected_action": [order.pk]}, follow=True
    )
    assert response.status_code == 200
    assert f"{order.number}: An order that is cancelled cannot be cancelled. (invalid_transition)" in (
        response.content.decode()
    )
    assert order.events.count() == events


def test_confirming_a_bank_transfer_from_the_admin_marks_the_order_paid(admin_client, shop):
    order = shop.checkout({shop.variant(): 1}, provider="manual", card="")
    assert order.status == Order.Status.PENDING_PAYMENT
    admin_client.post(
        changelist(Order), {"action": "confirm_manual_payment", "_selected_action": [order.pk]}, follow=True
    )
    assert services.get_order(order.number).status == Order.Status.PAID
    assert Payment.objects.get(reference=order.payment_reference).status == Payment.Status.CAPTURED


def test_staff_who_may_only_view_orders_cannot_cancel_one(shop, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user(username="viewer", email="v@example.com", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_order", content_type__app_label="orders")
    )
    client = Client()
    client.force_login(viewer)
    order = shop.checkout({shop.variant(): 1})
    assert client.get(changelist(Order)).status_code == 200
    client.post(changelist(Order), {"action": "cancel", "_selected_action": [order.pk]}, follow=True)
    assert services.get_order(order.number).status == Order.Status.PAID
