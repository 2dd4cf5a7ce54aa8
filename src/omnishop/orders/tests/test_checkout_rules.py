"""Checkout rules one by one: what is refused (and which field is blamed), what the order records to the
cent, what a decline, a 3-D Secure card, a transfer, a replayed key and a failed write leave behind; cart
checkout, one-click buy and store credit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.core.errors import DomainError
from omnishop.customers.models import Address
from omnishop.inventory import services as inventory
from omnishop.inventory.models import Reservation
from omnishop.orders import services
from omnishop.orders.models import Cart, Order, OrderEvent, ShippingMethod
from omnishop.orders.services import listeners
from omnishop.payments import credit
from omnishop.payments import services as payments
from omnishop.payments.models import Payment, Refund

from .conftest import ADDRESS, CARD_OK, assert_books_balance

pytestmark = pytest.mark.django_db

CARD_3DS = "4000002500003155"
CARD_DECLINED = "4000000000000002"


def refused(fn, code: str, field: str | None):
    with pytest.raises(DomainError) as caught:
        fn()
    assert (caught.value.code, caught.value.field) == (code, field), caught.value.as_dict()
    return caught.value


def place(shop, quantities, **kw):
    args = dict(
        channel=shop.channel,
        quantities=quantities,
        shipping_method="standard",
        shipping_address=ADDRESS,
        payment=services.PaymentRequest("test_card", CARD_OK),
        key="k1",
        actor="shopper:1",
    )
    args.update(kw)
    return services.place_order(**args)


def nothing_happened(shop, *variants):
    assert Order.objects.count() == 0
    assert Payment.objects.filter(status="captured").count() == 0
    for v in variants:
        level = shop.stock(v)
        assert (level.allocated, level.reserved) == (0, 0)


# --- validation ----------------------------------------------------------------------------------------------


def test_a_checkout_key_is_1_to_255_characters(shop):
    v = shop.variant(stock=5)
    refused(lambda: place(shop, {v.sku: 1}, key=""), "validation_error", "Idempotency-Key")
    refused(lambda: place(shop, {v.sku: 1}, key="k" * 256), "validation_error", "Idempotency-Key")
    nothing_happened(shop, v)
    assert place(shop, {v.sku: 1}, key="k" * 255).checkout_key == "k" * 255


def test_an_empty_cart_is_refused(shop):
    refused(lambda: place(shop, {}), "empty_cart", "lines")


def test_a_shipping_method_must_be_chosen_exist_and_be_active(shop):
    v = shop.variant(stock=5)
    refused(
        lambda: place(shop, {v.sku: 1}, shipping_method=None),
        "shipping_method_unavailable",
        "shipping_method",
    )
    refused(
        lambda: place(shop, {v.sku: 1}, shipping_method=""), "shipping_method_unavailable", "shipping_method"
    )
    refused(
        lambda: place(shop, {v.sku: 1}, shipping_method="drone"),
        "shipping_method_unavailable",
        "shipping_method",
    )
    old = services.create_shipping_method(
        channel=shop.channel, code="old", name="Old", kind="flat", price="1.00"
    )
    ShippingMethod.objects.filter(pk=old.pk).update(is_active=False)
    refused(
        lambda: place(shop, {v.sku: 1}, shipping_method="old"),
        "shipping_method_unavailable",
        "shipping_method",
    )
    nothing_happened(shop, v)


def test_a_method_of_another_channel_cannot_be_used(shop, make_channel):
    other = make_channel("shop2", "web", "GBP")
    services.create_shipping_method(channel=other, code="courier", name="Courier", kind="flat", price="1.00")
    v = shop.variant(stock=5)
    refused(
        lambda: place(shop, {v.sku: 1}, shipping_method="courier"),
        "shipping_method_unavailable",
        "shipping_method",
    )


def test_a_delivery_needs_a_valid_address(shop):
    v = shop.variant(stock=5)
    refused(lambda: place(shop, {v.sku: 1}, shipping_address=None), "address_required", "shipping_address")
    refused(
        lambda: place(shop, {v.sku: 1}, shipping_address={**ADDRESS, "country": "XX"}),
        "invalid_address",
        "shipping_address.country",
    )
    refused(
        lambda: place(shop, {v.sku: 1}, shipping_address={**ADDRESS, "city": " "}),
        "invalid_address",
        "shipping_address.city",
    )
    nothing_happened(shop, v)


def test_unknown_unpublished_inactive_or_other_currency_skus_are_refused_by_line(shop):
    from omnishop.catalog.models import ChannelListing, Variant

    ok = shop.variant(stock=5)
    hidden = shop.variant(stock=5, published=False)
    error = refused(lambda: place(shop, {ok.sku: 1, "NOPE": 1}), "variant_unavailable", "lines[1].sku")
    assert error.details == {"sku": "NOPE"}
    refused(lambda: place(shop, {hidden.sku: 1}), "variant_unavailable", "lines[0].sku")
    retired = shop.variant(stock=5)
    Variant.objects.filter(pk=retired.pk).update(is_active=False)
    refused(lambda: place(shop, {retired.sku: 1}), "variant_unavailable", "lines[0].sku")
    dollars = shop.variant(stock=5)
    ChannelListing.objects.filter(variant=dollars).update(currency="USD")
    refused(lambda: place(shop, {ok.sku: 1, dollars.sku: 1}), "currency_mismatch", "lines[1].sku")
    nothing_happened(shop, ok, hidden, retired, dollars)


def test_quantities_are_whole_numbers_from_1_to_10000(shop):
    v = shop.variant(stock=5)
    for i, bad in enumerate((0, -1, 10_001, 1.5, "2", True, False)):
        refused(
            lambda bad=bad, i=i: place(shop, {v.sku: bad}, key=f"q{i}"),
            "quantity_too_large",
            "lines[0].quantity",
        )
    w = shop.variant(stock=5)
    refused(lambda: place(shop, {w.sku: 1, v.sku: 0}), "quantity_too_large", "lines[1].quantity")
    nothing_happened(shop, v, w)


def test_the_largest_line_is_10000_units(shop):
    v = shop.variant(price="0.01", stock=10_000)
    order = place(shop, {v.sku: 10_000})
    assert order.lines.get().quantity == 10_000
    assert order.subtotal == Decimal("100.00")


def test_an_unknown_payment_provider_is_refused_before_anything_is_held(shop):
    v = shop.variant(stock=5)
    with pytest.raises(DomainError) as caught:
        place(shop, {v.sku: 1}, payment=services.PaymentRequest("cheque"))
    assert caught.value.code == "unknown_payment_provider"
    nothing_happened(shop, v)
    assert Payment.objects.count() == 0


# --- what the order records ------------------------------------------------------------------------------------


def test_a_paid_order_records_its_lines_totals_and_destination_to_the_cent(shop, customer):
    a = shop.variant(price="10.00", stock=5, weight=250)
    b = shop.variant(price="3.35", stock=5)
    order = place(shop, {a.sku: 2, b.sku: 3}, customer=customer, email="ada@example.com", request_hash="h1")
    order = services.get_order(order.number)
    # GB 20 % inside the prices: a 20.00 (tax 3.33), b 10.05 (tax 1.68), shipping 4.95 (tax 0.83)
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        Decimal("30.05"),
        Decimal("4.95"),
        Decimal("5.84"),
        Decimal("35.00"),
    )
    assert (order.status, order.currency, order.prices_include_tax) == (Order.Status.PAID, "GBP", True)
    assert (order.customer, order.email, order.channel) == (customer, "ada@example.com", shop.channel)
    assert order.shipping_address == {**ADDRESS, "company": "", "line2": "", "region": "", "phone": ""}
    assert (order.shipping_method, order.shipping_method_name) == (shop.standard, "Standard")
    assert (order.checkout_key, order.checkout_hash, order.cart) == ("k1", "h1", None)
    assert order.payment_reference == order.number and order.number.startswith("WEB-")
    assert len(order.tracking_token) >= 32
    rows = [
        (
            x.variant_id,
            x.sku,
            x.quantity,
            x.allocated,
            x.fulfilled,
            x.unit_price,
            x.tax_rate,
            x.line_net,
            x.line_tax,
            x.line_total,
            x.weight_grams,
        )
        for x in order.lines.order_by("pk")
    ]
    assert rows == [
        (
            a.pk,
            a.sku,
            2,
            2,
            0,
            Decimal("10.00"),
            Decimal("0.20"),
            Decimal("16.67"),
            Decimal("3.33"),
            Decimal("20.00"),
            500,
        ),
        (
            b.pk,
            b.sku,
            3,
            3,
            0,
            Decimal("3.35"),
            Decimal("0.20"),
            Decimal("8.37"),
            Decimal("1.68"),
            Decimal("10.05"),
            0,
        ),
    ]
    assert order.lines.get(variant=a).title == a.product.title
    payment = Payment.objects.get(reference=order.number)
    assert (payment.status, payment.amount, payment.captured, payment.customer, payment.currency) == (
        "captured",
        Decimal("35.00"),
        Decimal("35.00"),
        customer,
        "GBP",
    )
    assert (shop.stock(a).allocated, shop.stock(b).allocated) == (2, 3)
    assert_books_balance()


def test_the_placed_event_says_who_how_and_how_much(shop):
    v = shop.variant(price="10.00", stock=5)
    order = place(shop, {v.sku: 1})
    payment = Payment.objects.get(reference=order.number)
    event = OrderEvent.objects.get(order=order)
    assert (event.kind, event.actor, event.message, event.before, event.after) == (
        "placed",
        "shopper:1",
        "Placed with test_card (captured).",
        None,
        {"status": "paid", "total": "14.95", "payment": payment.pk},
    )


def test_tax_follows_the_destination_country(shop):
    v = shop.variant(price="12.00", stock=5)
    gb = place(shop, {v.sku: 1}, key="gb")
    fr = place(shop, {v.sku: 1}, key="fr", shipping_address={**ADDRESS, "country": "fr"})
    assert (gb.tax_total, gb.total) == (Decimal("2.00") + Decimal("0.83"), Decimal("16.95"))
    # FR has no own rate: the '*' 10 % applies, to the goods and to the shipping
    assert (fr.tax_total, fr.total) == (Decimal("1.09") + Decimal("0.45"), Decimal("16.95"))
    assert fr.shipping_address["country"] == "FR"


def test_a_pickup_order_is_taxed_where_the_store_is(shop):
    store = inventory.create_location(
        code="paris",
        name="Paris",
        kind="retail_store",
        serves_pickup=True,
        ships_to_customers=False,
        country="FR",
    )
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, store.code])
    services.create_shipping_method(
        channel=shop.channel, code="collect", name="Collect", kind="pickup", pickup_location="paris"
    )
    v = shop.variant(price="11.00", stock=0)
    inventory.receive_stock(variant=v, location=store, quantity=2, reference="t")
    order = place(shop, {v.sku: 1}, shipping_method="collect", shipping_address=None)
    assert order.shipping_address is None
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        Decimal("11.00"),
        Decimal("0.00"),
        Decimal("1.00"),
        Decimal("11.00"),
    )
    assert shop.stock(v, store).allocated == 1


def test_a_pickup_store_without_a_country_is_taxed_in_the_channels_country(shop):
    store = inventory.create_location(
        code="popup", name="Pop-up", kind="retail_store", serves_pickup=True, ships_to_customers=False
    )
    inventory.set_channel_locations(channel=shop.channel, location_codes=[store.code])
    services.create_shipping_method(
        channel=shop.channel, code="collect", name="Collect", kind="pickup", pickup_location="popup"
    )
    services.set_tax_rate(channel=shop.channel, country=shop.channel.country, rate="0.05")
    v = shop.variant(price="21.00", stock=0)
    inventory.receive_stock(variant=v, location=store, quantity=1, reference="t")
    order = place(shop, {v.sku: 1}, shipping_method="collect", shipping_address=None)
    assert order.tax_total == Decimal("1.00")


# --- declines, 3-D Secure, transfers ----------------------------------------------------------------------------


def test_a_declined_card_leaves_no_order_a_failed_attempt_and_all_stock_free(shop, customer):
    v = shop.variant(price="10.00", stock=1)
    refused(
        lambda: place(
            shop, {v.sku: 1}, customer=customer, payment=services.PaymentRequest("test_card", CARD_DECLINED)
        ),
        "payment_declined",
        "payment.token",
    )
    nothing_happened(shop, v)
    attempt = Payment.objects.get()
    assert (attempt.status, attempt.amount, attempt.currency, attempt.failure_code, attempt.customer) == (
        "failed",
        Decimal("14.95"),
        "GBP",
        "payment_declined",
        customer,
    )
    assert attempt.reference.startswith("WEB-") and attempt.provider == "test_card"
    # the unit is free again: the next shopper gets it
    assert place(shop, {v.sku: 1}, key="k2").status == Order.Status.PAID


def test_a_3d_secure_card_waits_as_pending_payment_with_the_stock_held(
    shop, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr(listeners, "LISTENERS", [told.append])
    v = shop.variant(stock=2)
    with django_capture_on_commit_callbacks(execute=True):
        order = place(shop, {v.sku: 1}, payment=services.PaymentRequest("test_card", CARD_3DS))
    assert order.status == Order.Status.PENDING_PAYMENT
    assert Payment.objects.get(reference=order.number).status == "requires_action"
    assert shop.stock(v).allocated == 1 and told == []
    assert OrderEvent.objects.get(order=order).after["status"] == "pending_payment"
    with django_capture_on_commit_callbacks(execute=True):
        payments.confirm_payment(payment=Payment.objects.get(reference=order.number))
    assert [o.number for o in told] == [order.number]


def test_a_paid_checkout_tells_the_order_paid_listeners_once(
    shop, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr(listeners, "LISTENERS", [told.append])
    v = shop.variant(stock=2)
    with django_capture_on_commit_callbacks(execute=True):
        order = place(shop, {v.sku: 1})
    assert [o.number for o in told] == [order.number]


def test_a_bank_transfer_waits_as_pending_payment(shop):
    v = shop.variant(stock=2)
    order = place(shop, {v.sku: 1}, payment=services.PaymentRequest("manual", "IBAN"))
    assert order.status == Order.Status.PENDING_PAYMENT
    payment = Payment.objects.get(reference=order.number)
    assert (payment.status, payment.amount, payment.captured) == ("pending", Decimal("14.95"), Decimal("0"))
    assert services.paid(order) == 0


# --- idempotency --------------------------------------------------------------------------------------------------


def test_the_same_key_replays_the_first_order_without_charging_again(shop):
    v = shop.variant(stock=5)
    first = place(shop, {v.sku: 1}, request_hash="h")
    assert not getattr(first, "replayed", False)
    again = place(shop, {v.sku: 1}, request_hash="h")
    assert (again.pk, again.replayed) == (first.pk, True)
    unhashed = place(shop, {v.sku: 1})
    assert (unhashed.pk, unhashed.replayed) == (first.pk, True)
    assert Payment.objects.count() == 1 and shop.stock(v).allocated == 1


def test_the_same_key_with_another_request_is_refused(shop):
    v = shop.variant(stock=5)
    first = place(shop, {v.sku: 1}, request_hash="h1")
    error = refused(
        lambda: place(shop, {v.sku: 2}, request_hash="h2"), "idempotency_key_reused", "Idempotency-Key"
    )
    assert error.details == {"order": first.number}
    assert Payment.objects.count() == 1 and shop.stock(v).allocated == 1


def test_a_key_first_used_without_a_fingerprint_replays_for_any_request(shop):
    v = shop.variant(stock=5)
    first = place(shop, {v.sku: 1})
    assert place(shop, {v.sku: 2}, request_hash="h2").pk == first.pk


def test_the_same_key_on_another_channel_is_another_checkout(shop, make_channel):
    v = shop.variant(stock=5)
    first = place(shop, {v.sku: 1})
    other = make_channel("kiosk", "web", "GBP")
    with pytest.raises(DomainError):
        place(shop, {v.sku: 1}, channel=other)  # the SKU is not listed there: not the first order replayed
    assert Order.objects.get() == first


# --- remote providers: reservation, charge, write, undo ---------------------------------------------------------


@pytest.fixture
def remote_card(monkeypatch):
    from omnishop.payments.providers import PROVIDERS

    monkeypatch.setattr(PROVIDERS["test_card"], "in_process", False)


def test_a_remote_charge_holds_stock_with_a_reservation_named_after_the_order(shop, remote_card):
    v = shop.variant(stock=2)
    order = place(shop, {v.sku: 2})
    reservation = Reservation.objects.get()
    assert (reservation.key, reservation.reference, reservation.status) == (
        f"checkout:{order.number}",
        order.number,
        "converted",
    )
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (2, 0)
    assert order.lines.get().allocated == 2
    assert_books_balance()


def test_a_remote_decline_releases_the_reservation_and_leaves_no_order(shop, remote_card):
    v = shop.variant(stock=1)
    refused(
        lambda: place(shop, {v.sku: 1}, payment=services.PaymentRequest("test_card", CARD_DECLINED)),
        "payment_declined",
        "payment.token",
    )
    assert Reservation.objects.get().status == "released"
    nothing_happened(shop, v)
    assert_books_balance()


def test_a_remote_3d_secure_charge_leaves_a_pending_order(shop, remote_card):
    v = shop.variant(stock=1)
    order = place(shop, {v.sku: 1}, payment=services.PaymentRequest("test_card", CARD_3DS))
    assert order.status == Order.Status.PENDING_PAYMENT
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)


def _double_submit(monkeypatch, shop, quantities, token):
    """While the first request's charge is with the provider, the same checkout (same key) completes."""
    from omnishop.payments.providers import PROVIDERS

    provider = PROVIDERS["test_card"]
    original = provider.authorize
    state = {"inner": None}

    def authorize(*, payment, token, capture):
        if state["inner"] is None:
            state["inner"] = "running"
            state["inner"] = place(shop, quantities, payment=services.PaymentRequest("test_card", token))
        return original(payment=payment, token=token, capture=capture)

    monkeypatch.setattr(provider, "authorize", authorize)
    outer = place(shop, quantities, payment=services.PaymentRequest("test_card", token))
    return state["inner"], outer


