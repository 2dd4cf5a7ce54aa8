"""Taking, capturing, voiding and refunding payments through providers, and applying their webhooks.

A payment row is written before the provider is called and updated after, so a crash in between leaves a
visible `pending` row, never an untracked charge. Amounts only move through conditional UPDATEs that keep
captured <= amount and refunded <= captured. The paid amount of a reference is captured - refunded over
its payments. Listeners (the orders context) are told after a payment changed.

A remote provider's lost answer (`PaymentOutcomeUnknown`: the connection broke after the request left) leaves
the row `pending` with failure code `outcome_unknown`. Its caller gave the attempt up (the checkout released
the stock and placed nothing), so `settle_unknown_attempts` later asks the provider what it holds for the
row and gives any money taken back (void or refund); an attempt the provider never saw is marked failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from omnishop.core.bulk import insert_rows
from omnishop.core.errors import InvalidTransition, ValidationFailed
from omnishop.core.money import quantize

from .errors import (
    CaptureExceedsAuthorized,
    InsufficientFunds,
    PaymentDeclined,
    PaymentNotFound,
    PaymentOutcomeUnknown,
    ProviderUnavailable,
    RefundExceedsCaptured,
    RefundKeyReused,
)
from .models import Payment, Refund, SavedPaymentMethod, WebhookDelivery
from .providers import get_provider
from .providers.base import ProviderResult

LISTENERS: list[Callable[[Payment], None]] = []
STORED = Decimal("0.0001")  # the scale amounts are stored with
OUTCOME_UNKNOWN = "outcome_unknown"  # failure code of an attempt whose answer was lost (still pending)
ABANDONED = "attempt_abandoned"  # failure code once such an attempt is settled (money given back)


def on_payment_changed(listener: Callable[[Payment], None]) -> None:
    """Register a callback run (in the caller's transaction) whenever a payment's status or amounts change."""
    if listener not in LISTENERS:
        LISTENERS.append(listener)


def _notify(payment: Payment) -> None:
    for listener in LISTENERS:
        listener(payment)


def _positive(amount: Decimal, currency: str, field: str) -> Decimal:
    if not isinstance(amount, Decimal):
        raise ValidationFailed("Amounts are decimals.", field=field)
    value = quantize(amount, currency)
    if value <= 0:
        raise ValidationFailed("The amount must be positive.", field=field)
    return value


def start_payment(
    *,
    channel,
    reference: str,
    provider: str,
    amount: Decimal,
    currency: str,
    token: str = "",
    customer=None,
    capture: bool = True,
    notify: bool = True,
    insert: bool = True,
) -> Payment:
    """Charge (or authorise) `amount` for `reference`; a decline raises after recording the failed attempt.

    `insert=False` (a caller that writes the row with its own in one statement, inside its transaction: the
    checkout): a provider that answers without the row returns the payment unsaved — a decline raises
    without writing it (the caller's rollback would undo it anyway). Other providers save as usual."""
    impl = get_provider(provider)
    amount = quantize(amount, currency)
    if amount < 0:
        raise ValidationFailed("The amount cannot be negative.", field="amount")
    payment = Payment(
        reference=reference,
        channel=channel,
        customer=customer,
        provider=provider,
        status=Payment.Status.PENDING,
        currency=currency,
        amount=amount,
    )
    if impl.authorizes_unsaved:
        return _authorize_then_insert(
            impl, payment, token=token, capture=capture, notify=notify, insert=insert
        )
    payment.save(force_insert=True)
    try:
        result = impl.authorize(payment=payment, token=token, capture=capture)
    except PaymentOutcomeUnknown:
        # The provider may have acted: keep the row pending and marked, for settle_unknown_attempts.
        Payment.objects.filter(pk=payment.pk).update(failure_code=OUTCOME_UNKNOWN)
        raise
    except (PaymentDeclined, ValidationFailed, ProviderUnavailable) as exc:
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.FAILED, failure_code=exc.code)
        raise
    _take_result(payment, result, currency)
    payment.save(
        update_fields=["status", "external_id", "client_secret", "method_label", "failure_code", "captured"]
    )
    return _declined_or_notified(payment, result, notify=notify)


def _take_result(payment: Payment, result, currency: str) -> None:
    payment.status = result.status
    payment.external_id = result.external_id
    payment.client_secret = result.client_secret
    payment.method_label = result.method_label
    payment.failure_code = result.failure_code
    if result.captured is not None:
        payment.captured = quantize(result.captured, currency)


def _authorize_then_insert(
    impl, payment: Payment, *, token: str, capture: bool, notify: bool, insert: bool = True
) -> Payment:
    """A provider that answers without the row: one INSERT with the outcome (a decline is kept as failed),
    or none when the caller writes it (`insert=False`)."""
    try:
        result = impl.authorize(payment=payment, token=token, capture=capture)
    except (PaymentDeclined, ValidationFailed) as exc:
        payment.status, payment.failure_code = Payment.Status.FAILED, exc.code
        if insert:
            payment.save(force_insert=True)
        raise
    _take_result(payment, result, payment.currency)
    if insert:
        payment.save(force_insert=True)
    elif notify:
        raise ValueError("An unsaved payment cannot be announced: write it, then notify.")
    return _declined_or_notified(payment, result, notify=notify)


def _declined_or_notified(payment: Payment, result, *, notify: bool) -> Payment:
    """After the provider answered and the row is written: a decline raises, an accepted payment is announced."""
    if payment.status == Payment.Status.FAILED:
        error = InsufficientFunds if result.failure_code == "insufficient_funds" else PaymentDeclined
        raise error(f"The payment was declined ({result.failure_code}).", field="payment.token")
    if notify:
        _notify(payment)
    return payment


def record_failed_attempt(
    *,
    channel,
    reference: str,
    provider: str,
    amount: Decimal,
    currency: str,
    failure_code: str,
    customer=None,
) -> Payment:
    """Keep a declined attempt on record when the checkout that made it was rolled back."""
    return Payment.objects.create(
        reference=reference,
        channel=channel,
        customer=customer,
        provider=provider,
        status=Payment.Status.FAILED,
        currency=currency,
        amount=quantize(amount, currency),
        failure_code=failure_code,
    )


def record_external_payment(
    *, channel, reference: str, amount: Decimal, currency: str, label: str, customer=None
):
    """Money taken elsewhere (marketplace payout, cash at the till): a captured manual payment."""
    amount = quantize(amount, currency)
    if amount < 0:
        raise ValidationFailed("The amount cannot be negative.", field="payment.amount")
    return Payment.objects.create(
        reference=reference,
        channel=channel,
        customer=customer,
        provider="manual",
        status=Payment.Status.CAPTURED,
        currency=currency,
        amount=amount,
        captured=amount,
        method_label=label[:60],
    )


def get_payment(payment_id: int) -> Payment:
    payment = Payment.objects.select_related("channel").filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound(f"No payment {payment_id}.", field="id")
    return payment


def confirm_payment(*, payment: Payment) -> Payment:
    """The money arrived (manual) or the shopper finished 3-D Secure (card): capture what was authorised."""
    if payment.status not in (Payment.Status.PENDING, Payment.Status.REQUIRES_ACTION):
        raise InvalidTransition(f"The payment is {payment.status}.", field="payment", current=payment.status)
    result = get_provider(payment.provider).confirm(payment=payment)
    return _apply(payment, status=result.status, captured=result.captured)


def capture_payment(*, payment: Payment, amount: Decimal | None = None) -> Payment:
    """Capture all or part of an authorisation (the rest of it is released by the provider)."""
    if payment.status != Payment.Status.AUTHORIZED:
        raise InvalidTransition(f"The payment is {payment.status}.", field="payment", current=payment.status)
    amount = payment.amount if amount is None else _positive(amount, payment.currency, "amount")
    if amount > payment.amount:
        raise CaptureExceedsAuthorized(
            field="amount", authorized=str(quantize(payment.amount, payment.currency))
        )
    result = get_provider(payment.provider).capture(payment=payment, amount=amount)
    return _apply(payment, status=Payment.Status.CAPTURED, captured=result.captured or amount)


def void_payment(*, payment: Payment) -> Payment:
    if payment.status not in (
        Payment.Status.AUTHORIZED,
        Payment.Status.PENDING,
        Payment.Status.REQUIRES_ACTION,
    ):
        raise InvalidTransition(f"The payment is {payment.status}.", field="payment", current=payment.status)
    get_provider(payment.provider).void(payment=payment)
    return _apply(payment, status=Payment.Status.VOIDED, captured=None)


def _apply(
    payment: Payment, *, status: str | None, captured: Decimal | None, refunded: Decimal | None = None
):
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        changed = False
        if status and status != locked.status and locked.status != Payment.Status.CAPTURED:
            locked.status = status
            changed = True
        if captured is not None:
            captured = min(quantize(captured, locked.currency), locked.amount)
            if captured > locked.captured:  # captures only grow; a late, smaller figure is stale
                locked.captured = captured
                locked.status = Payment.Status.CAPTURED
                changed = True
        if refunded is not None:
            refunded = min(quantize(refunded, locked.currency), locked.captured)
            if refunded > locked.refunded:
                locked.refunded = refunded
                changed = True
        if changed:
            locked.save(update_fields=["status", "captured", "refunded", "updated_at"])
            _notify(locked)
    return locked


def refund_payment(*, payment: Payment, amount: Decimal, key: str, reason: str = "") -> Refund:
    """Give money back on one payment; the same key refunds once, and a key used before for another amount
    is refused (a replay returns the first refund, a collision must never swallow a refund)."""
    amount = _positive(amount, payment.currency, "amount")
    existing = Refund.objects.filter(payment=payment, key=key).first()
    if existing is not None:
        if existing.amount != amount:
            raise RefundKeyReused(field="key", amount=str(quantize(existing.amount, payment.currency)))
        return existing
    with transaction.atomic():
        # Row lock + Decimal arithmetic in Python: exact on every database (SQLite compares decimals as floats).
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.status != Payment.Status.CAPTURED or locked.refunded + amount > locked.captured:
            raise RefundExceedsCaptured(
                field="amount",
                refundable=str(quantize(locked.net, payment.currency)),
                requested=str(amount),
            )
        Payment.objects.filter(pk=payment.pk).update(refunded=locked.refunded + amount)
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    payment=payment, amount=amount, status=Refund.Status.PENDING, key=key, reason=reason[:200]
                )
        except IntegrityError:
            raise RefundExceedsCaptured("A refund with this key is in flight.", field="key") from None
        result = get_provider(payment.provider).refund(payment=payment, amount=amount, key=key)
        refund.status = result.status if result.status in Refund.Status.values else Refund.Status.SUCCEEDED
        refund.external_id = result.external_id
        refund.save(update_fields=["status", "external_id"])
        payment.refresh_from_db()
        _notify(payment)
    return refund


