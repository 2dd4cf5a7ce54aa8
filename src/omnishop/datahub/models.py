"""The data hub's own tables: import jobs and their accounting, quarantined rows, the ledger of what each
source row became (natural key + content hash, for idempotent re-imports), the staging table of raw
transaction lines that the orders context will consume, and the identity-resolution review queue.

Targets (customers, products, suppliers, stock) live in their own apps; this app only records how data
got there.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ImportJob(models.Model):
    """One run of one profile over one or more files. Accounting invariant, kept by the engine and checked
    by a constraint: rows_read = imported + updated + unchanged + merged + quarantined."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    profile = models.CharField(max_length=80, db_index=True)
    channel = models.ForeignKey(
        "channels.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="import_jobs"
    )
    source_name = models.CharField(max_length=500, help_text="File name as given by the uploader.")
    source_path = models.CharField(max_length=1000, blank=True, help_text="Where the file is stored.")
    source_size = models.BigIntegerField(default=0)
    source_sha256 = models.CharField(max_length=64, blank=True)
    format = models.CharField(max_length=20, blank=True, help_text="Detected or requested file format.")
    encoding = models.CharField(max_length=40, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    rows_read = models.PositiveBigIntegerField(default=0)
    imported = models.PositiveBigIntegerField(default=0)
    updated = models.PositiveBigIntegerField(default=0)
    unchanged = models.PositiveBigIntegerField(default=0)
    merged = models.PositiveBigIntegerField(default=0)
    quarantined = models.PositiveBigIntegerField(default=0)
    queued_for_review = models.PositiveBigIntegerField(
        default=0,
        help_text="Imported rows whose product looks like another channel's: a review candidate was opened.",
    )
    last_line = models.PositiveBigIntegerField(default=0, help_text="Last source line committed.")
    lease_owner = models.CharField(
        max_length=120, blank=True, help_text="The runner (host, process, run) that holds the running job."
    )
    lease_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Until when the runner holds the job; renewed at every batch. Past it, another runner may "
        "take the job over and resume it after its last committed line.",
    )
    entity_counts = models.JSONField(
        default=dict, blank=True, help_text="Side effects, e.g. variants created."
    )
    quality = models.JSONField(default=dict, blank=True, help_text="Data-quality report of the job.")
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "channels.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    rows_read=models.F("imported")
                    + models.F("updated")
                    + models.F("unchanged")
                    + models.F("merged")
                    + models.F("quarantined")
                ),
                name="datahub_job_accounting_balances",
            )
        ]

    def __str__(self) -> str:
        return f"import #{self.pk} {self.profile} {self.source_name}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class QuarantinedRow(models.Model):
    """A source row that did not import, kept verbatim with every reason, until fixed or discarded."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"
        DISCARDED = "discarded"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="quarantined_rows")
    line = models.PositiveBigIntegerField(help_text="Line (or record) number in the source file.")
    raw = models.JSONField(
        help_text="The row as read: column -> text, or the raw text of an unparseable row."
    )
    reasons = models.JSONField(help_text="[{field, code, message}, ...]")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    resolved_by_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="resolved_rows"
    )
    # Identity of the row across jobs: a re-import of the same bad row finds its open entry (same scope and
    # fingerprint) instead of opening another; a later import of the same natural key resolves it.
    scope = models.CharField(max_length=200, blank=True, help_text="source@channel/target of the profile.")
    fingerprint = models.CharField(max_length=32, blank=True, help_text="Hash of the row as read.")
    row_key = models.CharField(max_length=300, blank=True, help_text="Natural key, when it could be read.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job_id", "line", "id"]
        indexes = [
            models.Index(
                fields=["scope", "fingerprint"],
                condition=Q(status="open"),
                name="datahub_quarantine_open_row",
            ),
            models.Index(
                fields=["scope", "row_key"], condition=Q(status="open"), name="datahub_quarantine_open_key"
            ),
        ]


class QuarantineSighting(models.Model):
    """A later job met a row that is already in quarantine (same content): it counts the row as
    quarantined, and the open entry records that it was seen again, instead of a second entry."""

    row = models.ForeignKey(QuarantinedRow, on_delete=models.CASCADE, related_name="sightings")
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="quarantine_sightings")
    line = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class ImportedRecord(models.Model):
    """Ledger: which object a (source, entity, natural key) became, and the hash of the content last
    imported, so that importing the same data again is recognised as unchanged."""

    source = models.CharField(max_length=80)
    entity = models.CharField(max_length=40)
    natural_key = models.CharField(max_length=300)
    content_hash = models.CharField(max_length=32)
    object_id = models.BigIntegerField()
    last_job = models.ForeignKey(ImportJob, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "entity", "natural_key"], name="datahub_record_natural_key_unique"
            )
        ]


class StagedTransactionLine(models.Model):
    """A raw sales-transaction line (invoice line, cancellation, adjustment) as a channel reported it.

    The single, deduplicated, cleaned record of what was sold, with links to the customer and variant
    where those could be resolved. Lines group into documents (`StagedDocument`): at the end of each import
    the documents whose lines are new or changed become the orders context's past orders and returns.
    `consumed_as` says what a line became where that is a property of the line (a write-off, a credit line
    matched or not); an invoice line's fate is its document's status.

    Few indexes and no database-level foreign keys on purpose: this table takes every line of every import
    (a year of a shop is millions) and is an import log, not the business record (that is the order). Its
    links (job, channel, customer, variant) are kept by the ORM — PROTECT / SET_NULL on delete, moved by
    customer merges — while PostgreSQL's deferred foreign-key triggers cost ~12 µs per line at commit
    (measured: 42,000 lines, 1.12 s with them, 0.61 s without), as much as cleaning the line.
    """

    class Use(models.TextChoices):
        RETURN = "return", "Returned against an earlier order"
        RETURN_PARTIAL = "return_partial", "Partly matched to an earlier order"
        UNMATCHED_RETURN = "unmatched_return", "Credit with no earlier purchase to return against"
        WRITE_OFF = "write_off", "Warehouse write-off, not a sale"
        ADJUSTMENT = "adjustment", "Stock or accounting adjustment, not a sale"
        QUARANTINED = "quarantined", "Can never be built (no product for its code): in quarantine"

    class Kind(models.TextChoices):
        SALE = "sale"
        CANCELLATION = "cancellation"
        WRITE_OFF = "write_off"
        ADJUSTMENT = "adjustment"
        FEE = "fee"

    source = models.CharField(max_length=80, help_text="Profile source namespace, e.g. online_retail.")
    natural_key = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=32)
    # Digest of the row as read (its columns and raw values) under the profile that cleaned it: a later
    # import meets the same raw row again and leaves it alone without cleaning it (docs/datahub.md).
    # 64 bits: a row is only met again at its own natural key, so a collision would have to be between the
    # old and the new content of one line (2^-64 a changed line).
    raw_hash = models.BigIntegerField(null=True, blank=True)
    job = models.ForeignKey(
        ImportJob, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    channel = models.ForeignKey(
        "channels.Channel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    document_no = models.CharField(max_length=64, help_text="Invoice / order number.")
    kind = models.CharField(max_length=14, choices=Kind.choices, default=Kind.SALE)
    sku = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=500, blank=True)
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    line_total = models.DecimalField(max_digits=16, decimal_places=4)
    currency = models.CharField(max_length=3)
    occurred_at = models.DateTimeField()
    customer_ref = models.CharField(max_length=100, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    country = models.CharField(max_length=2, blank=True)
    country_raw = models.CharField(max_length=100, blank=True)
    variant = models.ForeignKey(
        "catalog.Variant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    consumed_as = models.CharField(max_length=16, choices=Use.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "natural_key"], name="datahub_staged_line_unique")
        ]
        indexes = [models.Index(fields=["source", "document_no"], name="datahub_staged_document")]


class StagedDocument(models.Model):
    """An invoice or credit note made of staged lines, and what it became in the orders context. A new or
    changed line sets its document back to pending; the end of the import settles pending documents."""

    class Status(models.TextChoices):
        PENDING = "pending", "New or changed lines, not yet order history"
        ORDER = "order", "A past order"
        RETURNS = "returns", "Returns and refunds (see each line)"
        NOT_A_SALE = "not_a_sale", "Only write-offs or adjustments"
        REJECTED = "rejected", "A line names an unknown product: tried again by the next import"
        CONFLICT = "conflict", "Changed after returns were recorded against its order: left as it was"
        NEGATIVE = "negative", "Charges below zero: cannot be a paid order"
        QUARANTINED = "quarantined", "Only lines that can never be built: they are in quarantine"

    source = models.CharField(max_length=80)
    document_no = models.CharField(max_length=64)
    is_credit = models.BooleanField(default=False, help_text="A credit note (cancellation/return).")
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "document_no"], name="datahub_staged_document_unique")
        ]
        indexes = [
            models.Index(
                fields=["source", "status"],
                condition=Q(status__in=["pending", "rejected"]),
                name="datahub_document_open",
            )
        ]


class MatchCandidate(models.Model):
    """A possible duplicate found by identity resolution below the auto-merge threshold: staff decide."""

    class Status(models.TextChoices):
        OPEN = "open"
        MERGED = "merged"
        REJECTED = "rejected"

    entity = models.CharField(max_length=20, help_text="customer | product")
    left_id = models.BigIntegerField()
    right_id = models.BigIntegerField()
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "left_id", "right_id"], name="datahub_match_pair_unique"
            )
        ]


class ProductMerge(models.Model):
    """One product folded into another, at import time (a new channel's product matched an existing one) or
    by a staff decision on a review candidate, with what it takes to undo it exactly: the previous values
    of the fields it filled, and what moved (variants, images, ledger entries) or was added by the source.

    `kind` import: `product` took the source's listing, variants and images; the source's own product never
    existed (`incoming` keeps the fields it would have had). `kind` review: `merged_product` was folded into
    `product` and deactivated (kept, so undo gives the same row back)."""

    class Kind(models.TextChoices):
        IMPORT = "import", "Matched when a channel's file was imported"
        REVIEW = "review", "Accepted from the review queue"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    product = models.ForeignKey(
        "catalog.Product", null=True, on_delete=models.SET_NULL, related_name="+", help_text="Kept product."
    )
    merged_product_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="review: the product folded in; import, after undo: the one given back.",
    )
    sources = models.JSONField(default=list, help_text="Ledger sources (source@channel) that merged in.")
    channel = models.ForeignKey(
        "channels.Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    candidate = models.ForeignKey(
        MatchCandidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    filled = models.JSONField(default=dict, help_text="Field -> its value before the merge filled it.")
    incoming = models.JSONField(default=dict, help_text="import: the fields the source's own product has.")
    moved = models.JSONField(
        default=dict, help_text="{variants, images, records, shared_listings}: ids that moved or were added."
    )
    previous = models.JSONField(default=dict, help_text="review: the merged product's is_active.")
    variant_conflicts = models.JSONField(
        default=list, help_text="Variants kept side by side with the same option values (not merged here)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        # Folding one product into another (a review decision) and undoing a merge: a catalogue decision,
        # not a customer-care one (customers.merge_customer), so merchandisers can hold it without the 360.
        permissions = [("merge_product", "Can merge products and undo product merges")]
        indexes = [
            models.Index(fields=["product"], condition=Q(undone_at__isnull=True), name="datahub_merge_active")
        ]

    def __str__(self) -> str:
        return f"product merge #{self.pk} into {self.product_id}"


class SkuAlias(models.Model):
    """A channel's own SKU for a catalogue variant whose SKU differs (a fork of a shop, a marketplace
    listing): learnt when a products import matched the row to the variant by its option values, or
    configured in an SKU map. Every later import from that channel (products, orders, stock) resolves the
    channel's SKU through it. The namespace is the channel; an import without a channel keeps its aliases
    under its source."""

    class How(models.TextChoices):
        OPTION_VALUES = "option_values", "Same option values inside the matched product"
        SKU_MAP = "sku_map", "The profile's or the job's SKU map"

    channel = models.ForeignKey(
        "channels.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(max_length=80, help_text="The import source that learnt the alias.")
    external_sku = models.CharField(max_length=64, help_text="The SKU as the channel writes it.")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.CASCADE, related_name="+")
    how = models.CharField(max_length=16, choices=How.choices)
    job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_sku"],
                condition=Q(channel__isnull=False),
                name="datahub_sku_alias_channel_unique",
            ),
            models.UniqueConstraint(
                fields=["source", "external_sku"],
                condition=Q(channel__isnull=True),
                name="datahub_sku_alias_source_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_sku} → variant {self.variant_id} ({self.how})"


class AliasStockCount(models.Model):
    """A stock count a channel stated for one of its SKUs that reached a catalogue variant through an
    alias: the last count per (SKU, location) and the sum of the corrections it booked there. What an
    undo of the merge behind the alias needs to give the count back to the channel's own variant — a
    count equal to the books books nothing, so the stock ledger alone cannot tell (docs/datahub.md)."""

    channel = models.ForeignKey(
        "channels.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(max_length=80)
    external_sku = models.CharField(max_length=64)
    variant = models.ForeignKey("catalog.Variant", on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey("inventory.StockLocation", on_delete=models.CASCADE, related_name="+")
    on_hand = models.IntegerField(help_text="The last count the channel stated.")
    booked = models.IntegerField(default=0, help_text="Sum of the corrections its counts booked.")
    job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_sku", "variant", "location"], name="datahub_alias_count_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.external_sku}@{self.location_id}: {self.on_hand}"
