"""The orders API over HTTP: checkout and carts, idempotency, one-click buy, access matrix, bad input."""

from __future__ import annotations

import pytest
from django.test import Client

from omnishop.channels.models import ApiKey
from omnishop.conftest import ApiClient
from omnishop.customers.services import add_address, customer_360, customer_for_user
from omnishop.orders import services
from omnishop.orders.models import Cart, Order
from omnishop.payments import services as payments
from omnishop.payments.models import Payment

from .conftest import ADDRESS, CARD_OK, assert_books_balance

pytestmark = pytest.mark.django_db


def body(v, qty=1, card=CARD_OK, **extra):
    return {
        "lines": [{"sku": v.sku, "quantity": qty}],
        "shipping_method": "standard",
        "shipping_address": ADDRESS,
        "email": "guest@example.com",
        "payment": {"provider": "test_card", "token": card},
        **extra,
    }


@pytest.fixture
def shopper_api(django_user_model):
    def make(email: str):
        user = django_user_model.objects.create_user(username=email, email=email, password="x-secret-x-1")
        client = Client()
        client.force_login(user)
        return ApiClient(client), customer_for_user(user=user)

    return make


def test_checkout_over_http_with_the_same_key_twice_is_one_order(api, shop):
    v = shop.variant(stock=5)
    key_api = api.with_key(shop.key)
    first = key_api.post("/orders/checkout", body(v), headers={"Idempotency-Key": "abc"})
    again = key_api.post("/orders/checkout", body(v), headers={"Idempotency-Key": "abc"})
    assert first.status_code == again.status_code == 201, first.content
    assert first.json()["number"] == again.json()["number"]
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    assert first.json()["total"] == "14.95"


def test_cart_checkout_prices_from_the_listing_and_places_once(api, shop):
    v = shop.variant(price="3.30", stock=5)
    key_api = api.with_key(shop.key)
    cart = key_api.post("/orders/carts", {"email": "g@example.com"}).json()
    token = cart["token"]
    r = key_api.put(f"/orders/carts/{token}/lines", {"sku": v.sku, "quantity": 3})
    assert r.json()["subtotal"] == "9.90"
    r = key_api.patch(f"/orders/carts/{token}", {"shipping_address": ADDRESS, "shipping_method": "standard"})
    assert r.json()["total"] == "14.85", r.content
    pay = {"payment": {"provider": "test_card", "token": CARD_OK}}
    placed = key_api.post(f"/orders/carts/{token}/checkout", pay, headers={"Idempotency-Key": "c1"})
    twice = key_api.post(f"/orders/carts/{token}/checkout", pay, headers={"Idempotency-Key": "c2"})
    assert placed.status_code == twice.status_code == 201, placed.content
    assert placed.json()["number"] == twice.json()["number"]
    assert Cart.objects.get().status == "ordered"
    changed = key_api.put(f"/orders/carts/{token}/lines", {"sku": v.sku, "quantity": 1})
    assert (changed.status_code, changed.json()["error"]["code"]) == (409, "cart_closed")


def test_one_click_buy_uses_default_address_and_saved_card(shop, shopper_api):
    client, customer = shopper_api("ada@example.com")
    v = shop.variant(stock=2)
    missing = client.post(
        "/orders/quick-checkout", {"channel": "web", "sku": v.sku}, headers={"Idempotency-Key": "1"}
    )
    assert missing.json()["error"]["code"] == "quick_checkout_unavailable"
    add_address(customer=customer, name="Ada", line1="1 Row", city="London", country="GB")
    assert client.post("/payments/methods", {"provider": "test_card", "token": CARD_OK}).status_code == 201
    r = client.post(
        "/orders/quick-checkout",
        {"channel": "web", "sku": v.sku, "quantity": 1},
        headers={"Idempotency-Key": "2"},
    )
    assert r.status_code == 201, r.content
    order = Order.objects.get(number=r.json()["number"])
    assert order.customer_id == customer.pk and order.status == "paid"
    assert order.shipping_address["city"] == "London"


def test_channel_orders_dedupe_on_external_id_over_http(api, shop):
    v = shop.variant(stock=5)
    key_api = api.with_key(shop.key)
    payload = {
        "external_id": "AMZ-77",
        "lines": [{"sku": v.sku, "quantity": 2, "unit_price": "9.00"}],
        "customer": {"email": "buyer@example.com"},
        "shipping_address": ADDRESS,
    }
    a = key_api.post("/orders/channel-orders", payload)
    b = key_api.post("/orders/channel-orders", payload)
    assert a.status_code == 201, a.content
    assert a.json()["number"] == b.json()["number"] and a.json()["total"] == "18.00"
    assert a.json()["status"] == "paid"