def refund_reference(
    *, reference: str, amount: Decimal, currency: str, key: str, reason: str = ""
) -> list[Refund]:
    """Refund `amount` across a reference's captured payments, newest first (store credit last); the same
    key refunds once (a replay returns the refunds the first call made)."""
    amount = _positive(amount, currency, "amount")
    with transaction.atomic():
        # Exactly "<key>:<payment id>": a prefix alone would take the refunds of key "a:1" for those of "a".
        done = [
            r
            for r in Refund.objects.filter(payment__reference=reference, key__startswith=f"{key}:")
            if r.key == f"{key}:{r.payment_id}"
        ]
        if done:
            if sum((r.amount for r in done), Decimal(0)) != amount:
                raise RefundKeyReused(field="key")
            return done
        payments = list(
            Payment.objects.select_for_update()
            .filter(reference=reference, status=Payment.Status.CAPTURED)
            .order_by("-created_at", "-pk")
        )
        refundable = sum((p.net for p in payments), Decimal(0))
        if amount > refundable:
            raise RefundExceedsCaptured(field="amount", refundable=str(quantize(refundable, currency)))
        payments.sort(key=lambda p: p.provider == "store_credit")
        refunds, left = [], amount
        for p in payments:
            if left <= 0:
                break
            part = min(left, p.net)
            if part > 0:
                refunds.append(refund_payment(payment=p, amount=part, key=f"{key}:{p.pk}", reason=reason))
                left -= part
    return refunds


