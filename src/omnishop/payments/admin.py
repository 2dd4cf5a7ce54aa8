"""Back-office screens for payments: payments with their refunds, store-credit accounts with their ledger,
saved payment methods and applied webhooks, all read-only (money moves only through the services). Staff
confirm a received bank transfer or release an open authorisation with actions that call the services."""

from __future__ import annotations

from django.contrib import admin

from omnishop.backoffice import kit
from omnishop.backoffice.kit import ReadOnlyAdmin, ReadOnlyInline, money

from . import services
from .models import (
    Payment,
    Refund,
    SavedPaymentMethod,
    StoreCreditAccount,
    StoreCreditEntry,
    WebhookDelivery,
)


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("created_at", "amount", "status", "reason", "key", "external_id")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "reference",
        "channel",
        "customer",
        "provider",
        "method_label",
        "status",
        "amount_display",
        "captured_display",
        "refunded_display",
        "created_at",
    )
    list_select_related = ("channel", "customer")
    list_filter = ("channel", "provider", "status", "created_at")
    search_fields = ("=reference", "=external_id", "customer__email")
    date_hierarchy = "created_at"
    exclude = ("client_secret",)  # lets a browser finish a card payment; never shown
    inlines = [RefundInline]
    actions = ["confirm", "void"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money(obj.amount, obj.currency)

    @admin.display(description="captured", ordering="captured")
    def captured_display(self, obj):
        return money(obj.captured, obj.currency)

    @admin.display(description="refunded", ordering="refunded")
    def refunded_display(self, obj):
        return money(obj.refunded, obj.currency)

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("payments.change_payment")

    def _each(self, request, queryset, call, done: str):
        kit.run_each(self, request, queryset, call, label=lambda p: f"Payment {p.pk}", done=done)

    @admin.action(description="Confirm (money received / 3-D Secure done)", permissions=["operate"])
    def confirm(self, request, queryset):
        self._each(request, queryset, lambda p: services.confirm_payment(payment=p), "Confirmed payment(s)")

    @admin.action(description="Void (release the authorisation)", permissions=["operate"])
    def void(self, request, queryset):
        self._each(request, queryset, lambda p: services.void_payment(payment=p), "Voided payment(s)")


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("pk", "payment", "reference", "amount_display", "status", "reason", "created_at")
    list_select_related = ("payment",)
    list_filter = ("status", "created_at")
    search_fields = ("=payment__reference", "=external_id", "reason")

    @admin.display(description="reference", ordering="payment__reference")
    def reference(self, obj):
        return obj.payment.reference

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money(obj.amount, obj.payment.currency)


class EntryInline(ReadOnlyInline):
    model = StoreCreditEntry
    fields = ("created_at", "kind", "amount", "reference", "key")


@admin.register(StoreCreditAccount)
class StoreCreditAccountAdmin(ReadOnlyAdmin):
    list_display = ("customer", "currency", "balance_display")
    list_select_related = ("customer",)
    list_filter = ("currency",)
    search_fields = ("customer__email", "customer__last_name")
    inlines = [EntryInline]

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, obj):
        return money(obj.balance, obj.currency)


@admin.register(StoreCreditEntry)
class StoreCreditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "customer", "kind", "amount_display", "reference")
    list_select_related = ("account", "account__customer")
    list_filter = ("kind", "account__currency", "created_at")
    search_fields = ("=reference", "account__customer__email")

    @admin.display(description="customer", ordering="account__customer")
    def customer(self, obj):
        return obj.account.customer

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money(obj.amount, obj.account.currency)


@admin.register(SavedPaymentMethod)
class SavedPaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ("customer", "provider", "label", "is_default", "created_at")
    list_select_related = ("customer",)
    list_filter = ("provider", "is_default")
    search_fields = ("customer__email", "label")
    exclude = ("token",)  # charges the shopper's card; never shown


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("provider", "event_id", "kind", "received_at")
    list_filter = ("provider", "kind", "received_at")
    search_fields = ("=event_id",)