def test_a_concurrent_duplicate_checkout_refunds_the_losing_charge(shop, remote_card, monkeypatch):
    v = shop.variant(price="10.00", stock=5)
    winner, loser = _double_submit(monkeypatch, shop, {v.sku: 1}, CARD_OK)
    assert loser.pk == winner.pk and loser.replayed is True
    assert Order.objects.count() == 1
    lost = Payment.objects.exclude(pk=Payment.objects.get(reference=winner.number, refunded=0).pk).get()
    assert (lost.status, lost.captured, lost.refunded) == ("captured", Decimal("14.95"), Decimal("14.95"))
    refund = Refund.objects.get()
    assert (refund.payment, refund.amount, refund.key, refund.reason) == (
        lost,
        Decimal("14.95"),
        "checkout-failed",
        "checkout failed",
    )
    assert services.paid(winner) == Decimal("14.95")
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)
    assert sorted(Reservation.objects.values_list("status", flat=True)) == ["converted", "released"]
    assert_books_balance()


def test_a_concurrent_duplicate_3d_secure_checkout_voids_the_losing_authorisation(
    shop, remote_card, monkeypatch
):
    v = shop.variant(stock=5)
    winner, loser = _double_submit(monkeypatch, shop, {v.sku: 1}, CARD_3DS)
    assert loser.pk == winner.pk
    statuses = sorted(Payment.objects.values_list("status", flat=True))
    assert statuses == ["requires_action", "voided"]
    assert Refund.objects.count() == 0
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)


