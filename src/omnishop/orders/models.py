"""Carts, shipping methods, tax rates, orders with their lines, timeline, fulfilments, returns, exceptions.

Invariants live in constraints: per line, cancelled + allocated <= ordered, fulfilled <= allocated (a line's
fulfilled units stay counted as allocated), returned <= fulfilled. Order statuses and the allowed moves
between them are in `states.py`.
"""

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class ShippingMethod(models.Model):
    class Kind(models.TextChoices):
        FLAT = "flat", _("Flat fee")
        WEIGHT = "weight", _("By weight band")
        FREE_OVER = "free_over", _("Flat fee, free over a threshold")
        PICKUP = "pickup", _("Store pick-up / click and collect")

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="shipping_methods")
    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    price = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    free_over = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    bands = models.JSONField(
        default=list, blank=True, help_text='[{"up_to_grams": 2000, "price": "4.95"}, …]'
    )
    countries = models.JSONField(default=list, blank=True, help_text="ISO-3166 codes served; empty = all.")
    pickup_location = models.ForeignKey(
        "inventory.StockLocation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["channel", "price", "code"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "code"], name="shipping_method_code_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="shipping_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class TaxRate(models.Model):
    """The rate a channel charges for a destination country; country '*' is the channel's fallback."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="tax_rates")
    country = models.CharField(max_length=2, help_text="ISO-3166 alpha-2, or '*' for every other country.")
    rate = models.DecimalField(max_digits=6, decimal_places=4, help_text="0.2000 = 20 %.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "country"], name="tax_rate_unique"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lt=1), name="tax_rate_range"),
        ]


class Cart(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CHECKING_OUT = "checking_out", _("Being checked out")
        ORDERED = "ordered", _("Turned into an order")

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="carts"
    )
    token = models.CharField(
        max_length=64, unique=True, help_text="Unguessable id; guests hold their cart by it."
    )
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    email = models.CharField(max_length=254, blank=True)
    shipping_address = models.JSONField(null=True, blank=True)
    shipping_method = models.ForeignKey(ShippingMethod, null=True, blank=True, on_delete=models.SET_NULL)
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="While checking out: the claim's lease. A checkout that died leaves it to expire.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class CartLine(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["cart", "variant"], name="cart_line_unique")]


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("Waiting for payment")
        PAID = "paid", _("Paid, to be shipped")
        ON_HOLD = "on_hold", _("In the exception queue")
        PARTIALLY_FULFILLED = "partially_fulfilled", _("Partly shipped")
        FULFILLED = "fulfilled", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        COMPLETED = "completed", _("Completed")
        PARTIALLY_RETURNED = "partially_returned", _("Partly returned")
        RETURNED = "returned", _("Returned")
        CANCELLED = "cancelled", _("Cancelled")
        MERGED = "merged", _("Merged into another order")

    number = models.CharField(max_length=40, unique=True)
    payment_reference = models.CharField(
        max_length=40,
        db_index=True,
        help_text="Payments count towards this reference (split children share it).",
    )
    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="orders")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    email = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    currency = models.CharField(max_length=3)
    prices_include_tax = models.BooleanField()
    shipping_address = models.JSONField(null=True, blank=True)
    shipping_method = models.ForeignKey(ShippingMethod, null=True, blank=True, on_delete=models.PROTECT)
    shipping_method_name = models.CharField(max_length=200, blank=True)
    subtotal = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    shipping_total = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    tax_total = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    fees_total = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        default=Decimal(0),
        help_text="Charges outside the product lines and shipping (fees, manual amounts, vouchers sold).",
    )
    total = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    external_id = models.CharField(max_length=100, blank=True, help_text="Marketplace order id.")
    cart = models.OneToOneField(Cart, null=True, blank=True, on_delete=models.SET_NULL, related_name="order")
    checkout_key = models.CharField(max_length=255, blank=True)
    checkout_hash = models.CharField(
        max_length=64, blank=True, help_text="Fingerprint of the checkout request."
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    exchange_for = models.ForeignKey(
        "ReturnRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="exchange_orders"
    )
    backordered_at = models.DateTimeField(null=True, blank=True, help_text="Queued for stock (FIFO by this).")
    tracking_token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not a column: set on the instance a checkout returns when the key answered an earlier order (200, not 201).
    replayed: bool = False
    # Not a column: what a checkout just wrote for this new order (services.listeners.PlacedRows), read by the
    # listeners of its `placed` timeline entry instead of reading the rows back.
    placed_rows: Any = None

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~Q(external_id=""),
                name="order_external_id_unique",
            ),
            models.UniqueConstraint(
                fields=["channel", "checkout_key"],
                condition=~Q(checkout_key=""),
                name="order_checkout_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    title = models.CharField(max_length=500, blank=True)
    quantity = models.PositiveIntegerField(help_text="Ordered.")
    allocated = models.PositiveIntegerField(default=0)
    fulfilled = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, help_text="As listed (gross or net).")
    tax_rate = models.DecimalField(max_digits=6, decimal_places=4, default=0)
    line_net = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    line_tax = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    line_total = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    weight_grams = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["order", "variant"], name="order_line_variant_unique"),
            models.CheckConstraint(
                condition=Q(allocated__lte=F("quantity") - F("cancelled")), name="line_allocated_le_open"
            ),
            models.CheckConstraint(
                condition=Q(fulfilled__lte=F("allocated")), name="line_fulfilled_le_allocated"
            ),
            models.CheckConstraint(
                condition=Q(returned__lte=F("fulfilled")), name="line_returned_le_fulfilled"
            ),
        ]

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.cancelled

    @property
    def unshipped(self) -> int:
        return self.quantity - self.cancelled - self.fulfilled


class OrderAllocation(models.Model):
    """One inventory allocation held for the order (several after a partial cancel, backorder or split)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="allocations")
    allocation = models.OneToOneField("inventory.Allocation", on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True)


