"""Stock: where it is (locations), how much (stock levels), why it changed (the append-only ledger), who holds
it (reservations, allocations), how it moves (transfers, counts), how it is bought (purchase orders) and
what it cost (the landed cost of each receipt and the weighted-average cost per variant and location).

Invariants live here as database constraints so no code path, concurrent or not, can break them:
every stock quantity is ≥ 0 and `allocated + reserved ≤ on_hand` — except on a level a till oversold at a
location that allows negative stock (`StockLevel.oversold`). The workflows live in `services`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class StockLocation(models.Model):
    class Kind(models.TextChoices):
        WAREHOUSE = "warehouse", _("Warehouse")
        RETAIL_STORE = "retail_store", _("Retail store")
        DROP_SHIP = "drop_ship", _("Drop-ship supplier")

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WAREHOUSE)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO-3166 alpha-2")
    ships_to_customers = models.BooleanField(default=True)
    serves_pickup = models.BooleanField(default=False)
    supplier = models.ForeignKey(
        "catalog.Supplier",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="For drop-ship locations: the supplier who holds and ships the stock.",
    )
    is_active = models.BooleanField(default=True)
    allows_negative_stock = models.BooleanField(
        default=False,
        help_text="A sale handed over at this location's tills is booked even beyond the recorded stock "
        "(on hand goes negative and the sale is flagged); otherwise such a sale waits in the exception queue.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["warehouse", "retail_store", "drop_ship"]), name="location_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(ships_to_customers=True) | Q(serves_pickup=True),
                name="location_ships_or_serves_pickup",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ChannelLocation(models.Model):
    """A location that serves a channel; lower priority numbers are used first."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="stock_locations")
    location = models.ForeignKey(StockLocation, on_delete=models.CASCADE, related_name="channel_links")
    priority = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["channel_id", "priority", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "location"], name="channel_location_unique"),
        ]


class ChannelInventoryPolicy(models.Model):
    """How much of the stock a channel may promise, how long its checkouts hold stock, how it allocates."""

    class Strategy(models.TextChoices):
        PRIORITY = "priority", _("By channel location priority")
        FEWEST_LOCATIONS = "fewest_locations", _("One location if possible, else the fewest")

    channel = models.OneToOneField(
        "channels.Channel", on_delete=models.CASCADE, related_name="inventory_policy"
    )
    reservation_ttl_seconds = models.PositiveIntegerField(default=15 * 60)
    max_hold_seconds = models.PositiveIntegerField(
        default=60 * 60, help_text="Longest a reservation may be held in total, extensions included."
    )
    safety_buffer = models.PositiveIntegerField(default=0, help_text="Units per SKU never promised.")
    quota_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="At most this % of free stock is promised (blank = no quota)."
    )
    quota_minus = models.PositiveIntegerField(default=0, help_text="…minus this many units.")
    allocation_strategy = models.CharField(max_length=30, choices=Strategy.choices, default=Strategy.PRIORITY)

    class Meta:
        verbose_name_plural = "channel inventory policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(quota_percent__isnull=True) | Q(quota_percent__lte=100),
                name="policy_quota_max_100",
            ),
            models.CheckConstraint(condition=Q(reservation_ttl_seconds__gte=1), name="policy_ttl_positive"),
        ]


class StockLevel(models.Model):
    """Units of one variant at one location. Free (sellable) = on_hand − allocated − reserved."""

    # No index of its own: the unique (variant, location) index serves variant lookups. No index on a
    # quantity or on updated_at either, so PostgreSQL can update a stock level in place (HOT).
    variant = models.ForeignKey(
        "catalog.Variant", on_delete=models.PROTECT, related_name="stock_levels", db_index=False
    )
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(default=0)
    allocated = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    reorder_point = models.IntegerField(
        null=True, blank=True, help_text="Set by replenishment; a low-stock alert opens below it."
    )
    updated_at = models.DateTimeField(auto_now=True)
    # Set (only) when a till sold beyond the stock at a location that allows it: the one case in which
    # on_hand may be negative and below what is committed. A constraint cannot read the location's flag,
    # so the level carries it.
    oversold = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["variant_id", "location_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["variant", "location"], name="stocklevel_variant_location_unique"
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0) | Q(oversold=True), name="stocklevel_on_hand_not_negative"
            ),
            models.CheckConstraint(condition=Q(allocated__gte=0), name="stocklevel_allocated_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stocklevel_reserved_not_negative"),
            models.CheckConstraint(
                condition=Q(on_hand__gte=F("allocated") + F("reserved")) | Q(oversold=True),
                name="stocklevel_committed_le_on_hand",
            ),
        ]

    @property
    def free(self) -> int:
        return self.on_hand - self.allocated - self.reserved