# --- cart checkout ----------------------------------------------------------------------------------------------


def ready_cart(shop, v, qty=1, customer=None, email=""):
    cart = services.create_cart(channel=shop.channel, customer=customer, email=email)
    services.set_line(cart=cart, sku=v.sku, quantity=qty)
    services.set_checkout_details(cart=cart, shipping_address=ADDRESS, shipping_method="standard")
    return services.get_cart(cart.token)


def checkout(cart, token=CARD_OK, key="c1"):
    return services.checkout_cart(
        cart=cart, payment=services.PaymentRequest("test_card", token), key=key, actor="shopper"
    )


def test_a_cart_becomes_one_order_and_is_closed(shop, customer):
    v = shop.variant(price="10.00", stock=5)
    cart = ready_cart(shop, v, qty=2, customer=customer)
    order = checkout(cart)
    assert (order.cart_id, order.checkout_key, order.customer, order.email) == (
        cart.pk,
        f"cart:{cart.token}",
        customer,
        customer.email,
    )
    assert order.total == Decimal("24.95") and order.lines.get().quantity == 2
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.ORDERED
    assert checkout(services.get_cart(cart.token), key="c2").pk == order.pk
    assert Payment.objects.count() == 1


def test_a_guest_cart_keeps_its_own_email(shop):
    v = shop.variant(stock=5)
    order = checkout(ready_cart(shop, v, email="guest@example.com"))
    assert (order.customer, order.email) == (None, "guest@example.com")


