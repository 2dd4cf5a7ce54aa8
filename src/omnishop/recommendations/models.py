"""Behaviour events (append-only), trained model versions and the candidate lists each version serves.

Events are written once and never updated, except that an anonymous visitor's events get their
`customer_id` filled in when the visitor signs in or is merged (the only UPDATE). Recommendation lists
are precomputed per model version so serving is one indexed read plus filtering.
"""

from django.db import models
from django.db.models import Q


class Event(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view"
        SEARCH = "search"
        ADD_TO_CART = "add_to_cart"
        PURCHASE = "purchase"
        WISHLIST = "wishlist"

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Plain ids, not foreign keys: the log outlives merges and deletions, and inserts stay cheap.
    customer_id = models.BigIntegerField(null=True, blank=True)
    anonymous_id = models.CharField(max_length=64, blank=True, default="")
    product_id = models.BigIntegerField(null=True, blank=True)
    variant_id = models.BigIntegerField(null=True, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    query = models.CharField(max_length=500, blank=True, default="")
    result_ids = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, default="api", help_text="api, search, orders, import")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["occurred_at"], name="recs_event_time"),
            models.Index(fields=["customer_id", "occurred_at"], name="recs_event_customer"),
            models.Index(fields=["anonymous_id", "occurred_at"], name="recs_event_anonymous"),
            models.Index(fields=["channel", "kind", "occurred_at"], name="recs_event_channel_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="search") | Q(product_id__isnull=False), name="recs_event_has_product"
            ),
        ]


class ModelVersion(models.Model):
    """One training run. It serves only once evaluated and activated; the previous active version keeps
    serving until then (and stays, retired, as the fallback for one more generation)."""

    class Status(models.TextChoices):
        TRAINING = "training"
        EVALUATING = "evaluating"
        ACTIVE = "active"
        RETIRED = "retired"
        REJECTED = "rejected"
        FAILED = "failed"

    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRAINING)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="recs_one_active")
        ]

    def __str__(self) -> str:
        return f"v{self.number} ({self.status})"


class CandidateList(models.Model):
    """The ranked products one version recommends for a key: a customer, a product, or everyone."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer"
        SIMILAR = "similar"
        BOUGHT_TOGETHER = "together"
        POPULAR = "popular"

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="lists")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.BigIntegerField(help_text="Customer id, product id, or 0 for the popular list.")
    product_ids = models.JSONField(default=list)
    scores = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "kind", "key"], name="recs_list_unique"),
        ]


class ServingGeneration(models.Model):
    """A counter per channel (its code; "" for shared product data) raised after each commit that changes what
    channels can sell — a listing published or withdrawn, a product changed or deleted, an import finished.
    Serving reads it with the lists, in the same statement, and rebuilds its in-memory set of a channel's
    sellable products when it moved (docs/adr/0033)."""

    scope = models.CharField(max_length=50, unique=True, help_text='Channel code, or "" for every channel.')
    generation = models.BigIntegerField(default=0)


# -- how recommendations perform (docs/recommendations.md#performance) ------------------------------------


class ItemDay(models.Model):
    """How often one recommended product was shown and clicked in one placement of a channel on one UTC day,
    under one model version: counters added to with `INSERT … ON CONFLICT DO UPDATE` (one statement per
    page render), never a row per impression."""

    day = models.DateField()
    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    placement = models.CharField(max_length=40)
    product_id = models.BigIntegerField()
    version = models.PositiveIntegerField(default=0, help_text="Model version number (0: none active).")
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "channel", "placement", "product_id", "version"], name="recs_itemday_unique"
            ),
        ]


class Click(models.Model):
    """One shopper following a recommended product (the raw record attribution looks up)."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    placement = models.CharField(max_length=40)
    product_id = models.BigIntegerField()
    version = models.PositiveIntegerField(default=0)
    customer_id = models.BigIntegerField(null=True, blank=True)
    anonymous_id = models.CharField(max_length=64, blank=True, default="")
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["customer_id", "occurred_at"], name="recs_click_customer"),
            models.Index(fields=["anonymous_id", "occurred_at"], name="recs_click_anonymous"),
            models.Index(fields=["occurred_at"], name="recs_click_time"),
        ]


class Attribution(models.Model):
    """An order line whose product the same shopper clicked in a recommendation within the attribution window
    before the order was placed (the last such click wins); written in the order's transaction."""

    order_id = models.BigIntegerField()
    order_line_id = models.BigIntegerField(unique=True)
    click = models.ForeignKey(Click, null=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    placement = models.CharField(max_length=40)
    product_id = models.BigIntegerField()
    day = models.DateField(help_text="UTC day the order was placed.")
    currency = models.CharField(max_length=3)
    quantity = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=14, decimal_places=4)

    class Meta:
        indexes = [models.Index(fields=["order_id"], name="recs_attr_order")]


class AttributionDay(models.Model):
    """Attributed orders, units and revenue per day, channel, placement and currency (counters kept with the
    attributions, in the order's transaction)."""

    day = models.DateField()
    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    placement = models.CharField(max_length=40)
    currency = models.CharField(max_length=3)
    orders = models.BigIntegerField(default=0)
    units = models.BigIntegerField(default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "channel", "placement", "currency"], name="recs_attrday_unique"
            ),
        ]