def paid_amount(*, reference: str) -> Decimal:
    """Captured minus refunded over every payment of the reference."""
    row = Payment.objects.filter(reference=reference).aggregate(c=Sum("captured"), r=Sum("refunded"))
    # Stored with 4 decimals; SQLite sums them as floats, so the sum is brought back to that scale.
    return ((row["c"] or Decimal(0)) - (row["r"] or Decimal(0))).quantize(STORED)


def captured_amount(*, reference: str) -> Decimal:
    """Captured over every payment of the reference, refunds not deducted: what the customer has paid in."""
    row = Payment.objects.filter(reference=reference).aggregate(c=Sum("captured"))
    return (row["c"] or Decimal(0)).quantize(STORED)


def payments_for(*, reference: str) -> list[Payment]:
    return list(Payment.objects.filter(reference=reference).prefetch_related("refunds"))


def lower_open_payments(*, reference: str, due: Decimal) -> None:
    """The order now costs less: payments not captured yet (transfer awaited, 3-D Secure, authorised) will
    take no more than is still due, newest first."""
    with transaction.atomic():
        open_payments = (
            Payment.objects.select_for_update()
            .filter(
                reference=reference,
                status__in=[
                    Payment.Status.PENDING,
                    Payment.Status.REQUIRES_ACTION,
                    Payment.Status.AUTHORIZED,
                ],
            )
            .order_by("-created_at", "-pk")
        )
        for p in open_payments:
            keep = max(Decimal(0), min(p.amount, due))
            if keep != p.amount:
                Payment.objects.filter(pk=p.pk).update(amount=keep)
            due -= keep