def test_a_declined_cart_checkout_reopens_the_cart(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    with pytest.raises(DomainError):
        checkout(cart, token=CARD_DECLINED)
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.OPEN
    assert checkout(services.get_cart(cart.token)).status == Order.Status.PAID


def test_a_cart_being_checked_out_elsewhere_is_in_progress(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    Cart.objects.filter(pk=cart.pk).update(status=Cart.Status.CHECKING_OUT)
    refused(lambda: checkout(cart), "checkout_in_progress", "cart")
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.CHECKING_OUT
    assert Order.objects.count() == 0


def test_a_closed_cart_cannot_be_checked_out(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    Cart.objects.filter(pk=cart.pk).update(status=Cart.Status.ORDERED)
    refused(lambda: checkout(cart), "cart_closed", "cart")


def test_a_stale_cart_copy_returns_the_order_placed_meanwhile(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    stale = services.get_cart(cart.token)
    order = checkout(cart)
    assert checkout(stale, key="c2").pk == order.pk
    assert Payment.objects.count() == 1


def test_a_cart_without_a_shipping_method_is_refused(shop):
    v = shop.variant(stock=5)
    cart = services.create_cart(channel=shop.channel)
    services.set_line(cart=cart, sku=v.sku, quantity=1)
    refused(lambda: checkout(services.get_cart(cart.token)), "shipping_method_unavailable", "shipping_method")
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.OPEN


# --- one-click buy ------------------------------------------------------------------------------------------


def one_click(shop, customer, sku, qty=1, key="q1"):
    return services.quick_checkout(
        channel=shop.channel, customer=customer, sku=sku, quantity=qty, key=key, actor="shopper"
    )


def test_one_click_buy_uses_the_default_address_saved_card_and_cheapest_delivery(shop, customer):
    Address.objects.create(customer=customer, name="Old", line1="2 Old St", city="Leeds", country="GB")
    Address.objects.create(
        customer=customer, name="Ada", line1="1 Row", city="Paris", country="FR", is_default_shipping=True
    )
    payments.save_payment_method(customer=customer, provider="test_card", token=CARD_OK, label="visa")
    services.create_shipping_method(
        channel=shop.channel, code="express", name="Express", kind="flat", price="9.00"
    )
    services.create_shipping_method(channel=shop.channel, code="b-eco", name="Eco", kind="flat", price="2.50")
    services.create_shipping_method(
        channel=shop.channel, code="a-eco", name="Eco A", kind="flat", price="2.50"
    )
    off = services.create_shipping_method(
        channel=shop.channel, code="cheap-off", name="Off", kind="flat", price="0.50"
    )
    ShippingMethod.objects.filter(pk=off.pk).update(is_active=False)
    v = shop.variant(price="10.00", stock=3)
    order = one_click(shop, customer, v.sku, 2)
    assert (order.shipping_method.code, order.shipping_total) == ("a-eco", Decimal("2.50"))
    assert order.shipping_address == {
        "name": "Ada",
        "company": "",
        "line1": "1 Row",
        "line2": "",
        "city": "Paris",
        "postcode": "",
        "region": "",
        "country": "FR",
        "phone": "",
    }
    assert (order.customer, order.email, order.checkout_key) == (
        customer,
        customer.email,
        f"quick:{customer.pk}:q1",
    )
    assert (order.status, order.total) == (Order.Status.PAID, Decimal("22.50"))
    assert one_click(shop, customer, v.sku, 2).pk == order.pk


def test_one_click_buy_needs_a_default_address(shop, customer):
    Address.objects.create(customer=customer, name="Ada", line1="1 Row", city="Paris", country="FR")
    payments.save_payment_method(customer=customer, provider="test_card", token=CARD_OK)
    refused(lambda: one_click(shop, customer, "X"), "quick_checkout_unavailable", "shipping_address")


def test_one_click_buy_needs_a_saved_payment_method(shop, customer):
    Address.objects.create(
        customer=customer, name="Ada", line1="1 Row", city="Paris", country="FR", is_default_shipping=True
    )
    refused(lambda: one_click(shop, customer, "X"), "quick_checkout_unavailable", "payment")


def test_one_click_buy_needs_a_delivery_method_pickup_does_not_count(shop, customer):
    Address.objects.create(
        customer=customer, name="Ada", line1="1 Row", city="Paris", country="FR", is_default_shipping=True
    )
    payments.save_payment_method(customer=customer, provider="test_card", token=CARD_OK)
    store = inventory.create_location(
        code="s1", name="S1", kind="retail_store", serves_pickup=True, ships_to_customers=False
    )
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, store.code])
    services.create_shipping_method(
        channel=shop.channel, code="collect", name="Collect", kind="pickup", pickup_location="s1"
    )
    ShippingMethod.objects.filter(code="standard").update(is_active=False)
    refused(lambda: one_click(shop, customer, "X"), "quick_checkout_unavailable", "shipping_method")


def test_one_click_buy_with_the_saved_card_declined_leaves_no_order(shop, customer):
    Address.objects.create(
        customer=customer, name="Ada", line1="1 Row", city="Paris", country="FR", is_default_shipping=True
    )
    payments.save_payment_method(customer=customer, provider="test_card", token=CARD_DECLINED)
    v = shop.variant(stock=3)
    refused(lambda: one_click(shop, customer, v.sku), "payment_declined", "payment.token")
    nothing_happened(shop, v)


# --- store credit ----------------------------------------------------------------------------------------------


def test_store_credit_pays_exactly_the_total_and_the_balance_goes_down_by_it(shop, customer, give_credit):
    give_credit(customer, "20.00")
    v = shop.variant(price="7.49", stock=5)
    order = place(shop, {v.sku: 2}, customer=customer, payment=services.PaymentRequest("store_credit"))
    assert (order.status, order.total) == (Order.Status.PAID, Decimal("19.93"))
    assert credit.balance_of(customer=customer, currency="GBP") == Decimal("0.07")
    with pytest.raises(DomainError) as caught:
        place(shop, {v.sku: 1}, key="k2", customer=customer, payment=services.PaymentRequest("store_credit"))
    assert caught.value.code == "insufficient_funds"
    assert Order.objects.count() == 1 and shop.stock(v).allocated == 2
    failed = Payment.objects.get(status="failed")
    assert (failed.failure_code, failed.amount) == ("insufficient_funds", Decimal("12.44"))
    assert credit.balance_of(customer=customer, currency="GBP") == Decimal("0.07")
    assert_books_balance()


def test_the_stock_is_allocated_under_the_order_number(shop):
    from omnishop.inventory.models import Allocation

    v = shop.variant(stock=2)
    order = place(shop, {v.sku: 1})
    assert list(Allocation.objects.values_list("order_reference", flat=True)) == [order.number]


def test_a_remote_pickup_checkout_holds_the_stock_in_the_store(shop, remote_card):
    store = inventory.create_location(
        code="kiosk",
        name="Kiosk",
        kind="retail_store",
        serves_pickup=True,
        ships_to_customers=False,
        country="GB",
    )
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, store.code])
    services.create_shipping_method(
        channel=shop.channel, code="collect", name="Collect", kind="pickup", pickup_location="kiosk"
    )
    v = shop.variant(price="0.40", stock=3)
    inventory.receive_stock(variant=v, location=store, quantity=3, reference="t")
    order = place(shop, {v.sku: 2}, shipping_method="collect", shipping_address=None)
    assert order.total == Decimal("0.80")
    assert (shop.stock(v, store).allocated, shop.stock(v).allocated) == (2, 0)


