"""Webhook subscriptions (endpoints), one delivery per (endpoint, event) and every attempt to send it.

A delivery row is written by the outbox relay's sink in the relay's transaction (no network there); the
relay worker sends it later under a lease (`locked_until` + `claim_token`), so several relays never send the
same delivery at once and a relay that dies mid-send leaves a row another relay takes over when the lease
runs out. `(endpoint, event_id)` is unique: a relay that runs a batch twice writes no second delivery.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

RESPONSE_EXCERPT_BYTES = 1024
# `next_attempt_at` of the deliveries of a paused or switched-off endpoint: after every due delivery in the
# due index, so a large backlog behind a pause costs the relay's claims nothing. Resuming sets them to now.
HELD = datetime(2999, 1, 1, tzinfo=UTC)


class WebhookEndpoint(models.Model):
    """A subscription: where to send which events, signed with which secret.

    The secret is stored as is (not hashed): every delivery is signed with it (HMAC needs the key itself).
    It is shown once, when created or rotated; API, CLI and admin never show it again (ADR 0015).
    """

    channel = models.ForeignKey(
        "channels.Channel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        help_text="The channel that owns it: it receives only that channel's events and events of no channel. "
        "Empty for an app-level endpoint set up by staff, which receives every channel's events.",
    )
    app_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Who the endpoint serves, e.g. 'erp' (required without a channel).",
    )
    url = models.CharField(
        max_length=2000, help_text="An absolute http:// or https:// URL (checked by the service)."
    )
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(default=list, help_text="Exact types, families ('order.*') or '*'.")
    is_active = models.BooleanField(default=True)
    paused_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set after too many failures in a row; deliveries wait until resumed.",
    )
    pause_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the receiver answered 410 Gone; its pending deliveries were cancelled.",
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook endpoint"
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__isnull=False) | ~Q(app_name=""), name="webhook_endpoint_has_owner"
            ),
        ]

    def __str__(self) -> str:
        owner = self.channel.code if self.channel_id else self.app_name
        return f"#{self.pk} {owner}: {self.url}"

    @property
    def state(self) -> str:
        if self.disabled_at:
            return "disabled"
        if not self.is_active:
            return "inactive"
        if self.paused_at:
            return "paused"
        return "active"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the envelope as it was when the event happened, and where sending stands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"
        CANCELLED = "cancelled", "Cancelled"

    # Deliveries that still hold back later events of the same aggregate (per-aggregate ordering).
    UNSETTLED = (Status.PENDING, Status.DELIVERING)

    # No index of its own: the composite indexes below start with the endpoint.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    outbox_id = models.BigIntegerField(
        null=True, blank=True, help_text="The outbox event's id (empty for a ping)."
    )
    event_id = models.CharField(max_length=40, help_text="The webhook-id header: the same on every attempt.")
    event_type = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=200)
    sequence = models.PositiveIntegerField(default=0)
    payload = models.JSONField(help_text="The envelope sent as the body.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_once_per_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivering", "succeeded", "failed", "cancelled"]),
                name="webhook_delivery_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(
                fields=["locked_until"], condition=Q(status="delivering"), name="webhook_delivery_leased"
            ),
            models.Index(
                fields=["endpoint", "aggregate_type", "aggregate_id", "sequence"],
                condition=Q(status__in=["pending", "delivering"]),
                name="webhook_delivery_unsettled",
            ),
            models.Index(fields=["endpoint", "created_at"], name="webhook_delivery_endpoint_time"),
            # A relay's claim on PostgreSQL walks each endpoint's due deliveries (delivery.py).
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_endpoint_due",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending", event_type="webhook.ping"),
                name="webhook_delivery_pings_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → endpoint #{self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery and what came back (or why nothing did)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(
        max_length=50,
        blank=True,
        help_text="Why there was no 2xx: http_<status>, timeout, an egress refusal…",
    )
    response_excerpt = models.TextField(blank=True, help_text="The first 1 KB of the answer.")

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error_code}"
