"""The Stripe adapter against a server speaking Stripe's API (stripe_fake.py) through the real SDK over HTTP:
what is charged, what is kept when an answer is lost, and how a lost answer is settled."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import orjson
import pytest
from django.test import override_settings
from django.utils import timezone

from omnishop.connectors.fakes.base import FakeServer
from omnishop.core.errors import DomainError
from omnishop.payments import services
from omnishop.payments.models import Payment

from .conftest import WHSEC, stripe_signature
from .stripe_fake import SECRET_KEY, StripeFake

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    app = StripeFake()
    app.hang_seconds = 0.1
    server = FakeServer(app).start()
    with override_settings(
        OMNISHOP_STRIPE_SECRET_KEY=SECRET_KEY,
        OMNISHOP_STRIPE_WEBHOOK_SECRET=WHSEC,
        OMNISHOP_STRIPE_API_BASE=server.url,
        OMNISHOP_STRIPE_NETWORK_RETRIES=0,
    ):
        yield app
    server.stop()


def pay(channel, token="pm_card_visa", *, amount="25.00", capture=True, reference="ORD-S1"):
    return services.start_payment(
        channel=channel,
        reference=reference,
        provider="stripe",
        amount=Decimal(amount),
        currency="GBP",
        token=token,
        capture=capture,
    )


def refused(fn, code: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn()
    assert caught.value.code == code, caught.value.as_dict()
    return caught.value


def later(minutes: int = 3):
    return timezone.now() + timedelta(minutes=minutes)


def test_a_card_payment_is_one_confirmed_intent_that_names_its_payment_row(web_channel, fake):
    payment = pay(web_channel)
    (intent,) = fake.intents.values()
    assert (payment.status, payment.captured, payment.external_id) == (
        "captured",
        Decimal("25.00"),
        intent["id"],
    )
    assert (intent["amount"], intent["currency"], intent["status"]) == (2500, "gbp", "succeeded")
    assert intent["metadata"] == {"reference": "ORD-S1", "payment": str(payment.pk)}
    (sent,) = fake.requests
    assert sent.headers["Idempotency-Key"] == f"omnishop-payment-{payment.pk}"
    assert services.paid_amount(reference="ORD-S1") == Decimal("25.00")


def test_an_authorisation_is_captured_in_part_and_refunded_through_stripe(web_channel, fake):
    payment = pay(web_channel, capture=False)
    assert payment.status == "authorized"
    payment = services.capture_payment(payment=payment, amount=Decimal("20.00"))
    services.refund_payment(payment=payment, amount=Decimal("5.00"), key="r1")
    assert fake.intents[payment.external_id]["amount_received"] == 2000
    assert fake.refunded(payment.external_id) == 500
    assert services.paid_amount(reference="ORD-S1") == Decimal("15.00")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("pm_card_chargeDeclined", "payment_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
def test_a_card_stripe_declines_is_a_decline_kept_as_failed(web_channel, fake, token, code):
    refused(lambda: pay(web_channel, token), code)
    assert list(Payment.objects.values_list("status", "failure_code")) == [("failed", code)]


def test_a_refused_key_is_provider_unavailable_and_nothing_is_left_pending(web_channel, fake, settings):
    settings.OMNISHOP_STRIPE_SECRET_KEY = "sk_test_wrong"
    refused(lambda: pay(web_channel), "provider_unavailable")
    assert list(Payment.objects.values_list("status", "failure_code")) == [("failed", "provider_unavailable")]
    assert fake.intents == {}


def test_a_lost_answer_after_stripe_charged_is_kept_pending_then_refunded_by_the_settlement(
    web_channel, fake
):
    fake.fail_next(1, "lost_reply")
    refused(lambda: pay(web_channel), "payment_outcome_unknown")
    (intent,) = fake.intents.values()
    assert intent["status"] == "succeeded"  # Stripe took the money; Omnishop never heard
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code, payment.external_id) == ("pending", "outcome_unknown", "")

    assert services.settle_unknown_attempts() == {"given_back": 0, "never_charged": 0, "unreachable": 0}
    assert services.settle_unknown_attempts(now=later()) == {
        "given_back": 1,
        "never_charged": 0,
        "unreachable": 0,
    }
    payment.refresh_from_db()
    assert (payment.status, payment.captured, payment.refunded) == (
        "captured",
        Decimal("25.00"),
        Decimal("25.00"),
    )
    assert (payment.external_id, payment.failure_code) == (intent["id"], "attempt_abandoned")
    assert fake.refunded(intent["id"]) == 2500
    assert services.paid_amount(reference="ORD-S1") == 0
    # Settled once: a second run finds nothing to do and gives nothing back twice.
    assert services.settle_unknown_attempts(now=later()) == {
        "given_back": 0,
        "never_charged": 0,
        "unreachable": 0,
    }
    assert fake.refunded(intent["id"]) == 2500


def test_a_lost_answer_for_an_authorisation_is_settled_by_cancelling_it(web_channel, fake):
    fake.fail_next(1, "lost_reply")
    refused(lambda: pay(web_channel, capture=False), "payment_outcome_unknown")
    services.settle_unknown_attempts(now=later())
    (intent,) = fake.intents.values()
    payment = Payment.objects.get()
    assert (intent["status"], payment.status, payment.failure_code) == (
        "canceled",
        "voided",
        "attempt_abandoned",
    )


@pytest.mark.parametrize("mode", ["500", "hang"])
def test_a_request_stripe_never_acted_on_is_marked_failed_by_the_settlement(web_channel, fake, mode):
    fake.fail_next(1, mode)
    refused(lambda: pay(web_channel), "payment_outcome_unknown")
    assert fake.intents == {}
    assert services.settle_unknown_attempts(now=later()) == {
        "given_back": 0,
        "never_charged": 1,
        "unreachable": 0,
    }
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code) == ("failed", "attempt_abandoned")


def test_a_settlement_that_cannot_reach_stripe_leaves_the_attempt_for_the_next_run(web_channel, fake):
    fake.fail_next(1, "lost_reply")
    refused(lambda: pay(web_channel), "payment_outcome_unknown")
    fake.fail_next(1, "500")
    assert services.settle_unknown_attempts(now=later()) == {
        "given_back": 0,
        "never_charged": 0,
        "unreachable": 1,
    }
    assert Payment.objects.get().failure_code == "outcome_unknown"
    assert services.settle_unknown_attempts(now=later())["given_back"] == 1


def test_the_sdk_retries_a_lost_answer_with_the_same_key_and_stripe_charges_once(web_channel, fake, settings):
    settings.OMNISHOP_STRIPE_NETWORK_RETRIES = 1
    fake.fail_next(1, "lost_reply")
    payment = pay(web_channel)
    assert len(fake.requests) == 2 and len({r.headers["Idempotency-Key"] for r in fake.requests}) == 1
    (intent,) = fake.intents.values()
    assert (payment.status, payment.external_id, payment.failure_code) == ("captured", intent["id"], "")


def test_a_webhook_about_a_lost_answer_finds_its_row_by_metadata_and_the_settlement_gives_it_back(
    web_channel, fake
):
    fake.fail_next(1, "lost_reply")
    refused(lambda: pay(web_channel), "payment_outcome_unknown")
    (intent,) = fake.intents.values()
    body = orjson.dumps(
        {"id": "evt_lost", "object": "event", "type": "payment_intent.succeeded", "data": {"object": intent}}
    )
    (changed,) = services.handle_webhook(
        provider="stripe", body=body, headers={"Stripe-Signature": stripe_signature(body)}
    )
    assert (changed.external_id, changed.status, changed.captured) == (
        intent["id"],
        "captured",
        Decimal("25.00"),
    )
    services.settle_unknown_attempts(now=later())
    changed.refresh_from_db()
    assert (changed.refunded, changed.failure_code) == (Decimal("25.00"), "attempt_abandoned")
    assert fake.refunded(intent["id"]) == 2500


def test_a_webhook_naming_a_row_that_already_has_an_intent_is_not_adopted(web_channel, fake):
    payment = pay(web_channel)
    stranger = dict(fake.intents[payment.external_id], id="pi_other")
    body = orjson.dumps(
        {
            "id": "evt_other",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": stranger},
        }
    )
    assert (
        services.handle_webhook(
            provider="stripe", body=body, headers={"Stripe-Signature": stripe_signature(body)}
        )
        == []
    )
    payment.refresh_from_db()
    assert payment.external_id != "pi_other"


def test_the_settlement_reads_its_attempts_through_a_partial_index_on_postgresql(web_channel):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    for i in range(3):
        services.record_failed_attempt(
            channel=web_channel,
            reference=f"ORD-{i}",
            provider="test_card",
            amount=Decimal("1"),
            currency="GBP",
            failure_code="card_declined",
        )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    waiting = Payment.objects.filter(failure_code=services.OUTCOME_UNKNOWN, created_at__lte=later())
    assert "payment_outcome_unknown" in waiting.explain()
    assert (
        "payment_to_capture" in Payment.objects.filter(status="authorized").order_by("created_at").explain()
    )
    assert "payment_failed" in Payment.objects.filter(status="failed").order_by("-updated_at").explain()