def test_a_channel_orders_e_mail_is_stored_lower_case_as_documented(api, shop):
    v = shop.variant(stock=5)
    payload = {
        "external_id": "AMZ-78",
        "lines": [{"sku": v.sku, "quantity": 1, "unit_price": "9.00"}],
        "customer": {"email": "  Jane.Doe@Example.COM "},
        "shipping_address": ADDRESS,
    }
    placed = api.with_key(shop.key).post("/orders/channel-orders", payload)
    assert placed.status_code == 201, placed.content
    assert Order.objects.get(number=placed.json()["number"]).email == "jane.doe@example.com"


def test_access_matrix_shopper_sees_own_orders_key_its_channel_staff_all(
    api, shop, shopper_api, make_channel, make_key, staff_api
):
    v = shop.variant(stock=10)
    ada_api, ada = shopper_api("ada@example.com")
    bob_api, bob = shopper_api("bob@example.com")
    ada_order = shop.checkout({v: 1}, key="a", customer=ada)
    bob_order = shop.checkout({v: 1}, key="b", customer=bob)
    other = make_channel("shop2", "web", "GBP")
    other_key = make_key(other)
    read_only = make_key(shop.channel, scopes=["orders:read"])
    no_orders = make_key(shop.channel, scopes=["catalog:read"])
    callers = {
        "ada": ada_api,
        "bob": bob_api,
        "web key": api.with_key(shop.key),
        "other channel key": api.with_key(other_key),
        "read-only key": api.with_key(read_only),
        "key without orders scope": api.with_key(no_orders),
        "staff": staff_api,
        "anonymous": api,
    }
    expected = {  # (sees ada's order, sees bob's order)
        "ada": (200, 404),
        "bob": (404, 200),
        "web key": (200, 200),
        "other channel key": (404, 404),
        "read-only key": (200, 200),
        "key without orders scope": (403, 403),
        "staff": (200, 200),
        "anonymous": (401, 401),
    }
    for who, client in callers.items():
        got = (
            client.get(f"/orders/{ada_order.number}").status_code,
            client.get(f"/orders/{bob_order.number}").status_code,
        )
        assert got == expected[who], who
    listed = ada_api.get("/orders").json()["items"]
    assert [o["number"] for o in listed] == [ada_order.number]
    assert api.with_key(other_key).get("/orders").json()["items"] == []
    # writes: a read-only key cannot cancel; bob cannot cancel ada's order
    assert api.with_key(read_only).post(f"/orders/{ada_order.number}/cancel", {}).status_code == 403
    assert bob_api.post(f"/orders/{ada_order.number}/cancel", {}).status_code == 404
    assert ada_api.post(f"/orders/{ada_order.number}/cancel", {}).status_code == 200
    # shoppers cannot ship or split
    assert ada_api.post(f"/orders/{bob_order.number}/fulfilments").status_code in (401, 403)


def test_order_search_by_number_email_name_and_sku_stays_within_what_the_caller_sees(
    api, shop, shopper_api, staff_api
):
    a, b = shop.variant(stock=10), shop.variant(stock=10)
    ada_api, ada = shopper_api("ada@example.com")
    ada.first_name, ada.last_name = "Ada", "Lovelace"
    ada.save()
    ada_order = shop.checkout({a: 1}, key="a", customer=ada)
    other = shop.checkout({b: 1}, key="b")

    def numbers(client, query: str) -> list[str]:
        response = client.get(f"/orders?{query}")
        assert response.status_code == 200, response.content
        return [o["number"] for o in response.json()["items"]]

    assert numbers(staff_api, f"q={ada_order.number.lower()}") == [ada_order.number]
    assert ada_order.number in numbers(staff_api, f"q={ada_order.number[:8]}")  # the start of a number
    assert numbers(staff_api, "q=lovelace+ada") == [ada_order.number]
    assert numbers(staff_api, f"sku={b.sku}") == [other.number]
    assert numbers(staff_api, "q=nobody-at-all") == []
    # a shopper searching for someone else's order finds nothing
    assert numbers(ada_api, f"q={other.number}") == []
    assert numbers(ada_api, f"q={ada_order.number}") == [ada_order.number]
    assert api.with_key(shop.key).get("/orders?q=" + "x" * 201).status_code == 422


