"""Store credit: issued, spent and refunded through a keyed ledger; the balance never goes negative and a
ledger whose books were tampered with is reported."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.core.errors import ValidationFailed
from omnishop.customers.models import Customer
from omnishop.payments import credit
from omnishop.payments.errors import InsufficientFunds
from omnishop.payments.models import StoreCreditAccount, StoreCreditEntry

pytestmark = pytest.mark.django_db


def entries(customer) -> list[tuple[str, Decimal, str, str]]:
    return list(
        StoreCreditEntry.objects.filter(account__customer=customer).values_list(
            "kind", "amount", "reference", "key"
        )
    )


def test_credit_issued_spent_and_refunded_moves_the_balance_through_the_ledger(shopper):
    assert credit.balance_of(customer=shopper, currency="GBP") == 0
    credit.issue_credit(customer=shopper, amount=Decimal("20.004"), currency="gbp", reference="gift", key="g")
    credit.spend_credit(customer=shopper, amount=Decimal("7.50"), currency="GBP", reference="ORD-1", key="s")
    credit.credit_back(customer=shopper, amount=Decimal("2.50"), currency="GBP", reference="ORD-1", key="r")
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("15.00")
    assert entries(shopper) == [
        ("issue", Decimal("20.00"), "gift", "g"),
        ("spend", Decimal("-7.50"), "ORD-1", "s"),
        ("refund", Decimal("2.50"), "ORD-1", "r"),
    ]
    assert credit.verify_credit_ledger() == []


def test_each_currency_has_its_own_balance(shopper):
    credit.issue_credit(customer=shopper, amount=Decimal("10"), currency="GBP", key="g")
    credit.issue_credit(customer=shopper, amount=Decimal("3"), currency="EUR", key="g")
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("10")
    assert credit.balance_of(customer=shopper, currency="EUR") == Decimal("3")
    with pytest.raises(InsufficientFunds):
        credit.spend_credit(customer=shopper, amount=Decimal("4"), currency="EUR", reference="O", key="s")


def test_a_retried_entry_counts_once(shopper):
    first = credit.issue_credit(customer=shopper, amount=Decimal("10"), currency="GBP", key="g")
    assert entries(shopper) == [("issue", Decimal("10"), "", "g")]  # goodwill: no order behind it
    assert credit.issue_credit(customer=shopper, amount=Decimal("10"), currency="GBP", key="g") == first
    spent = credit.spend_credit(customer=shopper, amount=Decimal("4"), currency="GBP", reference="O", key="s")
    assert (
        credit.spend_credit(customer=shopper, amount=Decimal("4"), currency="GBP", reference="O", key="s")
        == spent
    )
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("6")
    assert StoreCreditEntry.objects.count() == 2


def test_spending_exactly_the_balance_is_allowed_but_not_a_penny_more(shopper):
    credit.issue_credit(customer=shopper, amount=Decimal("10"), currency="GBP", key="g")
    with pytest.raises(InsufficientFunds) as refused:
        credit.spend_credit(
            customer=shopper, amount=Decimal("10.01"), currency="GBP", reference="O", key="s1"
        )
    assert (refused.value.code, refused.value.field) == ("insufficient_funds", "payment.provider")
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("10")
    assert not StoreCreditEntry.objects.filter(key="s1").exists()
    credit.spend_credit(customer=shopper, amount=Decimal("10"), currency="GBP", reference="O", key="s2")
    assert credit.balance_of(customer=shopper, currency="GBP") == 0
    assert credit.verify_credit_ledger() == []


def test_a_customer_without_credit_cannot_spend_any(shopper):
    with pytest.raises(InsufficientFunds):
        credit.spend_credit(customer=shopper, amount=Decimal("0.01"), currency="GBP", reference="O", key="s")
    assert credit.balance_of(customer=shopper, currency="GBP") == 0


@pytest.mark.parametrize("amount", ["0", "-5", "0.004"])
def test_credit_amounts_must_be_positive(shopper, amount):
    for change in (credit.issue_credit, credit.credit_back):
        with pytest.raises(ValidationFailed) as refused:
            change(customer=shopper, amount=Decimal(amount), currency="GBP", reference="O", key="k")
        assert refused.value.field == "amount"
    assert not StoreCreditEntry.objects.exists()


def test_credit_needs_a_known_customer_and_a_real_currency(shopper):
    with pytest.raises(ValidationFailed) as refused:
        credit.issue_credit(customer=None, amount=Decimal("5"), currency="GBP", key="g")
    assert refused.value.field == "payment.provider"
    with pytest.raises(ValidationFailed) as refused:
        credit.issue_credit(customer=shopper, amount=Decimal("5"), currency="XXQ", key="g")
    assert refused.value.code == "invalid_currency"
    assert not StoreCreditAccount.objects.exists()


@pytest.fixture
def two_accounts(shopper):
    other = Customer.objects.create(email="grace@example.com")
    credit.issue_credit(customer=shopper, amount=Decimal("10"), currency="GBP", key="g")
    credit.spend_credit(customer=shopper, amount=Decimal("2.25"), currency="GBP", reference="O", key="s")
    credit.issue_credit(customer=other, amount=Decimal("3"), currency="GBP", key="g")
    mine = StoreCreditAccount.objects.get(customer=shopper)
    theirs = StoreCreditAccount.objects.get(customer=other)
    assert credit.verify_credit_ledger() == []
    return mine, theirs


def test_a_balance_changed_behind_the_ledger_is_reported(two_accounts):
    mine, _ = two_accounts
    StoreCreditAccount.objects.filter(pk=mine.pk).update(balance=Decimal("7.7501"))
    assert credit.verify_credit_ledger() == [mine.pk]


def test_an_entry_lost_from_the_ledger_is_reported(two_accounts):
    _, theirs = two_accounts
    StoreCreditEntry.objects.filter(account=theirs).delete()
    assert credit.verify_credit_ledger() == [theirs.pk]


def test_an_entry_written_without_moving_the_balance_is_reported(two_accounts):
    mine, theirs = two_accounts
    StoreCreditEntry.objects.create(account=mine, kind="issue", amount=Decimal("1"), key="forged")
    StoreCreditEntry.objects.create(account=theirs, kind="issue", amount=Decimal("1"), key="forged")
    assert sorted(credit.verify_credit_ledger()) == sorted([mine.pk, theirs.pk])


def test_an_account_with_balance_but_no_entries_is_reported(shopper):
    account = StoreCreditAccount.objects.create(customer=shopper, currency="GBP", balance=Decimal("5"))
    StoreCreditAccount.objects.create(customer=shopper, currency="EUR")
    assert credit.verify_credit_ledger() == [account.pk]


def test_each_customer_sees_only_their_own_balance(shopper):
    other = Customer.objects.create(email="grace@example.com")
    credit.issue_credit(customer=other, amount=Decimal("8"), currency="GBP", key="g")
    credit.issue_credit(customer=shopper, amount=Decimal("3"), currency="GBP", key="g")
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("3")
    assert credit.balance_of(customer=other, currency="GBP") == Decimal("8")
    assert credit.balance_of(customer=other, currency="EUR") == 0
    with pytest.raises(InsufficientFunds):
        credit.spend_credit(customer=shopper, amount=Decimal("4"), currency="GBP", reference="O", key="s")


def test_credit_in_a_currency_without_minor_units_is_rounded_to_whole_units(shopper):
    credit.issue_credit(customer=shopper, amount=Decimal("100.4"), currency="JPY", key="g")
    assert credit.balance_of(customer=shopper, currency="JPY") == Decimal("100")
    assert entries(shopper) == [("issue", Decimal("100"), "", "g")]
