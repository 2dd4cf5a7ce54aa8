"""A cart checkout claims its cart with a lease: a checkout whose process died cannot hold the cart for ever.

The process kills themselves are in test_crash.py (PostgreSQL, the real server); here the claim's rules, on
any database, and the named crash points a checkout passes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.core import faults
from omnishop.core.errors import DomainError
from omnishop.orders import services
from omnishop.orders.models import Cart, Order
from omnishop.payments.models import Payment

from .conftest import ADDRESS, CARD_OK, assert_books_balance

pytestmark = pytest.mark.django_db

CARD_DECLINED = "4000000000000002"


def ready_cart(shop, v, qty=1):
    cart = services.create_cart(channel=shop.channel)
    services.set_line(cart=cart, sku=v.sku, quantity=qty)
    services.set_checkout_details(cart=cart, shipping_address=ADDRESS, shipping_method="standard")
    return services.get_cart(cart.token)


def checkout(cart, token=CARD_OK, key="c1"):
    return services.checkout_cart(
        cart=services.get_cart(cart.token),
        payment=services.PaymentRequest("test_card", token),
        key=key,
        actor="shopper",
    )


def abandoned(cart, *, ago: timedelta):
    """Leave the cart as a checkout killed mid-way leaves it: checking_out, its lease ending `ago` ago."""
    Cart.objects.filter(pk=cart.pk).update(
        status=Cart.Status.CHECKING_OUT, claimed_until=timezone.now() - ago
    )


def on_charge(monkeypatch, fn):
    from omnishop.payments.providers import PROVIDERS

    provider = PROVIDERS["test_card"]
    original = provider.authorize

    def authorize(*, payment, token, capture):
        fn()
        return original(payment=payment, token=token, capture=capture)

    monkeypatch.setattr(provider, "authorize", authorize)


def test_a_checkout_that_died_holding_the_cart_is_completed_once_by_a_retry_after_its_lease(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    abandoned(cart, ago=timedelta(seconds=1))
    order = checkout(cart, key="retry")
    assert (order.cart_id, order.status) == (cart.pk, Order.Status.PAID)
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.ORDERED
    assert checkout(cart, key="again").pk == order.pk
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    assert shop.stock(v).allocated == 1
    assert_books_balance()


def test_a_claim_whose_lease_has_not_run_out_is_still_in_progress(shop, monkeypatch):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    now = timezone.now()
    Cart.objects.filter(pk=cart.pk).update(status=Cart.Status.CHECKING_OUT, claimed_until=now)
    monkeypatch.setattr(timezone, "now", lambda: now)  # the lease ends this very instant: not yet over
    with pytest.raises(DomainError) as caught:
        checkout(cart)
    assert (caught.value.code, caught.value.field) == ("checkout_in_progress", "cart")
    assert Order.objects.count() == 0


def test_a_checkout_holds_its_cart_for_the_configured_lease(shop, settings, monkeypatch):
    settings.OMNISHOP_CHECKOUT_CLAIM_SECONDS = 45
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    seen = []
    on_charge(monkeypatch, lambda: seen.append(Cart.objects.get(pk=cart.pk)))
    before = timezone.now()
    checkout(cart)
    after = timezone.now()
    held = seen[0]
    assert held.status == Cart.Status.CHECKING_OUT
    assert before + timedelta(seconds=45) <= held.claimed_until <= after + timedelta(seconds=45)


def test_a_failed_checkout_gives_the_cart_back_without_a_lease(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    with pytest.raises(DomainError):
        checkout(cart, token=CARD_DECLINED)
    back = Cart.objects.get(pk=cart.pk)
    assert (back.status, back.claimed_until) == (Cart.Status.OPEN, None)


def test_a_checkout_whose_claim_was_taken_over_leaves_the_new_claim_alone_when_it_fails(shop, monkeypatch):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    from omnishop.payments.providers import PROVIDERS

    monkeypatch.setattr(PROVIDERS["test_card"], "in_process", False)  # the charge outside the transaction
    theirs = timezone.now() + timedelta(minutes=2)
    # Our lease ran out while a remote provider was charging; another checkout claimed the cart.
    on_charge(monkeypatch, lambda: Cart.objects.filter(pk=cart.pk).update(claimed_until=theirs))
    with pytest.raises(DomainError):
        checkout(cart, token=CARD_DECLINED)
    held = Cart.objects.get(pk=cart.pk)
    assert (held.status, held.claimed_until) == (Cart.Status.CHECKING_OUT, theirs)


def test_a_cart_left_by_a_dead_checkout_can_be_edited_again_once_the_lease_runs_out(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    Cart.objects.filter(pk=cart.pk).update(
        status=Cart.Status.CHECKING_OUT, claimed_until=timezone.now() + timedelta(minutes=1)
    )
    with pytest.raises(DomainError) as caught:
        services.set_line(cart=services.get_cart(cart.token), sku=v.sku, quantity=2)
    assert caught.value.code == "cart_closed"
    abandoned(cart, ago=timedelta(seconds=1))
    edited = services.set_line(cart=services.get_cart(cart.token), sku=v.sku, quantity=2)
    assert (edited.status, edited.claimed_until) == (Cart.Status.OPEN, None)
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.OPEN
    assert checkout(cart).lines.get().quantity == 2


def test_a_cart_taken_back_by_someone_else_meanwhile_is_not_reopened_twice(shop):
    v = shop.variant(stock=5)
    cart = ready_cart(shop, v)
    abandoned(cart, ago=timedelta(seconds=1))
    stale = services.get_cart(cart.token)
    checkout(cart, key="retry")  # a retry completed the order before our edit
    with pytest.raises(DomainError) as caught:
        services.set_line(cart=stale, sku=v.sku, quantity=2)
    assert caught.value.code == "cart_closed"
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.ORDERED


def test_a_checkout_passes_the_named_crash_points_in_order(shop, monkeypatch):
    v = shop.variant(stock=5)
    passed = []
    monkeypatch.setattr(faults, "crash_point", passed.append)
    checkout(ready_cart(shop, v))
    assert passed == [
        "checkout.before_charge",
        "checkout.after_charge",
        "checkout.before_commit",
        "checkout.after_commit",
    ]
    passed.clear()
    with pytest.raises(DomainError):
        checkout(ready_cart(shop, v), token=CARD_DECLINED)
    assert passed == ["checkout.before_charge"]
