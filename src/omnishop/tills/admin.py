"""Back-office: the tills of each store, and their uploaded sales with the stock exceptions to look at."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Till, TillSale


@admin.register(Till)
class TillAdmin(admin.ModelAdmin):
    list_display = ("public_id", "name", "device_id", "channel", "location", "is_active", "last_upload_at")
    list_filter = ("channel", "location", "is_active")
    search_fields = ("public_id", "device_id", "name")
    readonly_fields = ("public_id", "channel", "location", "device_id", "created_at", "last_upload_at")
    fields = (
        "public_id",
        "name",
        "channel",
        "location",
        "device_id",
        "is_active",
        "created_at",
        "last_upload_at",
    )

    def has_add_permission(self, request):
        return False  # a till registers itself through the API (docs/pos-protocol.md)


class OpenExceptionFilter(admin.SimpleListFilter):
    title = _("stock exception")
    parameter_name = "stock_exception"

    def lookups(self, request, model_admin):
        return (("open", _("Open")), ("any", _("Any")), ("none", _("None")))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.exclude(exception="").filter(acknowledged_at__isnull=True)
        if self.value() == "any":
            return queryset.exclude(exception="")
        if self.value() == "none":
            return queryset.filter(exception="")
        return queryset


@admin.register(TillSale)
class TillSaleAdmin(admin.ModelAdmin):
    list_display = (
        "sale_id",
        "till",
        "order",
        "outcome",
        "exception",
        "sold_at",
        "received_at",
        "acknowledged_at",
    )
    list_filter = (OpenExceptionFilter, "exception", "till__channel", "till")
    search_fields = ("sale_id", "order__number")
    list_select_related = ("till", "order")
    readonly_fields = [f.name for f in TillSale._meta.fields]
    actions = ["acknowledge"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what a till sold is never deleted

    @admin.action(description=_("Acknowledge the stock exceptions of the selected sales"))
    def acknowledge(self, request, queryset):
        done = services.acknowledge_exceptions(sales=queryset)
        self.message_user(request, _("%(n)d exception(s) acknowledged.") % {"n": done}, messages.SUCCESS)
