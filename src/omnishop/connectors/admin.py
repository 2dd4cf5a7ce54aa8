"""Back-office screens for channel connectors: connections (credentials masked, write-only), id mappings,
the task queue (retry), sync logs and reconcile reports; actions "sync now" and "reconcile now"."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import services
from .models import (
    ChannelConnection,
    ConnectorTask,
    ListingMapping,
    OrderMapping,
    ReconcileReport,
    SyncLog,
    mask,
)

SECRETS = ("access_token", "consumer_key", "consumer_secret", "webhook_secret")


class ConnectionForm(forms.ModelForm):
    """Secrets are write-only: the form never renders them; a blank field keeps the stored value."""

    base_url = forms.URLField(assume_scheme="https")

    class Meta:
        model = ChannelConnection
        fields = (
            "channel",
            "kind",
            "base_url",
            *SECRETS,
            "location_id",
            "rate_per_second",
            "burst",
            "is_active",
        )
        widgets = {name: forms.PasswordInput(render_value=False) for name in SECRETS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRETS:
            self.fields[name].required = False
            stored = getattr(self.instance, name, "") if self.instance.pk else ""
            if stored:
                self.fields[name].help_text = f"Stored: {mask(stored)} — leave blank to keep it."

    def clean(self):
        data = super().clean()
        for name in SECRETS:
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)
        return data


@admin.register(ChannelConnection)
class ChannelConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = (
        "channel",
        "kind",
        "base_url",
        "masked_credentials",
        "is_active",
        "next_allowed_at",
        "pending",
    )
    list_filter = ("kind", "is_active")
    actions = ("sync_now", "reconcile_now")

    @admin.display(description="Credentials")
    def masked_credentials(self, obj: ChannelConnection) -> str:
        return ", ".join(f"{n}={mask(getattr(obj, n))}" for n in SECRETS if getattr(obj, n))

    @admin.display(description="Pending tasks")
    def pending(self, obj: ChannelConnection) -> int:
        return obj.tasks.filter(status="pending").count()

    @admin.action(description="Sync now (pull orders, push all stock)")
    def sync_now(self, request, queryset):
        n = sum(services.sync_now(connection=c) for c in queryset)
        self.message_user(request, f"{n} tasks queued; the relay worker delivers them.", messages.SUCCESS)

    @admin.action(description="Reconcile now")
    def reconcile_now(self, request, queryset):
        for connection in queryset.select_related("channel"):
            report = services.reconcile(connection=connection)
            self.message_user(
                request,
                f"{connection.channel.code}: {report.status}, {report.checked} checked, "
                f"{report.stock_drift} stock and {report.price_drift} price differences, "
                f"{report.repairs_enqueued} repairs queued.",
                messages.SUCCESS if report.status == "ok" else messages.ERROR,
            )


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ListingMapping)
class ListingMappingAdmin(ReadOnly):
    list_display = (
        "connection",
        "sku",
        "remote_product_id",
        "remote_variant_id",
        "remote_inventory_item_id",
        "last_quantity",
        "last_price",
        "updated_at",
    )
    list_filter = ("connection",)
    search_fields = ("sku", "remote_product_id", "remote_variant_id")


@admin.register(OrderMapping)
class OrderMappingAdmin(ReadOnly):
    list_display = (
        "connection",
        "remote_name",
        "remote_order_id",
        "order",
        "status",
        "error_code",
        "acknowledged_at",
        "remote_updated_at",
    )
    list_filter = ("connection", "status", "error_code")
    search_fields = ("remote_order_id", "remote_name", "order__number")
    actions = ("retry_import",)

    @admin.action(description="Retry the import of failed orders")
    def retry_import(self, request, queryset):
        for mapping in queryset.filter(status="failed"):
            services.enqueue(
                connection=mapping.connection, operation="pull_order", key=mapping.remote_order_id
            )
        self.message_user(request, "Queued.", messages.SUCCESS)


@admin.register(ConnectorTask)
class ConnectorTaskAdmin(ReadOnly):
    list_display = (
        "pk",
        "connection",
        "operation",
        "key",
        "status",
        "attempts",
        "next_attempt_at",
        "error_code",
        "updated_at",
    )
    list_filter = ("connection", "operation", "status", "error_code")
    search_fields = ("key",)
    actions = ("retry_now",)

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        n = 0
        for task in queryset.filter(status__in=["failed", "pending"]):
            try:
                with transaction.atomic():
                    n += ConnectorTask.objects.filter(pk=task.pk).update(
                        status="pending", next_attempt_at=timezone.now(), attempts=0
                    )
            except IntegrityError:
                # A newer change of the same SKU is already pending: it carries the latest figure.
                ConnectorTask.objects.filter(pk=task.pk).update(status="done", error_code="superseded")
        self.message_user(request, f"{n} tasks due now.", messages.SUCCESS)


@admin.register(SyncLog)
class SyncLogAdmin(ReadOnly):
    list_display = (
        "started_at",
        "connection",
        "operation",
        "direction",
        "status",
        "count_ok",
        "count_failed",
        "error_code",
        "error_message",
        "finished_at",
    )
    list_filter = ("connection", "operation", "direction", "status")
    date_hierarchy = "started_at"


@admin.register(ReconcileReport)
class ReconcileReportAdmin(ReadOnly):
    list_display = (
        "started_at",
        "connection",
        "status",
        "checked",
        "stock_drift",
        "price_drift",
        "missing",
        "repairs_enqueued",
        "finished_at",
    )
    list_filter = ("connection", "status")
    readonly_fields = ("differences",)
