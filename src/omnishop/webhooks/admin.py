"""Back-office screens for outgoing webhooks: endpoints (paused and disabled ones are the alerts staff act
on), deliveries with their attempts inline. Actions call the webhook services: send a ping, resume a paused or
disabled endpoint, rotate its secret (shown once, in the confirmation message), replay deliveries. The secret
is never shown on a screen."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q

from omnishop.core.errors import DomainError

from . import services
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("attention", "Needs attention (paused or disabled)"),
            ("active", "Active"),
            ("paused", "Paused"),
            ("disabled", "Disabled (410)"),
            ("inactive", "Switched off"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "attention":
            return queryset.filter(Q(paused_at__isnull=False) | Q(disabled_at__isnull=False))
        if value == "active":
            return queryset.filter(is_active=True, paused_at__isnull=True, disabled_at__isnull=True)
        if value == "paused":
            return queryset.filter(paused_at__isnull=False, disabled_at__isnull=True)
        if value == "disabled":
            return queryset.filter(disabled_at__isnull=False)
        if value == "inactive":
            return queryset.filter(is_active=False)
        return queryset


class WebhookEndpointForm(forms.ModelForm):
    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "is_active")

    def clean_url(self):
        try:
            return services.clean_url(self.cleaned_data["url"])
        except DomainError as exc:
            raise ValidationError(exc.message) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("id", "owner", "url", "state", "event_list", "consecutive_failures", "pause_reason")
    list_select_related = ("channel",)
    list_filter = (StateFilter, "channel")
    search_fields = ("url", "app_name", "description", "channel__code")
    fields = (
        "channel",
        "app_name",
        "url",
        "description",
        "event_types",
        "is_active",
        "paused_at",
        "pause_reason",
        "disabled_at",
        "consecutive_failures",
        "previous_secret_expires_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "channel",
        "app_name",
        "event_types",
        "paused_at",
        "pause_reason",
        "disabled_at",
        "consecutive_failures",
        "previous_secret_expires_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    actions = ["send_ping", "resume", "rotate_secret"]

    def has_add_permission(self, request) -> bool:
        return False  # created through the API or `omnishop webhooks create`, which show the secret once

    @admin.display(description="owner")
    def owner(self, obj):
        return obj.channel.code if obj.channel_id else f"app: {obj.app_name}"

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.event_types)

    def save_model(self, request, obj, form, change):
        services.update_endpoint(
            endpoint=obj, url=obj.url, description=obj.description, is_active=obj.is_active
        )

    @admin.action(description="Send a test ping", permissions=["change"])
    def send_ping(self, request, queryset):
        sent = 0
        for endpoint in queryset:
            if endpoint.disabled_at or not endpoint.is_active:
                self.message_user(request, f"#{endpoint.pk} is disabled; resume it first.", messages.WARNING)
                continue
            services.ping(endpoint=endpoint)
            sent += 1
        self.message_user(request, f"Queued a ping for {sent} endpoint(s); see their deliveries.")

    @admin.action(description="Resume (clear pause or 410, send what waits)", permissions=["change"])
    def resume(self, request, queryset):
        for endpoint in queryset:
            services.resume_endpoint(endpoint=endpoint)
        self.message_user(request, f"Resumed {queryset.count()} endpoint(s).")

    @admin.action(description="Rotate the signing secret (shown once)", permissions=["change"])
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            issued = services.rotate_secret(endpoint=endpoint)
            self.message_user(
                request,
                f"#{endpoint.pk}: new secret {issued.secret} — copy it now, it is not shown again. The old "
                f"secret keeps signing until {issued.endpoint.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC.",
                messages.WARNING,
            )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ("started_at", "duration_ms", "status_code", "error_code", "response_excerpt")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "endpoint",
        "event_type",
        "aggregate",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    )
    list_select_related = ("endpoint", "endpoint__channel")
    list_filter = ("status", "event_type", "endpoint")
    search_fields = ("=event_id", "=aggregate_id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [WebhookAttemptInline]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields if f.name != "claim_token"]
    exclude = ("claim_token",)
    actions = ["replay"]

    @admin.display(description="aggregate")
    def aggregate(self, obj):
        return f"{obj.aggregate_type} {obj.aggregate_id} #{obj.sequence}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only screen; the replay action asks for the endpoint's change permission

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_webhookendpoint")

    @admin.action(description="Replay (send again, same webhook-id)", permissions=["replay"])
    def replay(self, request, queryset):
        count = 0
        for delivery in queryset.exclude(status=WebhookDelivery.Status.DELIVERING):
            services.replay_delivery(delivery_id=delivery.pk)
            count += 1
        self.message_user(request, f"Queued {count} delivery(ies) to be sent again.")
