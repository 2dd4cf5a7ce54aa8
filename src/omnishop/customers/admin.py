"""Back-office screens for customers: search by e-mail, phone or name, identities and addresses inline,
merge selected duplicates, and undo a merge. Actions call the services; nothing here changes data itself."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count

from omnishop.core.errors import DomainError

from . import services
from .models import (
    Address,
    ChannelIdentity,
    Customer,
    CustomerPreferences,
    DistinctPair,
    MarketingConsent,
    MergeRecord,
)


class ChannelIdentityInline(admin.TabularInline):
    model = ChannelIdentity
    extra = 0
    fields = ("channel", "external_id", "email", "phone", "first_seen_at", "last_seen_at")
    readonly_fields = ("first_seen_at", "last_seen_at")
    autocomplete_fields = ()


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = (
        ("name", "company"),
        ("line1", "line2"),
        ("city", "postcode", "region", "country"),
        "phone",
        ("is_default_shipping", "is_default_billing"),
    )


class MarketingConsentInline(admin.TabularInline):
    model = MarketingConsent
    extra = 0
    fields = ("channel", "granted", "recorded_at", "source")


class MergedStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("merged", "Merged away")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(merged_into__isnull=True)
        if self.value() == "merged":
            return queryset.filter(merged_into__isnull=False)
        return queryset


class HasAccountFilter(admin.SimpleListFilter):
    title = "account"
    parameter_name = "account"

    def lookups(self, request, model_admin):
        return [("yes", "Signed up"), ("no", "Guest")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(user__isnull=self.value() == "no")
        return queryset


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "full_name",
        "email",
        "phone",
        "channels",
        "has_account",
        "merged_into",
        "created_at",
    )
    list_filter = (MergedStateFilter, HasAccountFilter, "identities__channel", "created_at")
    search_fields = (
        "email",
        "phone",
        "first_name",
        "last_name",
        "identities__email",
        "identities__phone",
        "identities__external_id",
    )
    readonly_fields = ("user", "merged_into", "created_at", "updated_at")
    inlines = [ChannelIdentityInline, AddressInline, MarketingConsentInline]
    actions = ["merge_selected"]
    date_hierarchy = "created_at"
    list_per_page = 50

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(channel_count=Count("identities__channel", distinct=True))
        )

    @admin.display(description="channels", ordering="channel_count")
    def channels(self, obj) -> int:
        return obj.channel_count

    @admin.display(boolean=True, description="account")
    def has_account(self, obj) -> bool:
        return obj.user_id is not None

    @admin.action(description="Merge selected customers (the oldest survives)", permissions=["merge"])
    def merge_selected(self, request, queryset):
        customers = list(queryset.order_by("created_at", "pk"))
        if len(customers) < 2:
            self.message_user(request, "Select at least two customers to merge.", messages.WARNING)
            return
        survivor, done = customers[0], 0
        for merged in customers[1:]:
            try:
                services.merge_customers(
                    survivor=survivor, merged=merged, actor=request.user, reason="merged in the back-office"
                )
                done += 1
            except DomainError as exc:
                self.message_user(
                    request, f"Customer {merged.pk}: {exc.message} ({exc.code})", messages.ERROR
                )
        if done:
            self.message_user(
                request, f"Merged {done} customer(s) into customer {survivor.pk}.", messages.SUCCESS
            )

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("customers.merge_customer")


@admin.register(CustomerPreferences)
class CustomerPreferencesAdmin(admin.ModelAdmin):
    list_display = ("customer", "language", "updated_at")
    search_fields = ("customer__email", "customer__last_name")
    filter_horizontal = ("favourite_categories",)
    raw_id_fields = ("customer",)


@admin.register(MergeRecord)
class MergeRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "survivor", "merged", "actor_label", "reason", "score", "created_at", "undone_at")
    list_filter = ("undone_at", "created_at")
    search_fields = ("survivor__email", "merged__email", "reason", "actor_label")
    readonly_fields = [f.name for f in MergeRecord._meta.fields]
    actions = ["undo_selected"]

    def has_add_permission(self, request) -> bool:
        return False  # merges are made by the merge action or the API, which record what moved

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Undo merge (newest first)", permissions=["merge"])
    def undo_selected(self, request, queryset):
        for record in queryset.order_by("-pk"):
            try:
                services.undo_merge(record=record, actor=request.user)
                self.message_user(request, f"Undid merge {record.pk}.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"Merge {record.pk}: {exc.message} ({exc.code})", messages.ERROR)

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("customers.merge_customer")


@admin.register(DistinctPair)
class DistinctPairAdmin(admin.ModelAdmin):
    list_display = ("customer_a", "customer_b", "decided_by", "note", "created_at")
    search_fields = ("customer_a__email", "customer_b__email", "note")
    raw_id_fields = ("customer_a", "customer_b")
    readonly_fields = ("decided_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:  # through the service, which orders the pair and records who decided
            obj.pk = services.mark_distinct(
                customer_a=obj.customer_a, customer_b=obj.customer_b, actor=request.user, note=obj.note
            ).pk
            return
        super().save_model(request, obj, form, change)