def move_payments(*, from_reference: str, to_reference: str) -> int:
    """Orders merged: their payments now count towards the surviving order."""
    return Payment.objects.filter(reference=from_reference).update(reference=to_reference)


def handle_webhook(*, provider: str, body: bytes, headers) -> list[Payment]:
    """Verify and apply a provider event; a delivery seen before (same event id) changes nothing."""
    impl = get_provider(provider)
    updates = impl.parse_webhook(body=body, headers=headers)
    changed = []
    for update in updates:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    WebhookDelivery.objects.create(
                        provider=provider, event_id=update.event_id, kind=update.kind
                    )
            except IntegrityError:
                continue  # delivered before: already applied
            if not update.external_id:
                continue
            payment = Payment.objects.filter(provider=provider, external_id=update.external_id).first()
            if payment is None:
                payment = _adopt(provider, update)
            if payment is None:
                continue
            changed.append(
                _apply(payment, status=update.status, captured=update.captured, refunded=update.refunded)
            )
    return changed


def _adopt(provider: str, update) -> Payment | None:
    """An event about an intent whose creation answer was lost: the row it names (by the id the adapter sent
    as metadata) learns its external id, so this and later events apply to it."""
    pk = str(update.extra.get("payment") or "")
    if not pk.isdigit():
        return None
    adopted = Payment.objects.filter(pk=int(pk), provider=provider, external_id="").update(
        external_id=update.external_id
    )
    return Payment.objects.get(pk=int(pk)) if adopted else None


def settle_unknown_attempts(
    *, now: datetime | None = None, wait: timedelta = timedelta(minutes=2), limit: int = 50
) -> dict[str, int]:
    """Resolve attempts whose provider answer was lost, once they are `wait` old (the provider's search
    catches up with its writes within that): money the provider took is given back (void or refund), an
    attempt it never saw is marked failed. A provider still unreachable is asked again at the next run."""
    cutoff = (now or timezone.now()) - wait
    counts = {"given_back": 0, "never_charged": 0, "unreachable": 0}
    for payment in Payment.objects.filter(failure_code=OUTCOME_UNKNOWN, created_at__lte=cutoff)[:limit]:
        impl = get_provider(payment.provider)
        found: ProviderResult | None
        try:
            if payment.external_id:
                found = impl.confirm(payment=payment)
                found.external_id = payment.external_id
            else:
                found = impl.find(payment=payment)
            if found is None:
                Payment.objects.filter(pk=payment.pk, failure_code=OUTCOME_UNKNOWN).update(
                    status=Payment.Status.FAILED, failure_code=ABANDONED
                )
                counts["never_charged"] += 1
                continue
            _give_back(payment, found)
        except ProviderUnavailable:
            counts["unreachable"] += 1
            continue
        counts["given_back"] += 1
    return counts


