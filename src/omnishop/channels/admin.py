"""Back-office screens for channels and their API keys; key actions call the channel services."""

from django.contrib import admin, messages

from . import services
from .models import ApiKey, Channel


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("prefix", "name", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # keys are issued by the "issue a key" action, which shows the secret once


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "currency",
        "locale",
        "country",
        "prices_include_tax",
        "is_active",
    )
    list_filter = ("kind", "currency", "is_active", "prices_include_tax")
    search_fields = ("code", "name")
    inlines = [ApiKeyInline]
    actions = ["issue_full_access_key", "issue_read_only_key"]

    def _issue(self, request, queryset, scopes, label):
        for channel in queryset:
            issued = services.issue_api_key(
                channel=channel, name=f"{label} (admin)", scopes=scopes, created_by=request.user
            )
            self.message_user(
                request,
                f"{channel.code}: new {label} key {issued.secret} — copy it now, it is not shown again.",
                messages.WARNING,
            )

    @admin.action(description="Issue a full-access API key (shown once)", permissions=["change"])
    def issue_full_access_key(self, request, queryset):
        self._issue(request, queryset, ApiKey.CHANNEL_SCOPE_NAMES, "full-access")

    @admin.action(description="Issue a read-only API key (shown once)", permissions=["change"])
    def issue_read_only_key(self, request, queryset):
        self._issue(request, queryset, [s for s in ApiKey.SCOPE_NAMES if s.endswith(":read")], "read-only")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "channel", "name", "scope_list", "created_at", "last_used_at", "active")
    list_filter = ("channel", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "channel__code")
    readonly_fields = ("prefix", "secret_hash", "created_by", "created_at", "last_used_at", "revoked_at")
    fields = ("channel", "name", "scopes", "expires_at", *readonly_fields)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(boolean=True)
    def active(self, obj):
        return obj.is_active

    @admin.action(description="Revoke selected keys now", permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(api_key=api_key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).")
