"""Order answers are what the OpenAPI document says, and the buyer's secrets only reach the buyer's side."""

from __future__ import annotations

import pytest
from django.test import Client

from omnishop.conftest import ApiClient
from omnishop.contract import current_schema
from omnishop.customers.services import customer_for_user
from omnishop.orders.models import Order

from .conftest import ADDRESS, CARD_OK

pytestmark = pytest.mark.django_db

CARD_3DS = "4000002500003155"


@pytest.fixture(scope="module")
def documented():
    components = current_schema()["components"]["schemas"]

    def fields(name: str) -> set[str]:
        return set(components[name]["properties"])

    return fields


@pytest.fixture
def ada(django_user_model):
    user = django_user_model.objects.create_user(
        username="ada", email="ada@example.com", password="x-secret-x-1"
    )
    client = Client()
    client.force_login(user)
    return ApiClient(client), customer_for_user(user=user)


def test_only_the_buyers_side_gets_the_tracking_token_and_the_client_secret(api, shop, ada, staff_api):
    ada_api, customer = ada
    order = shop.checkout({shop.variant(stock=3): 1}, card=CARD_3DS, customer=customer)
    assert order.status == Order.Status.PENDING_PAYMENT
    seen = {}
    for who, client in {"ada": ada_api, "channel key": api.with_key(shop.key), "staff": staff_api}.items():
        answer = client.get(f"/orders/{order.number}")
        assert answer.status_code == 200, answer.content
        seen[who] = (answer.json()["tracking_token"], answer.json()["payments"][0]["client_secret"])
    secret = order_payment_secret(order)
    assert secret
    assert seen == {
        "ada": (order.tracking_token, secret),
        "channel key": (order.tracking_token, secret),
        "staff": (None, ""),
    }


def order_payment_secret(order) -> str:
    from omnishop.payments.models import Payment

    return Payment.objects.get(reference=order.payment_reference).client_secret


def test_an_order_answer_has_exactly_the_documented_fields(api, shop, documented):
    order = shop.checkout({shop.variant(stock=3): 1})
    answer = api.with_key(shop.key).get(f"/orders/{order.number}").json()
    assert set(answer) == documented("OrderOut")
    assert set(answer["lines"][0]) == documented("OrderLineOut")
    assert set(answer["payments"][0]) == documented("OrderPaymentOut")


def test_checkout_answers_and_their_replays_have_exactly_the_documented_fields(api, shop, documented):
    v = shop.variant(stock=5)
    key_api = api.with_key(shop.key)
    body = {
        "lines": [{"sku": v.sku, "quantity": 1}],
        "shipping_method": "standard",
        "shipping_address": ADDRESS,
        "payment": {"provider": "test_card", "token": CARD_OK},
    }
    answers = [key_api.post("/orders/checkout", body, headers={"Idempotency-Key": "one"}) for _ in range(2)]
    cart = key_api.post("/orders/carts", {"email": "g@example.com"}, headers={"Idempotency-Key": "cart"})
    assert set(cart.json()) == documented("CartOut")
    token = cart.json()["token"]
    key_api.put(f"/orders/carts/{token}/lines", {"sku": v.sku, "quantity": 1})
    key_api.patch(f"/orders/carts/{token}", {"shipping_address": ADDRESS, "shipping_method": "standard"})
    pay = {"payment": {"provider": "test_card", "token": CARD_OK}}
    answers += [
        key_api.post(f"/orders/carts/{token}/checkout", pay, headers={"Idempotency-Key": "c"})
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201, 201], answers[0].content
    assert answers[1]["Idempotent-Replayed"] == answers[3]["Idempotent-Replayed"] == "true"
    for answer in answers:
        assert set(answer.json()) == documented("PlacedOrderOut")
        assert answer.json()["tracking_token"]  # the channel placed it: it sends the buyer the link