def _give_back(payment: Payment, found) -> None:
    Payment.objects.filter(pk=payment.pk, external_id="").update(external_id=found.external_id)
    payment = _apply(payment, status=found.status, captured=found.captured)
    if payment.status == Payment.Status.CAPTURED and payment.net > 0:
        refund_payment(payment=payment, amount=payment.net, key="attempt-abandoned", reason="answer lost")
    elif payment.status in (
        Payment.Status.AUTHORIZED,
        Payment.Status.PENDING,
        Payment.Status.REQUIRES_ACTION,
    ):
        payment = void_payment(payment=payment)
    Payment.objects.filter(pk=payment.pk).update(failure_code=ABANDONED)


# --- saved payment methods ----------------------------------------------------------------------------


def save_payment_method(*, customer, provider: str, token: str, label: str = "", is_default: bool = True):
    get_provider(provider)
    if not token or len(token) > 200:
        raise ValidationFailed("A payment token of 1 to 200 characters is needed.", field="token")
    with transaction.atomic():
        if is_default:
            SavedPaymentMethod.objects.filter(customer=customer, is_default=True).update(is_default=False)
        return SavedPaymentMethod.objects.create(
            customer=customer, provider=provider, token=token, label=label[:60], is_default=is_default
        )


def remove_payment_method(*, customer, method_id: int) -> None:
    """Forget a saved payment method of this customer; the newest one left becomes the default."""
    with transaction.atomic():
        method = (
            SavedPaymentMethod.objects.select_for_update().filter(customer=customer, pk=method_id).first()
        )
        if method is None:
            raise PaymentNotFound("No such saved payment method.", field="method_id")
        was_default = method.is_default
        method.delete()
        if was_default:
            successor = (
                SavedPaymentMethod.objects.filter(customer=customer).order_by("-created_at", "-pk").first()
            )
            if successor is not None:
                successor.is_default = True
                successor.save(update_fields=["is_default"])


def default_payment_method(*, customer) -> SavedPaymentMethod | None:
    return SavedPaymentMethod.objects.filter(customer=customer).order_by("-is_default", "-pk").first()


# -- history from other systems (bulk) -------------------------------------------------------------------


@dataclass(frozen=True)
class SettledPayment:
    """Money a channel took before Omnishop knew the order (imported history)."""

    reference: str
    currency: str
    amount: Decimal
    at: datetime
    customer_id: int | None = None


def record_settled_payments(*, channel, payments: list[SettledPayment], label: str) -> None:
    """Captured manual payments for imported past orders, written in bulk (one COPY / executemany); no
    provider is called and no listener notified — the orders are history, not new sales."""
    rows = []
    for p in payments:
        amount = quantize(p.amount, p.currency)
        if amount < 0:
            raise ValidationFailed(f"Payment {p.reference}: the amount cannot be negative.", field="amount")
        if amount == 0:
            continue
        rows.append(
            (
                p.reference,
                channel.pk,
                p.customer_id,
                "manual",
                Payment.Status.CAPTURED.value,
                p.currency,
                amount,
                amount,
                Decimal(0),
                "",
                "",
                label[:60],
                "",
                p.at,
                p.at,
            )
        )
    insert_rows(Payment._meta.db_table, _PAYMENT_COLUMNS, rows)


def restate_settled_payment(*, reference: str, amount: Decimal, currency: str) -> None:
    """An imported past order was re-imported with other lines: its settled payment follows the new total
    (only while nothing was refunded on it — the caller checks that the order has no returns)."""
    amount = quantize(amount, currency)
    updated = Payment.objects.filter(reference=reference, provider="manual", refunded=0).update(
        amount=amount, captured=amount
    )
    if not updated and amount > 0:
        raise ValidationFailed(f"No settled payment to restate for {reference}.", field="reference")