class StockMovement(models.Model):
    """One change of on_hand, never edited or deleted: the ledger that on_hand must always add up to."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", _("Receipt")
        SALE = "sale", _("Sale / shipment")
        RETURN = "return", _("Customer return")
        ADJUSTMENT = "adjustment", _("Adjustment")
        CYCLE_COUNT = "cycle_count", _("Cycle count")
        TRANSFER_OUT = "transfer_out", _("Transfer out")
        TRANSFER_IN = "transfer_in", _("Transfer in")
        WRITE_OFF = "write_off", _("Damage / write-off")

    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.IntegerField(help_text="Signed change of on_hand.")
    reason_code = models.CharField(max_length=40, blank=True)
    reference_type = models.CharField(max_length=30, blank=True, help_text="purchase_order, order, transfer…")
    reference = models.CharField(max_length=100, blank=True)
    actor = models.CharField(max_length=100, blank=True, help_text="user:12, channel:web, system")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero")]
        indexes = [
            models.Index(fields=["variant", "location", "created_at"], name="movement_variant_location"),
            models.Index(fields=["kind", "created_at"], name="movement_kind_created"),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Stock movements are append-only; record a correcting movement instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Stock movements are append-only.")


class StockEvent(models.Model):
    """A mark: a variant's stock changed at a location. Folded into stock.availability_changed outbox events
    (services/stock_events.py); `delivered_at` = when it was folded."""

    # Written on every sale: only the indexes the outbox reader needs, and no database foreign keys (ADR 0037:
    # their checks lock the shared variant and location rows at every commit); the pair is copied from the
    # stock level row the same statement locks, which has them. Django still cascades deletes.
    variant = models.ForeignKey(
        "catalog.Variant", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    location = models.ForeignKey(
        StockLocation, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    cause = models.CharField(max_length=30)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(delivered_at__isnull=True), name="stockevent_undelivered")
        ]


class Reservation(models.Model):
    """Stock held for a checkout until it expires, is released, or becomes an order's allocation."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CONVERTED = "converted", _("Converted")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Expired")

    # The unique (channel, key) index serves channel lookups. No database foreign key (ADR 0037): its check
    # would lock the channel row every reservation shares; Django still protects channels from deletion.
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    key = models.CharField(max_length=255, help_text="Idempotency key: the same key returns the same hold.")
    reference = models.CharField(max_length=100, blank=True, help_text="e.g. the checkout id")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="reservation_channel_key_unique")
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="active"), name="reservation_active_expiry"
            )
        ]


class ReservationLine(models.Model):
    # No database foreign key either (ADR 0044): its check ran at COMMIT, while the hot stock row is still
    # locked (a query and a row lock on the reservation). The line is written by the same statement as its
    # reservation, from the id that statement's insert returned; Django still cascades deletes.
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="lines", db_constraint=False
    )
    # No database foreign keys for the pair (ADR 0037): copied from the stock level row the reserving statement
    # locks, which has them; Django still protects variants and locations from deletion.
    variant = models.ForeignKey(
        "catalog.Variant", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    location = models.ForeignKey(
        StockLocation, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="reservationline_qty_positive")
        ]


class Allocation(models.Model):
    """Stock committed to a placed order: which units come from which location."""

    class Status(models.TextChoices):
        ALLOCATED = "allocated", _("Allocated")
        FULFILLED = "fulfilled", _("Fulfilled")
        CANCELLED = "cancelled", _("Cancelled")

    # The unique (channel, key) index serves channel lookups.
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    order_reference = models.CharField(max_length=100)
    reservation = models.OneToOneField(
        Reservation, null=True, blank=True, on_delete=models.PROTECT, related_name="allocation"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ALLOCATED)
    strategy = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Not a column: allocate_stock wrote the caller's link row with it (taking.HolderLink).
    linked: bool = False

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "order_reference"], name="allocation_channel_order_unique"
            )
        ]


class AllocationLine(models.Model):
    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+", db_index=False)
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+", db_index=False)
    quantity = models.PositiveIntegerField()
    shipped = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="allocationline_qty_positive"),
            models.CheckConstraint(
                condition=Q(shipped__lte=F("quantity")), name="allocationline_shipped_le_qty"
            ),
        ]


