"""The shopper's account: orders from every channel (the unified customer), each with its timeline,
tracking, cancellation while allowed; and the contact form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from omnishop.auth import client_address
from omnishop.core.errors import DomainError, RateLimited
from omnishop.orders import services as orders
from omnishop.orders.models import Order
from omnishop.orders.services.changes import CANCELLABLE
from omnishop.orders.services.returns import RETURNABLE
from omnishop.support.services import contact as support_contact

from .catalog import top_categories
from .common import money, refusal, shopper, status_text, web_channel
from .shopping import ADDRESS_FIELDS, COUNTRIES, address_errors, order_context


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    customer = shopper(request)
    found = orders.orders_for_customer(customer=customer)
    channel = web_channel()
    for row in found:
        row["total_text"] = money(row["total"], row["currency"])
        row["status_text"] = status_text(row["status"])
        row["url"] = reverse("shop:account_order", args=[row["number"]])
    return render(
        request,
        "storefront/account.html",
        {"channel": channel, "customer": customer, "orders": found, "categories": top_categories(channel)},
    )


def _own_order(request: HttpRequest, number: str) -> Order:
    customer = shopper(request)
    order = Order.objects.select_related("channel").filter(number=number, customer=customer).first()
    if order is None:
        raise Http404("No such order in your account.")
    return order


@never_cache
@login_required
def account_order(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    channel = web_channel()
    events = [
        {"when": e.created_at, "what": e.message or e.kind.replace("_", " ").capitalize()}
        for e in order.events.order_by("created_at", "pk")
    ]
    return render(
        request,
        "storefront/account_order.html",
        {
            **order_context(order),
            "channel": channel,
            "status_text": status_text(order.status),
            "events": events,
            "can_cancel": order.status in CANCELLABLE,
            "can_change_address": order.status in CANCELLABLE
            and not order.fulfilments.filter(status__in=["shipped", "delivered"]).exists(),
            "returnable": [
                {"id": line.pk, "title": line.title, "quantity": line.fulfilled - line.returned}
                for line in order.lines.all()
                if line.fulfilled > line.returned
            ]
            if order.status in RETURNABLE
            else [],
            "countries": COUNTRIES,
            "address": order.shipping_address or {},
            "categories": top_categories(channel),
        },
    )


@login_required
@require_POST
def cancel_order(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    try:
        orders.cancel_order(
            order=order, actor=f"shopper:{request.user.pk}", reason="cancelled by the shopper"
        )
    except DomainError as refused:
        messages.error(request, refusal(refused))
    else:
        messages.success(
            request, _("Order %(number)s is cancelled; any payment is refunded.") % {"number": order.number}
        )
    return redirect(reverse("shop:account_order", args=[number]))


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest) -> HttpResponse:
    """A message for customer service: kept as a ContactMessage and, in the same transaction, a conversation
    on the support desk's contact-form inbox. Submissions are rate-limited per client address."""
    channel = web_channel()
    values = {"email": "", "name": "", "order_number": "", "message": ""}
    errors: dict[str, str] = {}
    customer = shopper(request)
    if customer is not None:
        values["email"] = customer.email
    if request.method == "POST":
        try:
            support_contact.check_rate(client=client_address(request))
        except RateLimited as limited:
            response = render(
                request,
                "storefront/contact.html",
                {
                    "channel": channel,
                    "values": values,
                    "errors": {},
                    "limited": _(
                        "You have sent several messages in a short time. Please try again in an hour."
                    ),
                    "categories": top_categories(channel),
                },
                status=429,
            )
            response["Retry-After"] = str(limited.details.get("retry_after", 3600))
            return response
        values = {k: request.POST.get(k, "").strip() for k in values}
        if not values["email"] or "@" not in values["email"] or len(values["email"]) > 254:
            errors["email"] = _("Enter an e-mail address we can answer.")
        if not values["message"]:
            errors["message"] = _("Write your message.")
        elif len(values["message"]) > 5000:
            errors["message"] = _("Keep the message under 5,000 characters.")
        if len(values["name"]) > 200:
            errors["name"] = _("Keep the name under 200 characters.")
        if len(values["order_number"]) > 40:
            errors["order_number"] = _("That is not an order number.")
        if not errors:
            support_contact.submit(channel=channel, customer=customer, **values)
            messages.success(request, _("Thank you — we will answer by e-mail within one working day."))
            return redirect(reverse("shop:contact"))
    return render(
        request,
        "storefront/contact.html",
        {"channel": channel, "values": values, "errors": errors, "categories": top_categories(channel)},
        status=422 if errors else 200,
    )


# --- address book and saved cards -------------------------------------------------------------------------


def _address_form(request: HttpRequest) -> tuple[dict, dict]:
    values = {k: request.POST.get(k, "").strip()[:200] for k in ADDRESS_FIELDS}
    return values, address_errors(values)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def addresses(request: HttpRequest) -> HttpResponse:
    """The address book (the default one is used by "Buy now") and the saved cards."""
    from omnishop.customers import addresses as book
    from omnishop.payments import services as payments
    from omnishop.payments.models import SavedPaymentMethod

    customer = shopper(request)
    values: dict = {"country": "GB"}
    errors: dict = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "add":
                values, errors = _address_form(request)
                if not errors:
                    book.add_address(
                        customer=customer, is_default_shipping=request.POST.get("default") == "1", **values
                    )
                    messages.success(request, "Address saved.")
            elif action in ("default", "remove"):
                address = book.get_address(
                    customer=customer, address_id=int(request.POST.get("id", "0") or 0)
                )
                if action == "default":
                    book.update_address(address=address, is_default_shipping=True)
                    messages.success(request, "Default delivery address changed.")
                else:
                    book.delete_address(address=address)
                    messages.success(request, "Address removed.")
            elif action == "remove_card":
                payments.remove_payment_method(
                    customer=customer, method_id=int(request.POST.get("id", "0") or 0)
                )
                messages.success(request, "Card removed.")
        except (DomainError, ValueError) as refused:
            messages.error(request, getattr(refused, "message", "That did not work."))
        if not errors:
            return redirect(reverse("shop:addresses"))
    channel = web_channel()
    return render(
        request,
        "storefront/addresses.html",
        {
            "channel": channel,
            "addresses": customer.addresses.order_by("-is_default_shipping", "pk"),
            "cards": SavedPaymentMethod.objects.filter(customer=customer).order_by("-is_default", "-pk"),
            "values": values,
            "errors": errors,
            "countries": COUNTRIES,
            "categories": top_categories(channel),
        },
        status=422 if errors else 200,
    )


# --- changing an order: delivery address, returns ---------------------------------------------------------


@login_required
@require_POST
def change_order_address(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    values, errors = _address_form(request)
    if errors:
        messages.error(request, next(iter(errors.values())))
    else:
        try:
            orders.change_address(order=order, address=values, actor=f"shopper:{request.user.pk}")
        except DomainError as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, "The delivery address is changed.")
    return redirect(reverse("shop:account_order", args=[number]))


@login_required
@require_POST
def request_return(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    lines = []
    reason = request.POST.get("reason", "").strip()[:200] or "no reason given"
    for line in order.lines.all():
        raw = request.POST.get(f"line_{line.pk}", "0")
        quantity = int(raw) if raw.isdigit() else 0
        if quantity:
            lines.append((line.pk, quantity, reason))
    try:
        rma = orders.request_return(order=order, lines=lines, actor=f"shopper:{request.user.pk}")
    except DomainError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Return {rma.number} is requested; we will e-mail the label.")
    return redirect(reverse("shop:account_order", args=[number]))