@dataclass(frozen=True)
class SettledRefund:
    """Money given back on an imported past order (a credit note of the channel)."""

    reference: str
    amount: Decimal
    key: str
    reason: str
    at: datetime


def record_settled_refunds(*, refunds: list[SettledRefund]) -> dict[tuple[str, str], Decimal]:
    """Refunds on the settled payments of imported past orders, in bulk. Each is capped at what its
    payment still holds (captured − refunded), so paid = captured − refunded never goes negative; a key
    already used on that payment does nothing. Returns what was refunded per (reference, key)."""
    if not refunds:
        return {}
    references = {r.reference for r in refunds}
    payments = {
        p.reference: p
        for p in Payment.objects.filter(
            reference__in=references, provider="manual", status=Payment.Status.CAPTURED
        ).order_by("created_at", "pk")
    }
    used = set(  # keys are unique per payment: the same credit note may refund several payments
        Refund.objects.filter(
            payment__in=[p.pk for p in payments.values()], key__in=[r.key for r in refunds]
        ).values_list("payment_id", "key")
    )
    done: dict[tuple[str, str], Decimal] = {}
    rows, touched = [], {}
    for r in refunds:
        payment = payments.get(r.reference)
        if payment is None or (payment.pk, r.key) in used:
            continue
        amount = min(quantize(r.amount, payment.currency), payment.captured - payment.refunded)
        if amount <= 0:
            continue
        payment.refunded += amount
        touched[payment.pk] = payment
        used.add((payment.pk, r.key))
        done[(r.reference, r.key)] = amount
        rows.append(
            (payment.pk, amount, Refund.Status.SUCCEEDED.value, r.reason[:200], r.key[:120], "", r.at)
        )
    insert_rows(Refund._meta.db_table, _REFUND_COLUMNS, rows)
    if touched:
        Payment.objects.bulk_update(list(touched.values()), ["refunded"], batch_size=1000)
    return done


def refundable_by_reference(*, references: set[str]) -> dict[str, Decimal]:
    """reference → captured − refunded over its captured payments, for many references in one query."""
    found: dict[str, Decimal] = {}
    refs = list(references)
    for start in range(0, len(refs), 5000):
        rows = (
            Payment.objects.filter(reference__in=refs[start : start + 5000], status=Payment.Status.CAPTURED)
            .values("reference")
            .annotate(net_sum=Sum(F("captured") - F("refunded")))
        )
        for row in rows:
            # SQLite sums decimals as floats (0.700000000000003): back to the stored scale, as paid_amount does.
            found[row["reference"]] = Decimal(row["net_sum"] or 0).quantize(STORED)
    return found


_PAYMENT_COLUMNS = (
    "reference",
    "channel_id",
    "customer_id",
    "provider",
    "status",
    "currency",
    "amount",
    "captured",
    "refunded",
    "external_id",
    "client_secret",
    "method_label",
    "failure_code",
    "created_at",
    "updated_at",
)
_REFUND_COLUMNS = ("payment_id", "amount", "status", "reason", "key", "external_id", "created_at")


# --- What finance has to look at (the back-office finance desk) -------------------------------------------


def payments_to_capture(*, limit: int = 25) -> list[Payment]:
    """Authorised and not captured yet, oldest first: the money still to be taken."""
    qs = Payment.objects.filter(status=Payment.Status.AUTHORIZED).select_related("channel")
    return list(qs.order_by("created_at", "pk")[:limit])


def failed_payments(*, limit: int = 25) -> list[Payment]:
    """Declined or failed captures, newest first."""
    qs = Payment.objects.filter(status=Payment.Status.FAILED).select_related("channel")
    return list(qs.order_by("-updated_at", "-pk")[:limit])


def recent_refunds(*, limit: int = 25, above: Decimal | None = None) -> list[Refund]:
    """Refunds newest first; with `above`, only those of more than that amount (in the payment's currency)."""
    qs = Refund.objects.select_related("payment", "payment__channel")
    if above is not None:
        qs = qs.filter(amount__gt=above)
    return list(qs.order_by("-created_at", "-pk")[:limit])
