"""Stripe webhooks, signed as Stripe signs them, delivered late, twice or out of order: the figures only
grow, stay within their caps, and a captured payment stays captured."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from omnishop.payments import services
from omnishop.payments.models import Payment, WebhookDelivery

from .conftest import WHSEC, card, deliver, intent_event, refund_event, stripe_payment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]


@pytest.fixture
def webhook_secret():
    with override_settings(OMNISHOP_STRIPE_WEBHOOK_SECRET=WHSEC):
        yield


def figures(p: Payment) -> tuple[str, Decimal, Decimal]:
    p.refresh_from_db()
    return p.status, p.captured, p.refunded


def test_stripe_reports_each_step_of_a_payment(web_channel, told):
    p = stripe_payment(web_channel, "25.00")
    created = p.updated_at
    assert deliver(intent_event("processing")) == [p]
    assert figures(p) == ("pending", 0, 0)
    assert p.updated_at > created
    deliver(intent_event("requires_capture"))
    assert figures(p) == ("authorized", 0, 0)
    deliver(intent_event("succeeded", 2500))
    assert figures(p) == ("captured", Decimal("25.00"), 0)
    deliver(refund_event(1000))
    assert figures(p) == ("captured", Decimal("25.00"), Decimal("10.00"))
    assert services.paid_amount(reference="ORD-S") == Decimal("15.00")
    assert [t[1:] for t in told] == [
        ("pending", 0, 0),
        ("authorized", 0, 0),
        ("captured", Decimal("25.00"), 0),
        ("captured", Decimal("25.00"), Decimal("10.00")),
    ]
    assert list(WebhookDelivery.objects.values_list("provider", "kind")) == [
        ("stripe", "payment_intent.processing"),
        ("stripe", "payment_intent.amount_capturable_updated"),
        ("stripe", "payment_intent.succeeded"),
        ("stripe", "charge.refunded"),
    ]


def test_a_failed_or_cancelled_intent_before_capture_is_recorded(web_channel):
    failed = stripe_payment(web_channel, intent="pi_f")
    cancelled = stripe_payment(web_channel, intent="pi_c")
    deliver(intent_event("requires_payment_method", intent="pi_f"))
    deliver(intent_event("canceled", intent="pi_c"))
    assert figures(failed)[0] == "failed"
    assert figures(cancelled)[0] == "voided"


@pytest.mark.parametrize("late", ["requires_payment_method", "canceled", "processing", "requires_capture"])
def test_a_late_webhook_never_takes_a_captured_payment_back(web_channel, told, late):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 2500))
    deliver(intent_event(late))
    assert figures(p) == ("captured", Decimal("25.00"), 0)
    assert services.paid_amount(reference="ORD-S") == Decimal("25.00")
    assert len(told) == 1  # nothing changed, nobody is told


def test_a_late_smaller_capture_figure_is_stale_and_ignored(web_channel, told):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 2500))
    deliver(intent_event("succeeded", 1000))
    assert figures(p) == ("captured", Decimal("25.00"), 0)
    assert len(told) == 1


def test_a_capture_that_grows_is_followed(web_channel):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 1000))
    deliver(intent_event("succeeded", 1001))
    assert figures(p) == ("captured", Decimal("10.01"), 0)


def test_a_capture_above_the_amount_counts_only_the_amount(web_channel):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 2600))
    assert figures(p) == ("captured", Decimal("25.00"), 0)
    assert services.paid_amount(reference="ORD-S") == Decimal("25.00")


def test_a_refund_above_what_was_captured_counts_only_the_capture(web_channel):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 2000))
    deliver(refund_event(2500))
    assert figures(p) == ("captured", Decimal("20.00"), Decimal("20.00"))
    assert services.paid_amount(reference="ORD-S") == 0


def test_a_late_smaller_refund_figure_is_stale_and_ignored(web_channel, told):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 2500))
    deliver(refund_event(1500))
    deliver(refund_event(500))
    deliver(refund_event(1500))  # another event saying the same total
    assert figures(p) == ("captured", Decimal("25.00"), Decimal("15.00"))
    assert len(told) == 2


def test_a_refund_that_grows_is_followed(web_channel):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 2500))
    deliver(refund_event(1000))
    deliver(refund_event(1001))
    assert figures(p) == ("captured", Decimal("25.00"), Decimal("10.01"))


def test_a_refund_before_the_capture_is_known_counts_nothing(web_channel):
    p = stripe_payment(web_channel, "25.00")
    deliver(refund_event(1000))
    assert figures(p) == ("requires_action", 0, 0)


def test_the_same_event_delivered_again_applies_once(web_channel, told):
    p = stripe_payment(web_channel, "25.00")
    deliver(intent_event("succeeded", 1000, event_id="evt_same"))
    # Stripe retries with the same id; even a body that differs (a replay) must not apply again.
    assert deliver(intent_event("succeeded", 2500, event_id="evt_same")) == []
    assert figures(p) == ("captured", Decimal("10.00"), 0)
    assert WebhookDelivery.objects.filter(event_id="evt_same").count() == 1
    assert len(told) == 1


def test_events_about_other_objects_or_unknown_intents_change_nothing(web_channel, told):
    p = stripe_payment(web_channel, "25.00")
    ours = card(web_channel, "10", capture=False)
    body = intent_event("succeeded", 2500, intent="pi_unknown")
    assert deliver(body) == []
    # a test-card payment's id sent as a Stripe intent: another provider's payment is not Stripe's to change
    assert deliver(intent_event("succeeded", 1000, intent=ours.external_id)) == []
    assert deliver(intent_event("succeeded", 2500, kind="customer.created", intent="cus_1")) == []
    assert figures(p) == ("requires_action", 0, 0)
    assert figures(ours) == ("authorized", 0, 0)
    assert len(told) == 1  # the card's own authorisation, nothing since
    assert WebhookDelivery.objects.count() == 3


def test_figures_in_a_three_decimal_currency_keep_their_third_decimal(web_channel):
    p = stripe_payment(web_channel, "5.000")
    Payment.objects.filter(pk=p.pk).update(currency="KWD")
    deliver(intent_event("succeeded", 1234, currency="kwd"))
    deliver(refund_event(1001, currency="kwd"))
    assert figures(p) == ("captured", Decimal("1.234"), Decimal("1.001"))