def test_a_duplicate_checkout_of_less_than_a_pound_is_refunded_too(shop, remote_card, monkeypatch):
    store = inventory.create_location(
        code="kiosk",
        name="Kiosk",
        kind="retail_store",
        serves_pickup=True,
        ships_to_customers=False,
        country="GB",
    )
    inventory.set_channel_locations(channel=shop.channel, location_codes=[store.code])
    services.create_shipping_method(
        channel=shop.channel, code="collect", name="Collect", kind="pickup", pickup_location="kiosk"
    )
    v = shop.variant(price="0.40", stock=0)
    inventory.receive_stock(variant=v, location=store, quantity=3, reference="t")
    from omnishop.payments.providers import PROVIDERS

    provider = PROVIDERS["test_card"]
    original = provider.authorize
    state = {}

    def authorize(*, payment, token, capture):
        if not state:
            state["inner"] = "running"
            state["inner"] = place(shop, {v.sku: 1}, shipping_method="collect", shipping_address=None)
        return original(payment=payment, token=token, capture=capture)

    monkeypatch.setattr(provider, "authorize", authorize)
    outer = place(shop, {v.sku: 1}, shipping_method="collect", shipping_address=None)
    assert outer.pk == state["inner"].pk
    assert list(Refund.objects.values_list("amount", "key")) == [(Decimal("0.40"), "checkout-failed")]
    assert services.paid(outer) == Decimal("0.40")