class OrderEvent(models.Model):
    """The timeline: who did what, when, with the state before and after."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    actor = models.CharField(max_length=100, blank=True)
    message = models.CharField(max_length=500, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]


class Fulfilment(models.Model):
    """One shipment, from one location."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To pick and pack")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfilments")
    location = models.ForeignKey("inventory.StockLocation", on_delete=models.PROTECT, related_name="+")
    allocation = models.ForeignKey("inventory.Allocation", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    carrier = models.CharField(max_length=50, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True, db_index=True)
    tracking_status = models.CharField(max_length=20, blank=True)
    tracking_token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]


class FulfilmentLine(models.Model):
    fulfilment = models.ForeignKey(Fulfilment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="fulfilment_lines")
    quantity = models.PositiveIntegerField()


class ReturnRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved, waiting for the parcel")
        REJECTED = "rejected", _("Rejected")
        RECEIVED = "received", _("Received and refunded")

    class RefundTo(models.TextChoices):
        ORIGINAL = "original", _("The original payment method")
        STORE_CREDIT = "store_credit", _("Store credit")
        EXCHANGE = "exchange", _("Pays for an exchange order")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="returns")
    number = models.CharField(max_length=50, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    refund_to = models.CharField(max_length=15, choices=RefundTo.choices, default=RefundTo.ORIGINAL)
    refund_amount = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]


class ReturnLine(models.Model):
    class Disposition(models.TextChoices):
        RESTOCK = "restock", _("Back on sale")
        WRITE_OFF = "write_off", _("Written off")

    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="return_lines")
    quantity = models.PositiveIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    disposition = models.CharField(max_length=10, choices=Disposition.choices, blank=True)


class OrderException(models.Model):
    """The exception queue: an order that needs a person (out of stock, carrier exception, failed payment)."""

    class Reason(models.TextChoices):
        OUT_OF_STOCK = "out_of_stock", _("Out of stock at payment")
        CARRIER_EXCEPTION = "carrier_exception", _("Carrier reported a problem")
        PAYMENT_FAILED = "payment_failed", _("Payment failed")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="exceptions")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    details = models.JSONField(default=dict, blank=True)
    resolution = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