def test_customer_360_lists_orders_from_every_channel(shop, customer, make_channel, make_key):
    v = shop.variant(stock=5)
    shop.checkout({v: 1}, key="x", customer=customer)
    pos = make_channel("pos", "pos_store", "GBP")
    from omnishop.catalog.models import ChannelListing
    from omnishop.inventory import services as inventory

    inventory.set_channel_locations(channel=pos, location_codes=["main-wh"])
    ChannelListing.objects.create(channel=pos, variant=v, is_published=True, price="10.00", currency="GBP")
    services.create_channel_order(
        channel=pos, lines=[services.ChannelLine(sku=v.sku, quantity=1)], customer=customer, actor="pos"
    )
    everywhere = customer_360(customer=customer)["orders"]
    assert everywhere["available"] is True
    assert sorted(o["channel"] for o in everywhere["items"]) == ["pos", "web"]
    only_pos = services.orders_for_customer(customer=customer, channel=pos)
    assert [o["channel"] for o in only_pos] == ["pos"]


BAD_CHECKOUTS = [
    ("empty cart", {"lines": []}, 422, "empty_cart"),
    ("unknown variant", {"lines": [{"sku": "NOPE", "quantity": 1}]}, 422, "variant_unavailable"),
    ("zero quantity", {"lines": [{"sku": "$SKU", "quantity": 0}]}, 422, "quantity_too_large"),
    ("negative quantity", {"lines": [{"sku": "$SKU", "quantity": -2}]}, 422, "quantity_too_large"),
    ("over availability", {"lines": [{"sku": "$SKU", "quantity": 50}]}, 409, "insufficient_stock"),
    ("unknown method", {"shipping_method": "teleport"}, 422, "shipping_method_unavailable"),
    ("no address", {"shipping_address": None}, 422, "address_required"),
    ("bad country", {"shipping_address": {**ADDRESS, "country": "XX"}}, 422, "invalid_address"),
    ("unknown field", {"coupon": "FREE"}, 422, "unknown_field"),
    ("unknown provider", {"payment": {"provider": "paypal", "token": ""}}, 422, "unknown_payment_provider"),
    ("bad card", {"payment": {"provider": "test_card", "token": "123"}}, 422, "invalid_payment_token"),
    (
        "declined",
        {"payment": {"provider": "test_card", "token": "4000000000000002"}},
        402,
        "payment_declined",
    ),
    (
        "duplicate sku",
        {"lines": [{"sku": "$SKU", "quantity": 1}, {"sku": "$SKU", "quantity": 1}]},
        422,
        "validation_error",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "status", "code"), BAD_CHECKOUTS, ids=[c[0] for c in BAD_CHECKOUTS]
)
def test_bad_checkout_input_is_a_4xx_and_writes_nothing(api, shop, case, change, status, code):
    v = shop.variant(stock=5)
    payload = body(v)
    payload.update(change)
    if "lines" in change:
        payload["lines"] = [{**x, "sku": v.sku if x["sku"] == "$SKU" else x["sku"]} for x in change["lines"]]
    r = api.with_key(shop.key).post("/orders/checkout", payload, headers={"Idempotency-Key": case})
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.content
    assert Order.objects.count() == 0
    level = shop.stock(v)
    assert (level.reserved, level.allocated) == (0, 0)
    assert_books_balance()


