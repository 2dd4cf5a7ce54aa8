"""Payments, refunds, store credit and saved payment methods.

A payment belongs to a `reference` (an order's payment reference) rather than to an order row, so that this
context sits below orders: orders call payments, never the reverse (orders listens for payment changes).
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the money (bank transfer, cash on delivery)")
        REQUIRES_ACTION = "requires_action", _("Waiting for the shopper (3-D Secure)")
        AUTHORIZED = "authorized", _("Authorised, not captured")
        CAPTURED = "captured", _("Captured (fully or partly)")
        VOIDED = "voided", _("Authorisation released")
        FAILED = "failed", _("Declined or failed")

    reference = models.CharField(max_length=40, db_index=True, help_text="The order's payment reference.")
    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    provider = models.CharField(max_length=30)
    status = models.CharField(max_length=20, choices=Status.choices)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=14, decimal_places=4, help_text="Authorised amount.")
    captured = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    refunded = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    external_id = models.CharField(max_length=100, blank=True, db_index=True)
    client_secret = models.CharField(max_length=200, blank=True)
    method_label = models.CharField(max_length=60, blank=True, help_text="e.g. 'card •••• 4242'.")
    failure_code = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(captured__gte=0) & Q(captured__lte=F("amount")), name="payment_captured_le_amount"
            ),
            models.CheckConstraint(
                condition=Q(refunded__gte=0) & Q(refunded__lte=F("captured")),
                name="payment_refunded_le_captured",
            ),
        ]
        # Small partial indexes for the three lists read by a status, each a sliver of the table: the
        # finance desk's "to capture" (oldest first) and "failed" (newest first), and the settlement's
        # attempts with a lost answer (read every minute).
        indexes = [
            models.Index(
                fields=["created_at", "id"], condition=Q(status="authorized"), name="payment_to_capture"
            ),
            models.Index(fields=["updated_at", "id"], condition=Q(status="failed"), name="payment_failed"),
            models.Index(
                fields=["created_at"],
                condition=Q(failure_code="outcome_unknown"),
                name="payment_outcome_unknown",
            ),
        ]

    @property
    def net(self):
        return self.captured - self.refunded


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Sent to the provider")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=200, blank=True)
    key = models.CharField(max_length=120, help_text="Idempotency: the same key refunds once.")
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "key"], name="refund_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]


class StoreCreditAccount(models.Model):
    """A customer's balance in one currency (gift cards and refunds as credit land here)."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="credit_accounts"
    )
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(max_digits=14, decimal_places=4, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "currency"], name="credit_account_unique"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="credit_balance_not_negative"),
        ]


class StoreCreditEntry(models.Model):
    """The ledger of an account: the balance always equals the sum of its entries."""

    class Kind(models.TextChoices):
        ISSUE = "issue", _("Issued (gift card, goodwill, refund as credit)")
        SPEND = "spend", _("Spent on an order")
        REFUND = "refund", _("Refunded back to the balance")

    account = models.ForeignKey(StoreCreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=4, help_text="Signed change of the balance.")
    reference = models.CharField(max_length=100, blank=True)
    key = models.CharField(max_length=120, help_text="Idempotency: one entry per key and account.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="credit_entry_key_unique")]


class SavedPaymentMethod(models.Model):
    """A token the provider gave us for a shopper's card (never the card number), for one-click buying."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="payment_methods"
    )
    provider = models.CharField(max_length=30)
    token = models.CharField(max_length=200)
    label = models.CharField(max_length=60, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "pk"]


class WebhookDelivery(models.Model):
    """Provider events already applied: a webhook delivered ten times has one effect."""

    provider = models.CharField(max_length=30)
    event_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once")]