def test_a_duplicate_bank_transfer_checkout_voids_the_losing_transfer(shop, monkeypatch):
    from omnishop.payments.providers import PROVIDERS

    provider = PROVIDERS["manual"]
    monkeypatch.setattr(provider, "in_process", False)
    original = provider.authorize
    v = shop.variant(stock=5)
    state = {}

    def authorize(*, payment, token, capture):
        if not state:
            state["inner"] = "running"
            state["inner"] = place(shop, {v.sku: 1}, payment=services.PaymentRequest("manual", "IBAN"))
        return original(payment=payment, token=token, capture=capture)

    monkeypatch.setattr(provider, "authorize", authorize)
    outer = place(shop, {v.sku: 1}, payment=services.PaymentRequest("manual", "IBAN"))
    assert outer.pk == state["inner"].pk and outer.status == Order.Status.PENDING_PAYMENT
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["pending", "voided"]
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)


def test_a_duplicate_stripe_checkout_cancels_the_losing_authorisation(shop, settings, monkeypatch):
    import stripe

    settings.OMNISHOP_STRIPE_SECRET_KEY = "sk_test_x"
    v = shop.variant(stock=5)
    created, cancelled = [], []

    def create(**params):
        created.append(params)
        intent = f"pi_{len(created)}"
        if len(created) == 1:
            place(shop, {v.sku: 1}, payment=services.PaymentRequest("stripe", "pm_card"))
        return {"id": intent, "status": "requires_capture", "amount_received": 0}

    monkeypatch.setattr(stripe.PaymentIntent, "create", create)
    monkeypatch.setattr(stripe.PaymentIntent, "cancel", lambda intent, **kw: cancelled.append(intent) or {})
    order = place(shop, {v.sku: 1}, payment=services.PaymentRequest("stripe", "pm_card"))
    assert order.replayed is True and order.status == Order.Status.PENDING_PAYMENT
    assert cancelled == ["pi_1"]
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["authorized", "voided"]
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)


