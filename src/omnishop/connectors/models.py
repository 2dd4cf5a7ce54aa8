"""Channel connectors' tables: the connection to a marketplace, id mappings, cursors, the push/pull task
queue, sync logs and reconcile reports.

A `ChannelConnection` ties one sales channel to one remote shop (Shopify, WooCommerce). Credentials live on
it and never leave it: `__repr__`/`__str__` and the admin show them masked, nothing logs them. The rate
limiter's token bucket is persisted on the same row so every worker process shares it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


def mask(secret: str) -> str:
    """'shpat_…9f2c' — enough to recognise a credential, never enough to use it."""
    if not secret:
        return ""
    return f"{secret[:4]}…{secret[-4:]}" if len(secret) > 12 else "…"


class ChannelConnection(models.Model):
    class Kind(models.TextChoices):
        SHOPIFY = "shopify", "Shopify (Admin GraphQL API)"
        WOOCOMMERCE = "woocommerce", "WooCommerce (REST API v3)"

    channel = models.OneToOneField("channels.Channel", on_delete=models.CASCADE, related_name="connection")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(help_text="https://shop.myshopify.com or https://shop.example.com")
    # Shopify: the Admin API access token. WooCommerce: consumer key + consumer secret.
    access_token = models.CharField(max_length=255, blank=True)
    consumer_key = models.CharField(max_length=255, blank=True)
    consumer_secret = models.CharField(max_length=255, blank=True)
    webhook_secret = models.CharField(
        max_length=255, blank=True, help_text="Shopify: the app's client secret; WooCommerce: the webhook's."
    )
    # Shopify only: the location whose "available" quantity is the channel's stock.
    location_id = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    # Token bucket, shared by every process through compare-and-set updates (ratelimit.py).
    rate_per_second = models.FloatField(default=2.0)
    burst = models.PositiveIntegerField(default=10)
    tokens = models.FloatField(default=10.0)
    tokens_at = models.DateTimeField(null=True, blank=True)
    # Set by a 429 Retry-After or a GraphQL THROTTLED answer: nobody calls the channel before then.
    next_allowed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["shopify", "woocommerce"]), name="connection_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel.code} → {self.kind} {self.base_url}"

    def __repr__(self) -> str:
        return f"<ChannelConnection {self.pk} {self.kind} {self.base_url} token={mask(self.access_token)}>"


class ListingMapping(models.Model):
    """Our variant ↔ the channel's product / variant (variation) / inventory item."""

    connection = models.ForeignKey(ChannelConnection, on_delete=models.CASCADE, related_name="listings")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.CASCADE, related_name="+")
    sku = models.CharField(max_length=100)
    remote_product_id = models.CharField(max_length=100)
    # Shopify: ProductVariant gid; WooCommerce: the variation id, blank for a simple product.
    remote_variant_id = models.CharField(max_length=100, blank=True)
    remote_inventory_item_id = models.CharField(max_length=100, blank=True)
    # The last quantity we set (Shopify's compareQuantity for the next compare-and-set).
    last_quantity = models.IntegerField(null=True, blank=True)
    last_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "variant"], name="listing_mapping_variant_unique"),
            models.UniqueConstraint(fields=["connection", "sku"], name="listing_mapping_sku_unique"),
            models.UniqueConstraint(
                fields=["connection", "remote_product_id", "remote_variant_id"],
                name="listing_mapping_remote_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} ↔ {self.remote_variant_id or self.remote_product_id}"


class OrderMapping(models.Model):
    """The channel's order id ↔ our order, or the recorded reason it could not become one (nothing lost)."""

    class Status(models.TextChoices):
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Failed (see error)"

    connection = models.ForeignKey(ChannelConnection, on_delete=models.CASCADE, related_name="orders")
    remote_order_id = models.CharField(max_length=100)
    remote_name = models.CharField(max_length=100, blank=True)
    order = models.OneToOneField(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="channel_mapping"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    remote_status = models.CharField(max_length=50, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The channel's order as last pulled.")
    attempts = models.PositiveIntegerField(default=0)
    # Refunds are announced as a cumulative amount; this is how much of it the channel has been told.
    refunded_pushed = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "remote_order_id"], name="order_mapping_remote_unique"
            ),
            models.CheckConstraint(
                condition=Q(status="failed") | Q(order__isnull=False), name="order_mapping_imported_has_order"
            ),
        ]
        indexes = [models.Index(fields=["connection", "status"], name="order_mapping_status")]

    def __str__(self) -> str:
        return f"{self.remote_name or self.remote_order_id} ({self.status})"


class SyncCursor(models.Model):
    """Where the last pull stopped, per connection and stream (e.g. 'orders' → the last updated_at seen)."""

    connection = models.ForeignKey(ChannelConnection, on_delete=models.CASCADE, related_name="cursors")
    name = models.CharField(max_length=50)
    value = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "name"], name="sync_cursor_unique")]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class ConnectorTask(models.Model):
    """One change to deliver to (or fetch from) a channel; claimed by a worker with a lease.

    Stock and listing tasks coalesce: while a task for the same (connection, operation, key) is still
    pending, a newer change replaces its payload (one partial unique index keeps it to one pending row).
    """

    class Operation(models.TextChoices):
        STOCK = "stock", "Push available stock"
        LISTING = "listing", "Push price and publication"
        FULFILMENT = "fulfilment", "Push fulfilment and tracking"
        CANCEL = "cancel", "Push cancellation"
        REFUND = "refund", "Push refund"
        PULL_ORDER = "pull_order", "Pull one order"
        PULL_ORDERS = "pull_orders", "Pull new and changed orders"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    COALESCING = ("stock", "listing", "pull_order", "pull_orders", "refund")

    connection = models.ForeignKey(ChannelConnection, on_delete=models.CASCADE, related_name="tasks")
    operation = models.CharField(max_length=20, choices=Operation.choices)
    key = models.CharField(max_length=200, blank=True, help_text="SKU, order number or channel order id.")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "operation", "key"],
                condition=Q(
                    status="pending",
                    operation__in=["stock", "listing", "pull_order", "pull_orders", "refund"],
                ),
                name="connector_task_one_pending",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="connector_task_due")]

    def __str__(self) -> str:
        return f"{self.operation} {self.key} ({self.status})"


class SyncLog(models.Model):
    class Direction(models.TextChoices):
        PUSH = "push", "Push (to the channel)"
        PULL = "pull", "Pull (from the channel)"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        PARTIAL = "partial", "Partly failed"
        RETRY = "retry", "Will retry"
        ERROR = "error", "Failed"

    connection = models.ForeignKey(ChannelConnection, on_delete=models.CASCADE, related_name="sync_logs")
    operation = models.CharField(max_length=20)
    direction = models.CharField(max_length=4, choices=Direction.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    count_ok = models.PositiveIntegerField(default=0)
    count_failed = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["connection", "-started_at"], name="sync_log_recent")]

    def __str__(self) -> str:
        return f"{self.operation} {self.status}"


class ReconcileReport(models.Model):
    connection = models.ForeignKey(ChannelConnection, on_delete=models.CASCADE, related_name="reconciles")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, default="running")
    checked = models.PositiveIntegerField(default=0)
    stock_drift = models.PositiveIntegerField(default=0)
    price_drift = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0, help_text="Mapped here, not found on the channel.")
    repairs_enqueued = models.PositiveIntegerField(default=0)
    differences = models.JSONField(default=list, blank=True, help_text="The first differences found.")
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"reconcile {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
