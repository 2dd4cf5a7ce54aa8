"""Store tills: the devices of a POS channel that sell at one stock location, and the sales they upload.

A till sells offline and uploads its queued sales later; each sale carries the till's own UUID, so the
`TillSale` row (unique sale id) is what makes an upload idempotent: one row, one order, however often and
however concurrently the same sale arrives. The order itself lives in the orders context.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Till(models.Model):
    public_id = models.CharField(max_length=32, unique=True, help_text="The id the till uses in URLs.")
    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="tills")
    location = models.ForeignKey("inventory.StockLocation", on_delete=models.PROTECT, related_name="tills")
    device_id = models.CharField(
        max_length=100, help_text="The device's own identifier (sent on every call)."
    )
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_upload_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["channel_id", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "device_id"], name="till_channel_device_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.device_id} ({self.public_id})"


class TillSale(models.Model):
    """One uploaded sale: its order, and whether it went beyond the stock that was left."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Order created"
        EXCEPTION = "exception", "Order created, stock exception"

    class ExceptionKind(models.TextChoices):
        NONE = "", "None"
        NEGATIVE_STOCK = "negative_stock", "Sold beyond stock (stock went negative)"
        OUT_OF_STOCK = "out_of_stock", "Sold beyond stock (order waits in the exception queue)"

    sale_id = models.UUIDField(unique=True, help_text="The till's own id for the sale (idempotency).")
    till = models.ForeignKey(Till, on_delete=models.PROTECT, related_name="sales")
    # Null only inside the transaction that records the sale: the row is written first, as the claim.
    order = models.OneToOneField(
        "orders.Order", null=True, on_delete=models.PROTECT, related_name="till_sale"
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    exception = models.CharField(max_length=20, choices=ExceptionKind.choices, blank=True)
    exception_details = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the sale as uploaded.")
    sold_at = models.DateTimeField(help_text="When the till says it sold (its clock).")
    clock_skew_seconds = models.IntegerField(
        null=True, blank=True, help_text="Our clock minus the till's, measured at upload."
    )
    received_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, help_text="Staff looked at the exception.")

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="created", exception="") | Q(outcome="exception") & ~Q(exception=""),
                name="tillsale_outcome_matches_exception",
            ),
        ]
        indexes = [
            models.Index(fields=["received_at"], condition=~Q(exception=""), name="tillsale_open_exceptions"),
        ]

    def __str__(self) -> str:
        return f"{self.sale_id} → {self.order_id}"
