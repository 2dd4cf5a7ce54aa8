"""A guest's orders become the shopper's once the shopper proves the e-mail they were placed with — and only
then: signing up with somebody's address must not open their orders."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache

from omnishop.customers.models import Customer
from omnishop.customers.services import customer_for_user, link_verified_email, resolve_customer
from omnishop.customers.tests.conftest import Headless, verification_key_in
from omnishop.orders import services
from omnishop.orders.models import Order

from .conftest import ADDRESS, CARD_OK

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():  # allauth's limits live in the cache (a database table)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def guest_order(shop):
    variant = shop.variant(stock=20)
    numbers = iter(range(1, 100))

    def place(email: str, *, customer=None) -> Order:
        return services.place_order(
            channel=shop.channel,
            quantities={variant.sku: 1},
            shipping_method="standard",
            shipping_address=ADDRESS,
            payment=services.PaymentRequest(provider="test_card", token=CARD_OK),
            key=f"guest-{next(numbers)}",
            customer=customer,
            email=email,
            actor="test",
        )

    return place


def _user_with_email(django_user_model, email: str, *, verified: bool):
    user = django_user_model.objects.create_user(username=email.split("@")[0], email=email, password="x")
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    return user


def test_a_guest_checkout_becomes_the_shoppers_order_when_they_sign_up_and_verify(api, shop):
    guest_cart = api.with_key(shop.key).post("/orders/carts", {"email": "Grace.Hopper@Example.com"}).json()
    key_api = api.with_key(shop.key)
    token = guest_cart["token"]
    key_api.put(f"/orders/carts/{token}/lines", {"sku": shop.variant(stock=3).sku, "quantity": 1})
    key_api.patch(f"/orders/carts/{token}", {"shipping_address": ADDRESS, "shipping_method": "standard"})
    placed = key_api.post(
        f"/orders/carts/{token}/checkout",
        {"payment": {"provider": "test_card", "token": CARD_OK}},
        headers={"Idempotency-Key": "guest-checkout"},
    )
    assert placed.status_code == 201, placed.content
    number = placed.json()["number"]
    assert Order.objects.get(number=number).customer is None

    headless = Headless()
    pending = headless.start_sign_up("grace.hopper@example.com")
    assert Order.objects.get(number=number).customer is None  # signed up, not yet proven
    assert api.with_session(pending).get("/orders").status_code == 401  # and not signed in either

    verified = headless.post(
        "/auth/email/verify", {"key": verification_key_in(mail.outbox[-1].body)}, pending
    )
    assert verified.status_code == 200, verified.content
    shopper_api = api.with_session(verified.json()["meta"]["session_token"])
    order = Order.objects.get(number=number)
    me = shopper_api.get("/customers/me").json()
    assert order.customer_id == me["id"]
    assert [o["number"] for o in shopper_api.get("/orders").json()["items"]] == [number]
    assert order.events.filter(kind="customer_linked", actor="verified-email").count() == 1


def test_an_unverified_sign_up_does_not_claim_someone_elses_orders(api, guest_order):
    order = guest_order("victim@example.com")
    pending = Headless().start_sign_up("victim@example.com")  # anyone can type the address
    order.refresh_from_db()
    assert order.customer is None
    assert api.with_session(pending).get("/orders").status_code == 401
    assert not order.events.filter(kind="customer_linked").exists()


def test_a_user_created_with_a_verified_e_mail_gets_its_guest_orders(django_user_model, guest_order):
    first, second = guest_order("alan@example.com"), guest_order(" ALAN@example.com ")
    user = _user_with_email(django_user_model, "alan@example.com", verified=True)
    customer = customer_for_user(user=user)
    assert set(Order.objects.filter(customer=customer)) == {first, second}


def test_proving_an_address_the_account_table_does_not_call_verified_links_nothing(
    django_user_model, guest_order
):
    order = guest_order("alan@example.com")
    user = _user_with_email(django_user_model, "alan@example.com", verified=False)
    link_verified_email(user=user, email="alan@example.com")
    order.refresh_from_db()
    assert order.customer is None


def test_other_peoples_orders_are_left_alone(web_channel, django_user_model, guest_order):
    someone_else = guest_order("barbara@example.com")
    already_owned = resolve_customer(channel=web_channel, email="kathleen@example.net").customer
    owned = guest_order("ada@example.com", customer=already_owned)  # someone's, with Ada's address typed
    mine = guest_order("ada@example.com")
    user = _user_with_email(django_user_model, "ada@example.com", verified=True)
    customer = link_verified_email(user=user, email="ada@example.com")
    for order in (someone_else, owned, mine):
        order.refresh_from_db()
    assert mine.customer == customer
    assert someone_else.customer is None
    assert owned.customer == already_owned


def test_linking_again_changes_nothing(django_user_model, guest_order):
    order = guest_order("edsger@example.com")
    user = _user_with_email(django_user_model, "edsger@example.com", verified=True)
    customer = link_verified_email(user=user, email="edsger@example.com")
    again = link_verified_email(user=user, email="edsger@example.com")
    order.refresh_from_db()
    assert again == customer == order.customer
    assert order.events.filter(kind="customer_linked").count() == 1
    assert services.link_guest_orders(customer=customer, emails=["edsger@example.com"]) == 0
    assert Customer.objects.filter(user=user).count() == 1
