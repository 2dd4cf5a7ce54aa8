"""A checkout through the real Stripe adapter and SDK, against Stripe's API on 127.0.0.1 (stripe_fake.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.connectors.fakes.base import FakeServer
from omnishop.core.errors import DomainError
from omnishop.inventory.models import Reservation
from omnishop.orders.models import Order
from omnishop.payments import services as payments
from omnishop.payments.models import Payment
from omnishop.payments.tests.stripe_fake import SECRET_KEY, StripeFake

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    server = FakeServer(StripeFake()).start()
    settings.OMNISHOP_STRIPE_SECRET_KEY = SECRET_KEY
    settings.OMNISHOP_STRIPE_API_BASE = server.url
    settings.OMNISHOP_STRIPE_NETWORK_RETRIES = 0
    yield server.app
    server.stop()


def test_a_stripe_checkout_charges_once_and_converts_its_reservation(shop, fake):
    v = shop.variant(stock=2)
    order = shop.checkout({v: 1}, provider="stripe", card="pm_card_visa")
    (intent,) = fake.intents.values()
    assert order.status == Order.Status.PAID and intent["metadata"]["reference"] == order.number
    assert Reservation.objects.get().status == "converted"
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (1, 0)
    assert_books_balance()


def test_a_checkout_whose_stripe_answer_is_lost_places_nothing_and_the_charge_is_given_back(shop, fake):
    v = shop.variant(stock=2)
    fake.fail_next(1, "lost_reply")
    with pytest.raises(DomainError) as caught:
        shop.checkout({v: 1}, provider="stripe", card="pm_card_visa")
    assert (caught.value.code, caught.value.status) == ("payment_outcome_unknown", 502)
    (intent,) = fake.intents.values()
    assert intent["status"] == "succeeded"  # the card was charged
    assert Order.objects.count() == 0
    assert Reservation.objects.get().status == "released"
    assert (shop.stock(v).allocated, shop.stock(v).reserved) == (0, 0)

    payments.settle_unknown_attempts(now=timezone.now() + timedelta(minutes=3))
    payment = Payment.objects.get()
    assert (payment.net, payment.failure_code) == (0, "attempt_abandoned")
    assert fake.refunded(intent["id"]) == intent["amount_received"]
    # The shopper tries again: a new attempt, charged once, and the order is placed.
    order = shop.checkout({v: 1}, key="k2", provider="stripe", card="pm_card_visa")
    assert order.status == Order.Status.PAID and len(fake.intents) == 2
    assert_books_balance()
