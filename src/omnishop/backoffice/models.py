"""The analytics rollups: what the dashboard reads, kept up to date in the transaction of every order change.

`OrderFacts` is each order's current contribution (a snapshot); a change of an order recomputes it and adds
the difference to the daily rollups, so the rollups always equal the sum of the snapshots, which equal what
the orders, payments and returns say (docs/adr/0017-dashboard-charts-and-rollups.md). Figures are booked on
the UTC day the order was placed.

The foreign keys of these tables have no database constraint (`db_constraint=False`, ADR 0046): the rows are
derived from order lines whose own foreign keys hold, Django's `on_delete=CASCADE` still deletes them with
their order, variant, product or channel, `rollups.rebuild` recomputes them, and the constraint checks at
commit were a third of the server's work for an imported history's rollups. The indexes stay.
"""

from django.db import models


class OrderFacts(models.Model):
    """What one order adds to the rollups now (its previous value is subtracted when it changes)."""

    class CustomerKind(models.TextChoices):
        NEW = "new", "First order of the customer"
        RETURNING = "returning", "Customer ordered before"
        GUEST = "guest", "No customer account"

    order = models.OneToOneField(
        "orders.Order", primary_key=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    day = models.DateField()
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20)
    customer_kind = models.CharField(max_length=10, choices=CustomerKind.choices)
    counted = models.BooleanField(help_text="Counts as a sale (neither cancelled nor merged).")
    sales = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    refunds = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    units = models.IntegerField(default=0)
    returned_units = models.IntegerField(default=0)
    lines = models.JSONField(default=dict, help_text='{"<variant id>": [product id, units, "revenue"]}')
    reasons = models.JSONField(default=dict, help_text='{"<return reason>": units}')


class DailySales(models.Model):
    """Per UTC day, channel and currency: the KPI figures of the orders placed that day."""

    day = models.DateField()
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    currency = models.CharField(max_length=3)
    orders = models.IntegerField(default=0)
    cancelled = models.IntegerField(default=0)
    sales = models.DecimalField(max_digits=16, decimal_places=4, default=0)
    refunds = models.DecimalField(max_digits=16, decimal_places=4, default=0)
    units = models.IntegerField(default=0)
    returned_units = models.IntegerField(default=0)
    returned_orders = models.IntegerField(default=0)
    new_customers = models.IntegerField(default=0)
    returning_customers = models.IntegerField(default=0)
    guest_orders = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "channel", "currency"], name="daily_sales_key"),
        ]
        permissions = [("view_dashboard", "Can view the analytics dashboard and its API")]


class DailyStatus(models.Model):
    """Per UTC day (placed) and channel: how many of those orders are in each status now."""

    day = models.DateField()
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    status = models.CharField(max_length=20)
    orders = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "channel", "status"], name="daily_status_key"),
        ]


class DailyReturnReason(models.Model):
    """Per UTC day (placed) and channel: units received back, by the reason the customer gave."""

    day = models.DateField()
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    reason = models.CharField(max_length=200)
    units = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "channel", "reason"], name="daily_return_reason_key"),
        ]


class ProductSales(models.Model):
    """Per product, channel and currency, per day, ISO week (starting Monday) or calendar month: units and
    revenue of counted orders. Top products and top categories read a period as its whole months, then the
    whole weeks of what is left, then single days — a few thousand rows for 90 days instead of one per day
    and variant (`queries.calendar_blocks`, docs/adr/0025-product-sales-in-calendar-blocks.md)."""

    class Grain(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "ISO week (Monday to Sunday)"
        MONTH = "month", "Calendar month"

    grain = models.CharField(max_length=5, choices=Grain.choices)
    start = models.DateField(help_text="The block's first day: the day, the week's Monday, the month's 1st.")
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    currency = models.CharField(max_length=3)
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    units = models.IntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=4, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "start", "channel", "currency", "product"], name="product_sales_key"
            ),
        ]
