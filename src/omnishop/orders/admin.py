"""Back-office screens for orders: find an order by number, external id, e-mail, SKU or tracking number and
see its lines, parcels, payments, returns and timeline on one page. Nothing here edits an order field by
field; every change is an action that calls an orders (or payments) service, and a refused change is shown
as a message, the way the API would answer it."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.html import format_html, format_html_join

from omnishop.backoffice import kit
from omnishop.backoffice.kit import ReadOnlyInline, money, run_each
from omnishop.core.errors import DomainError
from omnishop.payments import services as payments
from omnishop.payments.models import Payment

from . import services
from .models import (
    Cart,
    CartLine,
    Fulfilment,
    FulfilmentLine,
    Order,
    OrderAllocation,
    OrderEvent,
    OrderException,
    OrderLine,
    ReturnLine,
    ReturnRequest,
    ShippingMethod,
    TaxRate,
)


def staff_actor(request) -> str:
    return f"staff:{request.user.pk}"


class ReadOnlyAdmin(kit.ReadOnlyAdmin):
    def has_operate_permission(self, request) -> bool:
        """Actions that call services need the permission the API asks for (the forms stay read-only)."""
        return request.user.has_perm("orders.change_order")


# --- the order page -----------------------------------------------------------------------------


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = (
        "sku",
        "title",
        "quantity",
        "cancelled",
        "allocated",
        "fulfilled",
        "returned",
        "unit_price_display",
        "tax_rate",
        "line_total_display",
    )
    readonly_fields = ("unit_price_display", "line_total_display")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    @admin.display(description="unit price")
    def unit_price_display(self, obj):
        return money(obj.unit_price, obj.order.currency)

    @admin.display(description="line total")
    def line_total_display(self, obj):
        return money(obj.line_total, obj.order.currency)


class FulfilmentInline(ReadOnlyInline):
    model = Fulfilment
    fields = (
        "location",
        "status",
        "carrier",
        "tracking_number",
        "tracking_status",
        "shipped_at",
        "delivered_at",
    )
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("location")


class ReturnInline(ReadOnlyInline):
    model = ReturnRequest
    fields = ("number", "status", "refund_to", "refund_amount", "created_at", "closed_at")
    show_change_link = True


class ExceptionInline(ReadOnlyInline):
    model = OrderException
    fields = ("reason", "details", "resolution", "created_at", "resolved_at")
    show_change_link = True


class EventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "timeline"
    fields = ("created_at", "kind", "actor", "message", "before", "after")


def paid_subquery():
    """Σ captured − Σ refunded of the order's payment reference, as one correlated subquery per page."""
    net = (
        Payment.objects.filter(reference=OuterRef("payment_reference"))
        .values("reference")
        .annotate(net=Sum(F("captured") - F("refunded")))
        .values("net")
    )
    field = DecimalField(max_digits=14, decimal_places=4)
    return Coalesce(Subquery(net, output_field=field), Value(Decimal(0)), output_field=field)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "channel",
        "customer",
        "email",
        "status",
        "total_display",
        "paid_display",
        "external_id",
        "created_at",
    )
    list_filter = ("channel", "status", "created_at", ("backordered_at", admin.EmptyFieldListFilter))
    list_select_related = ("channel", "customer")
    search_fields = (
        "=number",
        "=payment_reference",
        "=external_id",
        "email",
        "customer__email",
        "lines__sku",
        "fulfilments__tracking_number",
    )
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False  # the exact count of a big order table is a slow COUNT(*)
    fieldsets = (
        (None, {"fields": ("number", "channel", "status", "customer", "email", "external_id")}),
        (
            "Money",
            {
                "fields": (
                    "currency",
                    "prices_include_tax",
                    "subtotal_display",
                    "shipping_total_display",
                    "tax_total_display",
                    "total_display",
                    "paid_display",
                    "payment_reference",
                    "payments_table",
                )
            },
        ),
        ("Delivery", {"fields": ("shipping_method_name", "shipping_address_display")}),
        (
            "History",
            {
                "fields": (
                    "parent",
                    "merged_into",
                    "exchange_for",
                    "backordered_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = (
        "subtotal_display",
        "shipping_total_display",
        "tax_total_display",
        "total_display",
        "paid_display",
        "payments_table",
        "shipping_address_display",
    )
    inlines = [OrderLineInline, FulfilmentInline, ReturnInline, ExceptionInline, EventInline]
    actions = ["cancel", "confirm_manual_payment", "create_fulfilments", "complete", "allocate_backorders"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(paid_amount=paid_subquery())

    @admin.display(description="subtotal")
    def subtotal_display(self, obj):
        return money(obj.subtotal, obj.currency)

    @admin.display(description="shipping")
    def shipping_total_display(self, obj):
        return money(obj.shipping_total, obj.currency)

    @admin.display(description="tax")
    def tax_total_display(self, obj):
        return money(obj.tax_total, obj.currency)

    @admin.display(description="total", ordering="total")
    def total_display(self, obj):
        return money(obj.total, obj.currency)

    @admin.display(description="paid (family)", ordering="paid_amount")
    def paid_display(self, obj):
        return money(obj.paid_amount, obj.currency)

    @admin.display(description="shipping address")
    def shipping_address_display(self, obj):
        address = obj.shipping_address or {}
        return ", ".join(str(v) for v in address.values() if v) or "—"

    @admin.display(description="payments and refunds")
    def payments_table(self, obj):
        rows = []
        for p in Payment.objects.filter(reference=obj.payment_reference).prefetch_related("refunds"):
            refunds = "; ".join(
                f"{money(r.amount, p.currency)} {r.status} {r.reason}".strip() for r in p.refunds.all()
            )
            rows.append(
                (
                    p.pk,
                    p.provider,
                    p.method_label,
                    p.get_status_display(),
                    money(p.amount, p.currency),
                    money(p.captured, p.currency),
                    money(p.refunded, p.currency),
                    refunds or "—",
                )
            )
        if not rows:
            return "No payments."
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 8 + "</tr>", rows)
        head = format_html_join(
            "",
            "<th>{}</th>",
            (
                (h,)
                for h in ("id", "provider", "method", "status", "amount", "captured", "refunded", "refunds")
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)

    # --- actions: each calls one service ---------------------------------------------------------

    @admin.action(description="Cancel (unshipped units; releases stock and refunds)", permissions=["operate"])
    def cancel(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda o: services.cancel_order(order=o, actor=staff_actor(request), reason="cancelled by staff"),
            label=lambda o: o.number,
            done="Cancelled order(s)",
        )

    @admin.action(description="Confirm pending manual payment (money received)", permissions=["operate"])
    def confirm_manual_payment(self, request, queryset):
        for order in queryset:
            pending = list(
                Payment.objects.filter(
                    reference=order.payment_reference,
                    provider="manual",
                    status=Payment.Status.PENDING,
                )
            )
            if not pending:
                self.message_user(request, f"{order.number}: no pending manual payment.", messages.WARNING)
                continue
            run_each(
                self,
                request,
                pending,
                lambda p: payments.confirm_payment(payment=p),
                label=lambda p, n=order.number: f"{n} payment {p.pk}",
                done=f"{order.number}: confirmed payment(s)",
            )

    @admin.action(description="Create fulfilments (pick lists per location)", permissions=["operate"])
    def create_fulfilments(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda o: services.create_fulfilments(order=o, actor=staff_actor(request)),
            label=lambda o: o.number,
            done="Orders with fulfilments created",
        )

    @admin.action(description="Complete (shipped or delivered orders)", permissions=["operate"])
    def complete(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda o: services.complete_order(order=o, actor=staff_actor(request)),
            label=lambda o: o.number,
            done="Completed order(s)",
        )

    @admin.action(
        description="Allocate received stock to backorders (of the selected orders' channels)",
        permissions=["operate"],
    )
    def allocate_backorders(self, request, queryset):
        allocated = []
        for channel in {o.channel for o in queryset.select_related("channel")}:
            try:
                allocated += services.allocate_backorders(channel=channel, actor=staff_actor(request))
            except DomainError as exc:
                self.message_user(request, f"{channel.code}: {exc.message} ({exc.code})", messages.ERROR)
        names = ", ".join(allocated) or "none"
        self.message_user(request, f"Backorders fully allocated: {names}.", messages.SUCCESS)


# --- the rest of the order pipeline -------------------------------------------------------------


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = (
        "order",
        "sku",
        "title",
        "quantity",
        "cancelled",
        "allocated",
        "fulfilled",
        "returned",
        "total",
    )
    list_select_related = ("order",)
    list_filter = ("order__channel",)
    search_fields = ("=sku", "=order__number", "title")

    @admin.display(description="line total", ordering="line_total")
    def total(self, obj):
        return money(obj.line_total, obj.order.currency)


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "order", "kind", "actor", "message")
    list_select_related = ("order",)
    list_filter = ("kind", "created_at")
    search_fields = ("=order__number", "actor", "message")
    date_hierarchy = "created_at"
    show_full_result_count = False


class FulfilmentLineInline(ReadOnlyInline):
    model = FulfilmentLine
    fields = ("order_line", "quantity")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line")


@admin.register(Fulfilment)
class FulfilmentAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "order",
        "location",
        "status",
        "carrier",
        "tracking_number",
        "tracking_status",
        "shipped_at",
        "delivered_at",
    )
    list_select_related = ("order", "location")
    list_filter = ("status", "carrier", "location", "shipped_at")
    search_fields = ("=tracking_number", "=order__number")
    exclude = ("tracking_token",)  # it opens the public tracking page; not needed to operate
    inlines = [FulfilmentLineInline]
    actions = ["mark_delivered"]

    @admin.action(description="Mark delivered (when the carrier sends no event)", permissions=["operate"])
    def mark_delivered(self, request, queryset):
        run_each(
            self,
            request,
            queryset.select_related("order"),
            lambda f: services.mark_delivered(fulfilment=f, actor=staff_actor(request)),
            label=lambda f: f"Fulfilment {f.pk}",
            done="Fulfilments marked delivered",
        )


@admin.register(FulfilmentLine)
class FulfilmentLineAdmin(ReadOnlyAdmin):
    list_display = ("fulfilment", "order_line", "quantity")
    list_select_related = ("fulfilment", "order_line")
    search_fields = ("=order_line__sku", "=fulfilment__order__number")


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = ("order_line", "quantity", "reason", "disposition")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line")


@admin.register(ReturnRequest)
class ReturnRequestAdmin(ReadOnlyAdmin):
    list_display = ("number", "order", "status", "refund_to", "refund", "created_at", "closed_at")
    list_select_related = ("order",)
    list_filter = ("status", "refund_to", "created_at")
    search_fields = ("=number", "=order__number", "lines__order_line__sku")
    inlines = [ReturnLineInline]
    actions = ["approve", "reject"]

    @admin.display(description="refund", ordering="refund_amount")
    def refund(self, obj):
        return money(obj.refund_amount, obj.order.currency)

    def _decide(self, request, queryset, approve: bool):
        run_each(
            self,
            request,
            queryset.select_related("order"),
            lambda r: services.decide_return(rma=r, approve=approve, actor=staff_actor(request)),
            label=lambda r: r.number,
            done="Approved return(s)" if approve else "Rejected return(s)",
        )

    @admin.action(description="Approve (the shopper may send the parcel)", permissions=["operate"])
    def approve(self, request, queryset):
        self._decide(request, queryset, True)

    @admin.action(description="Reject", permissions=["operate"])
    def reject(self, request, queryset):
        self._decide(request, queryset, False)


@admin.register(ReturnLine)
class ReturnLineAdmin(ReadOnlyAdmin):
    list_display = ("request", "order_line", "quantity", "reason", "disposition")
    list_select_related = ("request", "order_line")
    search_fields = ("=request__number", "=order_line__sku")


class ResolvedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() in ("open", "resolved"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


@admin.register(OrderException)
class OrderExceptionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "order", "order_status", "reason", "resolution", "created_at", "resolved_at")
    list_select_related = ("order",)
    list_filter = (ResolvedFilter, "reason", "order__channel", "created_at")
    search_fields = ("=order__number", "order__lines__sku")
    actions = ["backorder", "cancel_unavailable", "acknowledge"]

    @admin.display(description="order status", ordering="order__status")
    def order_status(self, obj):
        return obj.order.get_status_display()

    def _resolve(self, request, queryset, action: str, done: str):
        run_each(
            self,
            request,
            queryset.select_related("order", "order__channel"),
            lambda item: services.resolve_exception(item=item, action=action, actor=staff_actor(request)),
            label=lambda item: f"{item.order.number} (exception {item.pk})",
            done=done,
        )

    @admin.action(description="Backorder (wait for stock, first in first out)", permissions=["operate"])
    def backorder(self, request, queryset):
        self._resolve(request, queryset, "backorder", "Backordered")

    @admin.action(description="Cancel the missing units and refund them", permissions=["operate"])
    def cancel_unavailable(self, request, queryset):
        self._resolve(request, queryset, "cancel_unavailable", "Missing units cancelled")

    @admin.action(description="Acknowledge (followed up outside)", permissions=["operate"])
    def acknowledge(self, request, queryset):
        self._resolve(request, queryset, "acknowledge", "Acknowledged")


@admin.register(OrderAllocation)
class OrderAllocationAdmin(ReadOnlyAdmin):
    list_display = ("order", "allocation", "is_active")
    list_select_related = ("order", "allocation")
    list_filter = ("is_active",)
    search_fields = ("=order__number",)


# --- carts and configuration (written through the API, which validates them) ---------------------


class CartLineInline(ReadOnlyInline):
    model = CartLine
    fields = ("variant", "quantity")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("variant")


@admin.register(Cart)
class CartAdmin(ReadOnlyAdmin):
    list_display = ("pk", "channel", "customer", "email", "status", "created_at", "updated_at")
    list_select_related = ("channel", "customer")
    list_filter = ("channel", "status", "updated_at")
    search_fields = ("email", "customer__email", "lines__variant__sku")
    exclude = ("token",)  # a guest holds the cart by this token
    inlines = [CartLineInline]


@admin.register(CartLine)
class CartLineAdmin(ReadOnlyAdmin):
    list_display = ("cart", "variant", "quantity")
    list_select_related = ("cart", "variant")
    search_fields = ("=variant__sku",)


@admin.register(ShippingMethod)
class ShippingMethodAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "channel", "kind", "price_display", "free_over", "is_active")
    list_select_related = ("channel",)
    list_filter = ("channel", "kind", "is_active")
    search_fields = ("code", "name")

    @admin.display(description="price", ordering="price")
    def price_display(self, obj):
        return money(obj.price, obj.channel.currency)


@admin.register(TaxRate)
class TaxRateAdmin(ReadOnlyAdmin):
    list_display = ("channel", "country", "rate")
    list_select_related = ("channel",)
    list_filter = ("channel",)
    search_fields = ("country",)
