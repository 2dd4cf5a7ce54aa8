"""Back-office screens for stock. Quantities are read-only here: every change goes through an action that
calls a service, so the ledger and the holds always add up."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from omnishop.core.errors import DomainError

from . import services
from .models import (
    Allocation,
    AllocationLine,
    ChannelInventoryPolicy,
    ChannelLocation,
    CycleCount,
    CycleCountLine,
    LowStockAlert,
    PurchaseOrder,
    PurchaseOrderLine,
    Reservation,
    ReservationLine,
    StockLevel,
    StockLocation,
    StockMovement,
    StockValuation,
    Transfer,
    TransferLine,
)


def _each(modeladmin, request, queryset, action, label: str) -> None:
    """Run a service per selected row; report successes and each domain error by its message."""
    done = 0
    for obj in queryset:
        try:
            action(obj)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{label}: {done} done.")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ChannelLocationInline(admin.TabularInline):
    model = ChannelLocation
    extra = 0
    fields = ("channel", "priority")


@admin.register(StockLocation)
class StockLocationAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "city",
        "country",
        "ships_to_customers",
        "serves_pickup",
        "is_active",
    )
    list_filter = ("kind", "ships_to_customers", "serves_pickup", "allows_negative_stock", "is_active")
    search_fields = ("code", "name", "city", "postcode")
    inlines = [ChannelLocationInline]
    actions = ["draft_purchase_orders", "start_cycle_count"]

    @admin.action(description="Replenish: draft purchase orders for stock under its reorder point")
    def draft_purchase_orders(self, request, queryset):
        count = 0
        for location in queryset:
            count += len(
                services.create_replenishment_orders(location=location, actor=f"user:{request.user.pk}")
            )
        self.message_user(request, f"{count} draft purchase order(s) created.")

    @admin.action(description="Start a cycle count")
    def start_cycle_count(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda loc: services.start_count(location=loc, actor=f"user:{request.user.pk}"),
            "Counts started",
        )


@admin.register(ChannelInventoryPolicy)
class ChannelInventoryPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "channel",
        "reservation_ttl_seconds",
        "max_hold_seconds",
        "safety_buffer",
        "quota_percent",
        "quota_minus",
        "allocation_strategy",
    )


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = (
        "variant",
        "location",
        "on_hand",
        "allocated",
        "reserved",
        "free_units",
        "reorder_point",
        "oversold",
        "updated_at",
    )
    list_filter = ("location", "oversold")
    search_fields = ("variant__sku",)
    list_select_related = ("variant", "location")
    readonly_fields = ("variant", "location", "on_hand", "allocated", "reserved", "updated_at")

    def has_add_permission(self, request):
        return False  # stock arrives through receipts, purchase orders and transfers

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="free")
    def free_units(self, obj):
        return obj.free


@admin.register(StockValuation)
class StockValuationAdmin(admin.ModelAdmin):
    """The weighted-average landed cost per variant and location; only purchase order receipts change it."""

    list_display = ("variant", "location", "average_cost", "currency", "quantity", "value", "updated_at")
    list_filter = ("location", "currency")
    search_fields = ("variant__sku",)
    list_select_related = ("variant", "location")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "variant",
        "location",
        "kind",
        "quantity",
        "reason_code",
        "reference",
        "actor",
    )
    list_filter = ("kind", "location", "reason_code")
    search_fields = ("variant__sku", "reference", "actor")
    list_select_related = ("variant", "location")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReservationLineInline(ReadOnlyInline):
    model = ReservationLine
    fields = ("variant", "location", "quantity")


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "key", "reference", "status", "expires_at", "created_at")
    list_filter = ("status", "channel")
    search_fields = ("key", "reference")
    readonly_fields = ("channel", "key", "reference", "status", "expires_at", "created_at", "closed_at")
    inlines = [ReservationLineInline]
    actions = ["release"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Release the held stock now", permissions=["change"])
    def release(self, request, queryset):
        _each(self, request, queryset, lambda r: services.release_reservation(reservation=r), "Released")


class AllocationLineInline(ReadOnlyInline):
    model = AllocationLine
    fields = ("variant", "location", "quantity", "shipped")


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "order_reference", "status", "strategy", "created_at")
    list_filter = ("status", "channel")
    search_fields = ("order_reference",)
    readonly_fields = (
        "channel",
        "order_reference",
        "reservation",
        "status",
        "strategy",
        "created_at",
        "closed_at",
    )
    inlines = [AllocationLineInline]
    actions = ["ship", "cancel"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Ship (book sale movements)", permissions=["change"])
    def ship(self, request, queryset):
        actor = f"user:{request.user.pk}"
        _each(
            self, request, queryset, lambda a: services.ship_allocation(allocation=a, actor=actor), "Shipped"
        )

    @admin.action(description="Cancel (put units back on sale)", permissions=["change"])
    def cancel(self, request, queryset):
        _each(self, request, queryset, lambda a: services.cancel_allocation(allocation=a), "Cancelled")


class TransferLineInline(admin.TabularInline):
    model = TransferLine
    extra = 1


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "destination", "status", "created_at", "dispatched_at", "received_at")
    list_filter = ("status", "source", "destination")
    readonly_fields = ("status", "created_by", "created_at", "dispatched_at", "received_at")
    inlines = [TransferLineInline]
    actions = ["dispatch", "receive", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Transfer.Status.REQUESTED:
            return (*self.readonly_fields, "source", "destination", "note")
        return self.readonly_fields

    @admin.action(description="Dispatch (transfer-out movements)", permissions=["change"])
    def dispatch(self, request, queryset):
        actor = f"user:{request.user.pk}"
        _each(
            self,
            request,
            queryset,
            lambda t: services.dispatch_transfer(transfer=t, actor=actor),
            "Dispatched",
        )

    @admin.action(description="Receive (transfer-in movements)", permissions=["change"])
    def receive(self, request, queryset):
        actor = f"user:{request.user.pk}"
        _each(
            self, request, queryset, lambda t: services.receive_transfer(transfer=t, actor=actor), "Received"
        )

    @admin.action(description="Cancel (only before dispatch)", permissions=["change"])
    def cancel(self, request, queryset):
        _each(self, request, queryset, lambda t: services.cancel_transfer(transfer=t), "Cancelled")


class CycleCountLineInline(ReadOnlyInline):
    model = CycleCountLine
    fields = ("variant", "expected", "counted")


@admin.register(CycleCount)
class CycleCountAdmin(admin.ModelAdmin):
    list_display = ("id", "location", "status", "created_by", "created_at", "completed_at")
    list_filter = ("status", "location")
    readonly_fields = ("location", "status", "created_by", "created_at", "completed_at")
    inlines = [CycleCountLineInline]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False  # started with the location action; count sheets are completed through the API

    @admin.action(description="Cancel the count", permissions=["change"])
    def cancel(self, request, queryset):
        _each(self, request, queryset, lambda c: services.cancel_count(count=c), "Cancelled")


class PurchaseOrderLineForm(forms.ModelForm):
    """A draft's line typed or changed here lands like one drafted by the services: its unit cost plus the
    supplier offer's freight and duty (`costs_for_draft_line`)."""

    class Meta:
        model = PurchaseOrderLine
        fields = ("variant", "quantity", "unit_cost")

    def clean(self):
        data = super().clean()
        variant, cost = data.get("variant"), data.get("unit_cost")
        order = getattr(self.instance, "purchase_order", None)
        if variant is not None and cost is not None and order is not None:
            try:
                _, self.instance.landed_unit_cost = services.costs_for_draft_line(
                    order=order, variant=variant, unit_cost=cost
                )
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    form = PurchaseOrderLineForm
    extra = 0
    fields = ("variant", "quantity", "received", "unit_cost", "landed_unit_cost")
    readonly_fields = ("received", "landed_unit_cost")

    def _draft(self, obj) -> bool:
        return obj is None or obj.status == PurchaseOrder.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._draft(obj) and super().has_delete_permission(request, obj)


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = ("number", "supplier", "location", "status", "currency", "created_at", "sent_at")
    list_filter = ("status", "supplier", "location")
    search_fields = ("number", "supplier__code")
    readonly_fields = ("number", "status", "created_by", "created_at", "sent_at", "closed_at")
    inlines = [PurchaseOrderLineInline]
    actions = ["send", "cancel"]

    def has_add_permission(self, request):
        return False  # drafted by replenishment or the API, which check SKUs, costs and quantities

    @admin.action(description="Send to the supplier", permissions=["change"])
    def send(self, request, queryset):
        _each(self, request, queryset, lambda o: services.send_purchase_order(order=o), "Sent")

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        _each(self, request, queryset, lambda o: services.cancel_purchase_order(order=o), "Cancelled")


@admin.register(LowStockAlert)
class LowStockAlertAdmin(admin.ModelAdmin):
    list_display = ("variant", "location", "free", "reorder_point", "created_at", "resolved_at")
    list_filter = ("location", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("variant__sku",)

    def has_add_permission(self, request):
        return False