def test_checkout_without_idempotency_key_or_with_currency_mismatch_is_refused(api, shop):
    from omnishop.catalog.models import ChannelListing

    v = shop.variant(stock=5)
    r = api.with_key(shop.key).post("/orders/checkout", body(v))
    assert r.json()["error"]["code"] == "validation_error" and r.json()["error"]["field"] == "Idempotency-Key"
    ChannelListing.objects.filter(variant=v).update(currency="EUR")
    r = api.with_key(shop.key).post("/orders/checkout", body(v), headers={"Idempotency-Key": "m"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "currency_mismatch")


def test_bad_input_on_order_actions(api, shop, staff_api):
    v = shop.variant(stock=5)
    order = shop.checkout({v: 2})
    line = order.lines.get()
    key_api = api.with_key(shop.key)
    cases = [
        (
            f"/orders/{order.number}/cancel",
            {"lines": [{"line": line.pk, "quantity": 3}]},
            422,
            "quantity_too_large",
        ),
        (
            f"/orders/{order.number}/cancel",
            {"lines": [{"line": 999999, "quantity": 1}]},
            422,
            "validation_error",
        ),
        (
            f"/orders/{order.number}/address",
            {"shipping_address": {**ADDRESS, "country": "ZZ"}},
            422,
            "invalid_address",
        ),
        (
            f"/orders/{order.number}/split",
            {"lines": [{"line": line.pk, "quantity": 2}]},
            422,
            "validation_error",
        ),
        (
            f"/orders/{order.number}/returns",
            {"lines": [{"line": line.pk, "quantity": 1}]},
            409,
            "invalid_transition",
        ),
        (f"/orders/{order.number}/complete", None, 409, "invalid_transition"),
        ("/orders/merge", {"orders": [order.number]}, 422, "validation_error"),
        ("/orders/NOPE-1/cancel", {}, 404, "order_not_found"),
        ("/orders/exceptions/99999/resolve", {"action": "backorder"}, 404, "not_found"),
        ("/orders/fulfilments/99999/ship", {"carrier": "dhl"}, 404, "not_found"),
        ("/orders/returns/R-NOPE/approve", {}, 404, "not_found"),
        ("/orders/shipping-methods", {"code": "x", "name": "X", "kind": "rocket"}, 422, "validation_error"),
        (
            "/orders/shipping-methods",
            {"code": "y", "name": "Y", "kind": "flat", "price": "-1"},
            422,
            "invalid_amount",
        ),
        ("/orders/tax-rates", {"country": "GB", "rate": "1.5"}, 422, "validation_error"),
        ("/orders/carts", {"channel": "elsewhere"}, 422, "validation_error"),
    ]
    for path, payload, status, code in cases:
        r = key_api.post(path, payload)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (path, r.content)
    (f,) = services.create_fulfilments(order=order, actor="t")
    services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T", actor="t")
    locked = key_api.post(f"/orders/{order.number}/address", {"shipping_address": ADDRESS})
    assert (locked.status_code, locked.json()["error"]["code"]) == (409, "address_locked")
    too_many = key_api.post(f"/orders/{order.number}/returns", {"lines": [{"line": line.pk, "quantity": 3}]})
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (422, "quantity_too_large")
    p = Payment.objects.get(reference=order.number)
    over = key_api.post(f"/payments/{p.pk}/refunds", {"amount": "999.00"}, headers={"Idempotency-Key": "r"})
    assert (over.status_code, over.json()["error"]["code"]) == (409, "refund_exceeds_captured")
    negative = key_api.post(
        f"/payments/{p.pk}/refunds", {"amount": "-1.00"}, headers={"Idempotency-Key": "n"}
    )
    assert (negative.status_code, negative.json()["error"]["code"]) == (422, "invalid_amount")
    assert payments.paid_amount(reference=order.number) == order.total


def test_timeline_records_who_did_what_with_before_and_after(api, shop):
    v = shop.variant(stock=5)
    order = shop.checkout({v: 2})
    key_api = api.with_key(shop.key)
    key_api.post(f"/orders/{order.number}/address", {"shipping_address": {**ADDRESS, "city": "Leeds"}})
    events = key_api.get(f"/orders/{order.number}/timeline").json()["events"]
    change = next(e for e in events if e["kind"] == "address_changed")
    assert change["actor"] == "channel:web"
    assert change["before"]["address"]["city"] == "London" and change["after"]["address"]["city"] == "Leeds"
    assert all(e["created_at"].endswith("Z") for e in events)


def test_scopes_limit_what_a_key_may_do(api, shop, make_key):
    v = shop.variant(stock=5)
    read_only = make_key(shop.channel, scopes=["orders:read"])
    r = api.with_key(read_only).post("/orders/checkout", body(v), headers={"Idempotency-Key": "s"})
    assert r.status_code == 403
    assert ApiKey.objects.count() == 2


def test_a_return_is_approved_or_rejected_with_an_empty_body_and_a_missing_body_is_named(api, shop):
    from .test_lifecycle import ship_all

    v = shop.variant(stock=5)
    order = ship_all(shop.checkout({v: 2}))
    line = order.lines.get()
    key_api = api.with_key(shop.key)
    for decision in ("approve", "reject"):
        requested = key_api.post(
            f"/orders/{order.number}/returns", {"lines": [{"line": line.pk, "quantity": 1}]}
        )
        assert requested.status_code == 201, requested.content
        rma = services.get_order(order.number).returns.order_by("-pk").first()
        decided = key_api.post(f"/orders/returns/{rma.number}/{decision}")  # no body at all
        assert decided.status_code == 200, decided.content
        rma.refresh_from_db()
        assert rma.status == ("approved" if decision == "approve" else "rejected")
    missing = key_api.post(f"/orders/{order.number}/cancel", None)
    assert missing.status_code == 422
    assert (missing.json()["error"]["field"], missing.json()["error"]["message"]) == (
        "body",
        "'body' is required.",
    )
