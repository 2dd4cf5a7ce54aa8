"""An order that costs less after payments were started, and a shopper's saved payment methods."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.core.errors import ValidationFailed
from omnishop.customers.models import Customer
from omnishop.payments import services
from omnishop.payments.errors import PaymentNotFound, UnknownProvider
from omnishop.payments.models import Payment, SavedPaymentMethod

from .conftest import CARD_3DS, card, transfer

pytestmark = pytest.mark.django_db


def amounts(*payments: Payment) -> list[Decimal]:
    return [Payment.objects.get(pk=p.pk).amount for p in payments]


def test_open_payments_take_no_more_than_is_still_due_newest_first(web_channel):
    oldest = transfer(web_channel, "20.00")
    middle = card(web_channel, "20.00", number=CARD_3DS)
    newest = card(web_channel, "20.00", capture=False)
    services.lower_open_payments(reference="ORD-1", due=Decimal("30.00"))
    assert amounts(oldest, middle, newest) == [0, Decimal("10.00"), Decimal("20.00")]


def test_open_payments_within_what_is_due_keep_their_amounts(web_channel):
    a = transfer(web_channel, "20.00")
    b = card(web_channel, "15.00", capture=False)
    services.lower_open_payments(reference="ORD-1", due=Decimal("35.00"))
    assert amounts(a, b) == [Decimal("20.00"), Decimal("15.00")]


def test_nothing_due_any_more_leaves_open_payments_at_zero(web_channel):
    a = transfer(web_channel, "20.00")
    services.lower_open_payments(reference="ORD-1", due=Decimal("-5.00"))
    assert amounts(a) == [0]


def test_captured_failed_and_voided_payments_keep_their_amounts(web_channel):
    captured = card(web_channel, "20.00")
    voided = services.void_payment(payment=transfer(web_channel, "20.00"))
    failed = services.record_failed_attempt(
        channel=web_channel,
        reference="ORD-1",
        provider="test_card",
        amount=Decimal("20"),
        currency="GBP",
        failure_code="card_declined",
    )
    other_order = transfer(web_channel, "20.00", reference="ORD-2")
    services.lower_open_payments(reference="ORD-1", due=Decimal("0"))
    assert amounts(captured, voided, failed, other_order) == [Decimal("20.00")] * 4


@pytest.fixture
def other_shopper(db):
    return Customer.objects.create(email="grace@example.com")


def test_a_new_default_method_replaces_the_old_default(shopper, other_shopper):
    theirs = services.save_payment_method(customer=other_shopper, provider="test_card", token="tok_x")
    first = services.save_payment_method(customer=shopper, provider="test_card", token="tok_1", label="Visa")
    second = services.save_payment_method(customer=shopper, provider="test_card", token="tok_2")
    assert (second.label, SavedPaymentMethod.objects.get(pk=second.pk).label) == ("", "")
    assert list(SavedPaymentMethod.objects.filter(customer=shopper, is_default=True)) == [second]
    assert services.default_payment_method(customer=shopper) == second
    assert SavedPaymentMethod.objects.get(pk=first.pk).label == "Visa"
    assert services.default_payment_method(customer=other_shopper) == theirs
    assert SavedPaymentMethod.objects.get(pk=theirs.pk).is_default


def test_a_method_saved_as_not_default_leaves_the_default_alone(shopper):
    default = services.save_payment_method(customer=shopper, provider="test_card", token="tok_1")
    spare = services.save_payment_method(
        customer=shopper, provider="test_card", token="tok_2", is_default=False
    )
    assert (spare.is_default, SavedPaymentMethod.objects.get(pk=default.pk).is_default) == (False, True)
    assert services.default_payment_method(customer=shopper) == default


def test_without_a_default_the_newest_method_is_offered(shopper):
    assert services.default_payment_method(customer=shopper) is None
    services.save_payment_method(customer=shopper, provider="test_card", token="tok_1", is_default=False)
    newest = services.save_payment_method(
        customer=shopper, provider="manual", token="tok_2", is_default=False
    )
    assert services.default_payment_method(customer=shopper) == newest


def test_a_saved_method_needs_a_known_provider_and_a_sensible_token(shopper):
    with pytest.raises(UnknownProvider):
        services.save_payment_method(customer=shopper, provider="paypal", token="tok")
    for token in ("", "t" * 201):
        with pytest.raises(ValidationFailed) as refused:
            services.save_payment_method(customer=shopper, provider="test_card", token=token)
        assert refused.value.field == "token"
    longest = services.save_payment_method(
        customer=shopper, provider="test_card", token="t" * 200, label="L" * 70
    )
    assert (len(longest.token), longest.label) == (200, "L" * 60)
    assert SavedPaymentMethod.objects.count() == 1


def test_removing_the_default_method_makes_the_newest_one_left_the_default(shopper, other_shopper):
    theirs = services.save_payment_method(customer=other_shopper, provider="test_card", token="tok_x")
    oldest = services.save_payment_method(customer=shopper, provider="test_card", token="tok_1")
    newer = services.save_payment_method(customer=shopper, provider="manual", token="tok_2", is_default=False)
    default = services.save_payment_method(customer=shopper, provider="test_card", token="tok_3")
    services.remove_payment_method(customer=shopper, method_id=default.pk)
    assert not SavedPaymentMethod.objects.filter(pk=default.pk).exists()
    assert list(SavedPaymentMethod.objects.filter(customer=shopper, is_default=True)) == [newer]
    assert services.default_payment_method(customer=shopper) == newer
    assert SavedPaymentMethod.objects.get(pk=oldest.pk).is_default is False
    assert SavedPaymentMethod.objects.get(pk=theirs.pk).is_default is True


def test_removing_a_spare_method_leaves_the_default_and_the_last_one_leaves_none(shopper):
    default = services.save_payment_method(customer=shopper, provider="test_card", token="tok_1")
    spare = services.save_payment_method(
        customer=shopper, provider="test_card", token="tok_2", is_default=False
    )
    services.remove_payment_method(customer=shopper, method_id=spare.pk)
    assert list(SavedPaymentMethod.objects.filter(customer=shopper)) == [default]
    assert SavedPaymentMethod.objects.get(pk=default.pk).is_default is True
    services.remove_payment_method(customer=shopper, method_id=default.pk)
    assert services.default_payment_method(customer=shopper) is None


def test_a_shopper_cannot_remove_another_shoppers_method_or_one_that_is_gone(shopper, other_shopper):
    mine = services.save_payment_method(customer=shopper, provider="test_card", token="tok_1")
    theirs = services.save_payment_method(customer=other_shopper, provider="test_card", token="tok_x")
    for method_id in (theirs.pk, theirs.pk + 100):
        with pytest.raises(PaymentNotFound) as refused:
            services.remove_payment_method(customer=shopper, method_id=method_id)
        assert (refused.value.code, refused.value.field) == ("payment_not_found", "method_id")
    assert set(SavedPaymentMethod.objects.values_list("pk", flat=True)) == {mine.pk, theirs.pk}
