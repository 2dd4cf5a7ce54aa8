"""Store credit: one balance per customer and currency, changed only through its ledger of entries.

Spending takes the balance with one conditional UPDATE (balance >= amount), so two orders cannot spend the
same credit; every entry is keyed, so a retried issue, spend or refund counts once.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from omnishop.core.errors import ValidationFailed
from omnishop.core.money import quantize, validate_currency

from .errors import InsufficientFunds
from .models import StoreCreditAccount, StoreCreditEntry


def _account(customer, currency: str) -> StoreCreditAccount:
    if customer is None:
        raise ValidationFailed("Store credit needs a known customer.", field="payment.provider")
    account, _ = StoreCreditAccount.objects.get_or_create(customer=customer, currency=currency)
    return account


def _entry(
    *, customer, amount: Decimal, currency: str, kind: str, reference: str, key: str
) -> StoreCreditEntry:
    currency = validate_currency(currency)
    amount = quantize(amount, currency)
    if amount <= 0:
        raise ValidationFailed("Store credit amounts are positive.", field="amount")
    account = _account(customer, currency)
    existing = StoreCreditEntry.objects.filter(account=account, key=key).first()
    if existing is not None:
        return existing
    signed = -amount if kind == StoreCreditEntry.Kind.SPEND else amount
    try:
        with transaction.atomic():
            entry = StoreCreditEntry.objects.create(
                account=account, kind=kind, amount=signed, reference=reference, key=key
            )
            # Row lock + Decimal arithmetic in Python: exact on every database (SQLite compares decimals as
            # floats), and two spends of the same balance queue up instead of both passing the check.
            locked = StoreCreditAccount.objects.select_for_update().get(pk=account.pk)
            if locked.balance + signed < 0:
                raise InsufficientFunds(
                    "The store credit balance does not cover the amount.", field="payment.provider"
                )
            StoreCreditAccount.objects.filter(pk=account.pk).update(balance=locked.balance + signed)
    except IntegrityError:
        return StoreCreditEntry.objects.get(account=account, key=key)
    return entry


def issue_credit(
    *, customer, amount: Decimal, currency: str, reference: str = "", key: str
) -> StoreCreditEntry:
    """Give a customer credit (gift card, goodwill, a refund as credit)."""
    return _entry(
        customer=customer, amount=amount, currency=currency, kind="issue", reference=reference, key=key
    )


def spend_credit(*, customer, amount: Decimal, currency: str, reference: str, key: str) -> StoreCreditEntry:
    return _entry(
        customer=customer, amount=amount, currency=currency, kind="spend", reference=reference, key=key
    )


def credit_back(*, customer, amount: Decimal, currency: str, reference: str, key: str) -> StoreCreditEntry:
    return _entry(
        customer=customer, amount=amount, currency=currency, kind="refund", reference=reference, key=key
    )


def balance_of(*, customer, currency: str) -> Decimal:
    account = StoreCreditAccount.objects.filter(customer=customer, currency=currency).first()
    return account.balance if account else Decimal(0)


def verify_credit_ledger() -> list[int]:
    """Accounts whose balance differs from the sum of their entries (empty when the books balance)."""
    from django.db.models import Sum

    wrong = []
    for account in StoreCreditAccount.objects.annotate(total=Sum("entries__amount")):
        if Decimal(account.total or 0).quantize(Decimal("0.0001")) != account.balance:
            wrong.append(account.pk)
    return wrong
