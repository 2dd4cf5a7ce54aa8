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
