"""Back-office screens for shipping: carriers (their display name, tracking link and whether they are in use;
created through the API, which checks the webhook secret and status map) and the tracking events carriers
sent, read-only and searchable by tracking number or order number. The webhook secret is never shown."""

from __future__ import annotations

from django.contrib import admin

from .models import Carrier, TrackingEvent


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "tracking_url_template", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")
    fields = ("code", "name", "tracking_url_template", "status_map", "is_active")
    readonly_fields = ("code", "status_map")

    def has_add_permission(self, request) -> bool:
        return False  # POST /shipping/carriers validates the secret and the status map

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # tracking events keep pointing at it; deactivate instead


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "carrier",
        "tracking_number",
        "order_number",
        "status",
        "carrier_status",
        "location",
        "description",
    )
    list_select_related = ("carrier", "fulfilment", "fulfilment__order")
    list_filter = ("carrier", "status", "occurred_at")
    search_fields = ("=fulfilment__tracking_number", "=fulfilment__order__number", "=event_id")
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    @admin.display(description="tracking number", ordering="fulfilment__tracking_number")
    def tracking_number(self, obj):
        return obj.fulfilment.tracking_number

    @admin.display(description="order", ordering="fulfilment__order__number")
    def order_number(self, obj):
        return obj.fulfilment.order.number

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