def test_a_duplicate_checkout_of_a_free_sample_refunds_nothing_and_answers_the_first_order(
    shop, remote_card, monkeypatch
):
    store = inventory.create_location(
        code="kiosk",
        name="Kiosk",
        kind="retail_store",
        serves_pickup=True,
        ships_to_customers=False,
        country="GB",
    )
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, store.code])
    services.create_shipping_method(
        channel=shop.channel, code="collect", name="Collect", kind="pickup", pickup_location="kiosk"
    )
    v = shop.variant(price="0.00", stock=0)
    inventory.receive_stock(variant=v, location=store, quantity=3, reference="t")
    from omnishop.payments.providers import PROVIDERS

    provider = PROVIDERS["test_card"]
    original = provider.authorize
    state = {}

    def authorize(*, payment, token, capture):
        if not state:
            state["inner"] = "running"
            state["inner"] = place(shop, {v.sku: 1}, shipping_method="collect", shipping_address=None)
        return original(payment=payment, token=token, capture=capture)

    monkeypatch.setattr(provider, "authorize", authorize)
    outer = place(shop, {v.sku: 1}, shipping_method="collect", shipping_address=None)
    assert (outer.pk, outer.total, outer.status) == (state["inner"].pk, Decimal("0.00"), Order.Status.PAID)
    assert Refund.objects.count() == 0
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["captured", "captured"]
    assert shop.stock(v, store).allocated == 1