class Transfer(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", pgettext_lazy("transfer status", "Requested")
        IN_TRANSIT = "in_transit", _("In Transit")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    source = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="transfers_out")
    destination = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="transfers_in")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(source=F("destination")), name="transfer_distinct_locations")
        ]


class TransferLine(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "variant"], name="transferline_variant_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="transferline_qty_positive"),
        ]


class CycleCount(models.Model):
    """A count sheet for one location; completing it books the differences as cycle-count movements."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="counts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["location"], condition=Q(status="open"), name="cyclecount_one_open_per_location"
            )
        ]


class CycleCountLine(models.Model):
    count = models.ForeignKey(CycleCount, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    expected = models.IntegerField(help_text="on_hand when the count was completed")
    counted = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["count", "variant"], name="countline_variant_unique")]


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENT = "sent", _("Sent")
        PARTIALLY_RECEIVED = "partially_received", _("Partially Received")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    number = models.CharField(max_length=30, unique=True)
    supplier = models.ForeignKey("catalog.Supplier", on_delete=models.PROTECT, related_name="purchase_orders")
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        # Unit, landed and average costs are the buyers' data: receiving a delivery does not need them.
        permissions = [("view_cost", "Can see purchase, landed and average stock costs")]


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    received = models.PositiveIntegerField(default=0)
    unit_cost = models.DecimalField(max_digits=14, decimal_places=4)
    # unit_cost + the supplier offer's freight a unit + its duty % of unit_cost, fixed when the line is
    # drafted (equal to unit_cost when the offer has neither); in the order's currency.
    landed_unit_cost = models.DecimalField(max_digits=14, decimal_places=4)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "variant"], name="poline_variant_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="poline_qty_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="poline_unit_cost_not_negative"),
            models.CheckConstraint(
                condition=Q(landed_unit_cost__gte=0), name="poline_landed_cost_not_negative"
            ),
        ]


class PurchaseOrderReceipt(models.Model):
    """One receipt line (e.g. a delivery note line). Its key makes a repeated receipt a no-op.

    `landed_unit_cost` is what each unit of it cost on arrival, in the order's currency: the line's landed
    unit cost plus this receipt's share of the delivery's extra charge (`extra_charge`) spread over its units.
    """

    line = models.ForeignKey(PurchaseOrderLine, on_delete=models.CASCADE, related_name="receipts")
    key = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()
    movement = models.OneToOneField(StockMovement, on_delete=models.PROTECT, related_name="+")
    extra_charge = models.DecimalField(max_digits=14, decimal_places=4, default=0, db_default=0)
    landed_unit_cost = models.DecimalField(max_digits=14, decimal_places=4)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["line", "key"], name="poreceipt_line_key_unique"),
            models.CheckConstraint(condition=Q(extra_charge__gte=0), name="poreceipt_charge_not_negative"),
            models.CheckConstraint(
                condition=Q(landed_unit_cost__gte=0), name="poreceipt_landed_cost_not_negative"
            ),
        ]


class StockValuation(models.Model):
    """What the units of a variant at a location cost, landed: a moving weighted average that purchase order
    receipts update (services/valuation.py), in one currency.

    `quantity` and `value` are the units and their total landed value right after the last costed receipt;
    `average_cost` = value / quantity rounded half up to 4 places. Units that leave (sales, write-offs)
    leave at the average and do not change it, so the next receipt weighs the units then on hand. Kept
    apart from `StockLevel`, which every sale updates: this row changes only when goods are received.
    """

    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+", db_index=False)
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    quantity = models.IntegerField()
    value = models.DecimalField(max_digits=24, decimal_places=4)
    average_cost = models.DecimalField(max_digits=14, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["variant_id", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "location"], name="valuation_variant_location_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="valuation_quantity_positive"),
            models.CheckConstraint(condition=Q(value__gte=0), name="valuation_value_not_negative"),
            models.CheckConstraint(condition=Q(average_cost__gte=0), name="valuation_average_not_negative"),
        ]


class LowStockAlert(models.Model):
    variant = models.ForeignKey("catalog.Variant", on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey(StockLocation, on_delete=models.CASCADE, related_name="+")
    free = models.IntegerField()
    reorder_point = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["variant", "location"],
                condition=Q(resolved_at__isnull=True),
                name="lowstock_one_open",
            )
        ]