def test_a_second_submit_while_the_first_is_charging_is_in_progress_not_a_second_order(shop, monkeypatch):
    from omnishop.payments.providers import PROVIDERS

    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    before = cart.updated_at
    provider = PROVIDERS["test_card"]
    original = provider.authorize
    seen = []

    def authorize(*, payment, token, capture):
        if not seen:
            with pytest.raises(DomainError) as caught:
                checkout(services.get_cart(cart.token), key="c2")
            seen.append((caught.value.code, caught.value.field, Cart.objects.get(pk=cart.pk).status))
        return original(payment=payment, token=token, capture=capture)

    monkeypatch.setattr(provider, "authorize", authorize)
    order = checkout(cart)
    assert seen == [("checkout_in_progress", "cart", Cart.Status.CHECKING_OUT)]
    assert Order.objects.get() == order and Payment.objects.count() == 1
    cart = Cart.objects.get(pk=cart.pk)
    assert cart.status == Cart.Status.ORDERED and cart.updated_at > before


def test_one_click_buy_uses_the_shoppers_own_address_and_this_channels_cheapest_method(
    shop, customer, make_channel
):
    from omnishop.customers.models import Customer

    bob = Customer.objects.create(email="bob@example.com")
    Address.objects.create(
        customer=bob, name="Bob", line1="9 Elsewhere", city="Rome", country="IT", is_default_shipping=True
    )
    Address.objects.create(
        customer=customer, name="Ada", line1="1 Row", city="Leeds", country="GB", is_default_shipping=True
    )
    payments.save_payment_method(customer=customer, provider="test_card", token=CARD_OK)
    other = make_channel("outlet", "web", "GBP")
    services.create_shipping_method(channel=other, code="a-other", name="Other", kind="flat", price="0.10")
    services.create_shipping_method(
        channel=shop.channel, code="z-cheap", name="Cheap", kind="flat", price="1.00"
    )
    v = shop.variant(price="10.00", stock=3)
    order = one_click(shop, customer, v.sku)
    assert (order.shipping_address["name"], order.shipping_address["country"]) == ("Ada", "GB")
    assert (order.shipping_method.code, order.shipping_total, order.total) == (
        "z-cheap",
        Decimal("1.00"),
        Decimal("11.00"),
    )


def test_a_remote_charge_is_recorded_against_the_customer(shop, customer, remote_card):
    order = place(shop, {shop.variant(stock=2).sku: 1}, customer=customer)
    assert Payment.objects.get(reference=order.number).customer == customer


def test_checking_out_one_cart_leaves_every_other_cart_alone(shop):
    v = shop.variant(stock=5)
    mine = ready_cart(shop, v)
    open_cart = ready_cart(shop, v)
    busy = ready_cart(shop, v)
    Cart.objects.filter(pk=busy.pk).update(status=Cart.Status.CHECKING_OUT)
    with pytest.raises(DomainError):
        checkout(mine, token=CARD_DECLINED)
    assert Cart.objects.get(pk=open_cart.pk).status == Cart.Status.OPEN
    assert Cart.objects.get(pk=busy.pk).status == Cart.Status.CHECKING_OUT
    checkout(services.get_cart(mine.token))
    assert Cart.objects.get(pk=open_cart.pk).status == Cart.Status.OPEN
    assert Cart.objects.get(pk=busy.pk).status == Cart.Status.CHECKING_OUT


def test_a_guest_cart_without_an_email_places_an_order_without_one(shop):
    order = checkout(ready_cart(shop, shop.variant(stock=5)))
    assert (order.customer, order.email) == (None, "")
