"""Buying: the cart, one-page checkout, one-click buy, the order confirmation and the tracking page."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from omnishop.catalog.models import ChannelListing, Variant
from omnishop.core.errors import DomainError
from omnishop.orders import services as orders
from omnishop.orders.errors import CartNotFound
from omnishop.orders.models import Order
from omnishop.orders.pricing import MAX_LINE_QUANTITY
from omnishop.orders.services.common import address_from_book, postcode_problem
from omnishop.payments import services as payments
from omnishop.payments.errors import PaymentDeclined
from omnishop.recommendations import services as recs
from omnishop.recommendations.services import serving
from omnishop.shipping import services as shipping

from .catalog import cards_for, count_impressions, top_categories, tracked, visitor_id
from .common import CART_SESSION_KEY, image_url, money, refusal, shopper, status_text, web_channel

PAYMENT_CHOICES = {
    "test_card": gettext_lazy("Debit or credit card"),
    "manual": gettext_lazy("Bank transfer"),
    "store_credit": gettext_lazy("Store credit"),
}
COUNTRIES = [
    ("GB", gettext_lazy("United Kingdom")),
    ("IE", gettext_lazy("Ireland")),
    ("DE", gettext_lazy("Germany")),
    ("FR", gettext_lazy("France")),
    ("US", gettext_lazy("United States")),
    ("CN", gettext_lazy("China")),
]


# --- the session's cart -----------------------------------------------------------------------------------


def session_cart(request: HttpRequest, *, create: bool = False):
    """The cart this browser holds (by its token in the session), once per request. A signed-in
    shopper's guest cart becomes theirs and absorbs their other open carts; a shopper without a session
    cart gets their own latest open cart back (e.g. on another device)."""
    cached = getattr(request, "_shop_cart", None)
    if cached is not None or (not create and hasattr(request, "_shop_cart")):
        return cached
    channel = web_channel()
    customer = shopper(request)
    cart = None
    token = request.session.get(CART_SESSION_KEY)
    if token:
        try:
            cart = orders.get_cart(token, channel=channel)
        except CartNotFound:
            cart = None
        if cart is not None and cart.status != cart.Status.OPEN:
            cart = None
    if cart is not None and customer is not None and cart.customer_id != customer.pk:
        cart = orders.adopt_cart(cart=cart, customer=customer)
        if cart.customer_id != customer.pk:  # someone else's cart: not this browser's any more
            cart = None
    if cart is None and customer is not None:
        cart = orders.open_cart_of(channel=channel, customer=customer)
    if cart is None and create:
        cart = orders.create_cart(
            channel=channel, customer=customer, email=customer.email if customer else ""
        )
    if cart is not None and request.session.get(CART_SESSION_KEY) != cart.token:
        request.session[CART_SESSION_KEY] = cart.token  # written only on change: no session save per view
    elif cart is None and token:
        request.session.pop(CART_SESSION_KEY, None)
    request._shop_cart = cart
    return cart


def forget_session_cart(request: HttpRequest) -> None:
    request.session.pop(CART_SESSION_KEY, None)
    request._shop_cart = None


def cart_count(request: HttpRequest) -> int:
    token = request.session.get(CART_SESSION_KEY)
    if not token and not request.user.is_authenticated:
        return 0
    cart = session_cart(request)
    return sum(line.quantity for line in cart.lines.all()) if cart else 0


PROBLEMS = {
    "unlisted": gettext_lazy("No longer sold here: remove it to check out."),
    "sold_out": gettext_lazy("Sold out: remove it, or come back when it is in stock."),
}


def cart_lines(cart) -> list[dict]:
    """The cart's lines as the page shows them (orders.review_cart decides what can still be bought)."""
    currency = cart.channel.currency
    out = []
    for line in orders.review_cart(cart=cart):
        if line.problem == "short":
            problem = _("Only %(count)d left: lower the quantity to check out.") % {"count": line.available}
        else:
            problem = str(PROBLEMS.get(line.problem, ""))
        priced = line.unit_price is not None
        out.append(
            {
                "sku": line.sku,
                "title": line.title,
                "variant": line.variant_title,
                "url": reverse("shop:product", args=[line.product_slug]),
                "image_src": image_url(None, key=line.product_slug),
                "quantity": line.quantity,
                "unit_price": money(line.unit_price, currency) if priced else "",
                "line_total": money(line.unit_price * line.quantity, currency) if priced else "",
                "available": line.available,
                "problem": problem,
                "product_id": line.product_id,
            }
        )
    return out


def _quote(cart):
    try:
        return orders.cart_quote(cart=cart), ""
    except DomainError as refused:
        return None, refusal(refused)


def _totals(quote, currency: str) -> dict:
    if quote is None:
        return {}
    return {
        "subtotal": money(quote.subtotal, currency),
        "shipping": money(quote.shipping_total, currency),
        "tax": money(quote.tax_total, currency),
        "total": money(quote.total, currency),
        "includes_tax": quote.prices_include_tax,
    }


# --- cart pages -------------------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET"])
def cart_page(request: HttpRequest) -> HttpResponse:
    cart = session_cart(request)
    channel = web_channel()
    lines = cart_lines(cart) if cart else []
    quote, problem = _quote(cart) if cart and lines else (None, "")
    cheapest = next(
        iter(orders.offered_shipping_methods(channel=channel, country=channel.country or None)), None
    )
    picks = []
    if lines:
        picks = tracked(
            cards_for(
                channel,
                [
                    r.product_id
                    for r in serving.for_cart(
                        channel=channel,
                        product_ids=[x["product_id"] for x in lines],
                        customer=shopper(request),
                        limit=4,
                    )
                ],
            ),
            "cart.complements",
        )
        count_impressions(request, channel, {"cart.complements": picks})
    return render(
        request,
        "storefront/cart.html",
        {
            "channel": channel,
            "lines": lines,
            "totals": _totals(quote, channel.currency),
            "problem": problem,
            "blocked": any(x["problem"] for x in lines),
            "estimate": {"name": cheapest.name, "price": money(cheapest.price, channel.currency)}
            if cheapest
            else None,
            "picks": picks,
            "max_quantity": MAX_LINE_QUANTITY,
            "categories": top_categories(channel),
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _quantity(raw: str | None, *, default: int = 1) -> int | None:
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        return None
    return value if 0 <= value <= MAX_LINE_QUANTITY else None


@require_POST
def add_to_cart(request: HttpRequest) -> HttpResponse:
    sku = request.POST.get("sku", "")[:64]
    quantity = _quantity(request.POST.get("quantity"))
    back = request.POST.get("next") or reverse("shop:cart")
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("shop:cart")
    if not quantity:
        return _refuse(
            request, back, _("Choose a quantity from 1 to %(max)d.") % {"max": MAX_LINE_QUANTITY}, "quantity"
        )
    cart = session_cart(request, create=True)
    held = cart.lines.filter(variant__sku=sku).values_list("quantity", flat=True).first() or 0
    try:
        orders.set_line(cart=cart, sku=sku, quantity=min(held + quantity, MAX_LINE_QUANTITY))
    except DomainError as refused:
        return _refuse(request, back, refusal(refused), refused.field)
    count = sum(line.quantity for line in cart.lines.all())
    if _wants_json(request):
        return JsonResponse({"count": count, "message": _("Added to your cart.")})
    messages.success(request, _("Added to your cart."))
    return redirect(reverse("shop:cart"))


def _refuse(request: HttpRequest, back: str, message: str, field: str | None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": {"message": message, "field": field}}, status=422)
    messages.error(request, message)
    return redirect(back)


@require_POST
def update_cart(request: HttpRequest) -> HttpResponse:
    cart = session_cart(request)
    if cart is None:
        return redirect(reverse("shop:cart"))
    sku = request.POST.get("sku", "")[:64]
    quantity = 0 if "remove" in request.POST else _quantity(request.POST.get("quantity"), default=0)
    if quantity is None:
        messages.error(request, _("Choose a quantity from 0 to %(max)d.") % {"max": MAX_LINE_QUANTITY})
        return redirect(reverse("shop:cart"))
    try:
        orders.set_line(cart=cart, sku=sku, quantity=quantity)
    except DomainError as refused:
        messages.error(request, refusal(refused))
    else:
        messages.success(
            request, _("Removed from your cart.") if quantity == 0 else _("Your cart is updated.")
        )
    return redirect(reverse("shop:cart"))


# --- checkout ---------------------------------------------------------------------------------------------


def _initial(request: HttpRequest, cart) -> dict:
    customer = shopper(request)
    values = {"email": cart.email or (customer.email if customer else ""), "country": "GB"}
    address = cart.shipping_address
    if not address and customer is not None:
        from omnishop.customers.models import Address

        book = Address.objects.filter(customer=customer).order_by("-is_default_shipping", "pk").first()
        address = address_from_book(book) if book else None
    if address:
        values.update({k: address.get(k, "") for k in ("name", "line1", "city", "postcode", "country")})
    if cart.shipping_method_id:
        values["shipping_method"] = cart.shipping_method.code
    return values


ADDRESS_FIELDS = ("name", "line1", "city", "postcode", "country")


def address_errors(data: dict) -> dict[str, str]:
    """The delivery-address fields' errors, by field (checkout, the address book, an order's address)."""
    errors = {}
    required = (
        ("name", _("Enter your full name.")),
        ("line1", _("Enter the street address.")),
        ("city", _("Enter the city.")),
    )
    for name, message in required:
        if not data.get(name, "").strip():
            errors[name] = message
    country = data.get("country", "")
    if country not in dict(COUNTRIES):
        errors["country"] = _("Choose a country we deliver to.")
        return errors
    problem = postcode_problem(country, data.get("postcode", ""))
    if problem == "missing":
        errors["postcode"] = _("Enter the postal code.")
    elif problem == "format":
        errors["postcode"] = _("This is not a valid postal code for %(country)s.") % {
            "country": dict(COUNTRIES)[country]
        }
    return errors


def _validate(data: dict) -> dict[str, str]:
    errors = {}
    email = data.get("email", "").strip()
    if not email or "@" not in email or len(email) > 254:
        errors["email"] = _("Enter the e-mail address for your receipt.")
    errors.update(address_errors(data))
    if data.get("payment") not in PAYMENT_CHOICES:
        errors["payment"] = _("Choose how to pay.")
    elif data["payment"] == "test_card":
        digits = data.get("card_number", "").replace(" ", "")
        if not (len(digits) == 16 and digits.isdigit()):
            errors["card_number"] = _("Enter the 16 digits of the card number.")
    if not data.get("shipping_method"):
        errors["shipping_method"] = _("Choose a delivery method.")
    return errors


FIELD_OF = {
    "payment.token": "card_number",
    "payment": "payment",
    "shipping_method": "shipping_method",
    "email": "email",
    "shipping_address.name": "name",
    "shipping_address.line1": "line1",
    "shipping_address.city": "city",
    "shipping_address.postcode": "postcode",
    "shipping_address.country": "country",
}


@never_cache
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    channel = web_channel()
    cart = session_cart(request)
    if cart is None or not cart.lines.exists():
        messages.info(request, _("Your cart is empty."))
        return redirect(reverse("shop:cart"))
    customer = shopper(request)
    errors: dict[str, str] = {}
    notice = ""
    if request.method == "POST":
        data = {
            k: request.POST.get(k, "").strip()[:254]
            for k in (
                "email",
                "name",
                "line1",
                "city",
                "postcode",
                "country",
                "shipping_method",
                "payment",
                "card_number",
                "save",
            )
        }
        if data["payment"] == "store_credit" and customer is None:
            errors["payment"] = _("Sign in to pay with store credit.")
        errors = errors or _validate(data)
        if not errors:
            placed = _place(request, cart, data)
            if isinstance(placed, Order):
                return redirect(reverse("shop:order_placed", args=[placed.tracking_token]))
            field, notice = placed
            if field:
                errors[field] = notice
                notice = notice if field not in data else ""
        values = data
    else:
        values = _initial(request, cart)
    country = values.get("country") or "GB"
    methods = orders.offered_shipping_methods(channel=channel, country=country)
    if not values.get("shipping_method") and methods:
        values["shipping_method"] = methods[0].code
    if request.method == "GET" and not cart.shipping_method_id and methods:
        # The summary shows a real total: the cheapest method until the shopper picks another.
        orders.set_checkout_details(cart=cart, shipping_method=methods[0].code)
    lines = cart_lines(cart)
    quote, problem = _quote(cart)
    return render(
        request,
        "storefront/checkout.html",
        {
            "channel": channel,
            "values": values,
            "errors": errors,
            "notice": notice or problem,
            "lines": lines,
            "totals": _totals(quote, channel.currency),
            "methods": [
                {"code": m.code, "name": m.name, "price": money(m.price, channel.currency)} for m in methods
            ],
            "signed_in": customer is not None,
            "payments": [
                (code, label) for code, label in PAYMENT_CHOICES.items() if code != "store_credit" or customer
            ],
            "countries": COUNTRIES,
            "categories": top_categories(channel),
        },
        status=422 if errors or notice else 200,
    )


def _place(request: HttpRequest, cart, data: dict):
    """Save the details on the cart and check it out; an Order, or (field, message) for the page."""
    address = {k: data[k] for k in ("name", "line1", "city", "postcode", "country")}
    provider = data["payment"]
    token = (
        data["card_number"] if provider == "test_card" else ("bank transfer" if provider == "manual" else "")
    )
    try:
        orders.set_checkout_details(
            cart=cart, shipping_address=address, shipping_method=data["shipping_method"], email=data["email"]
        )
        # The order's lines are attributed to recommendations this browser followed (recs.shopping_as).
        with recs.shopping_as(visitor_id(request)):
            order = orders.checkout_cart(
                cart=cart,
                payment=orders.PaymentRequest(provider=provider, token=token),
                key=f"web:{cart.token}",
                actor=f"shopper:{request.user.pk}" if request.user.is_authenticated else "guest:web",
            )
    except DomainError as refused:
        field = FIELD_OF.get(refused.field or "")
        message = refusal(refused)
        if isinstance(refused, PaymentDeclined):
            field = "card_number" if data["payment"] == "test_card" else "payment"
            if refused.code == "payment_declined":
                message = _("Your card was declined. Check the number or use another card.")
        return field, message
    customer = shopper(request)
    if customer is not None and data.get("save") == "1":
        _remember_for_one_click(customer, address, provider, token)
    forget_session_cart(request)
    request.session.setdefault("shop_orders", [])
    request.session["shop_orders"] = ([order.tracking_token] + request.session["shop_orders"])[:20]
    transaction.on_commit(lambda: send_confirmation(order))
    return order


def _remember_for_one_click(customer, address: dict, provider: str, token: str) -> None:
    """The shopper asked to save this checkout's address and card: the next "Buy now" needs one click."""
    from omnishop.customers.addresses import add_address
    from omnishop.customers.models import Address

    if not Address.objects.filter(
        customer=customer, line1=address["line1"], postcode=address["postcode"]
    ).exists():
        add_address(customer=customer, is_default_shipping=True, **address)
    if provider == "test_card":
        digits = token.replace(" ", "")
        payments.save_payment_method(
            customer=customer, provider=provider, token=digits, label=f"card •••• {digits[-4:]}"
        )


def send_confirmation(order: Order) -> None:
    """The order confirmation e-mail (Django's e-mail backend: a file in var/mail in the demo)."""
    if not order.email:
        return
    context = order_context(order)
    body = render_to_string("storefront/email/confirmation.txt", context)
    send_mail(
        _("Your order %(number)s") % {"number": order.number}, body, None, [order.email], fail_silently=True
    )


# --- one-click buy ----------------------------------------------------------------------------------------


@require_POST
def buy_now(request: HttpRequest) -> HttpResponse:
    """'Buy now': a signed-in shopper confirms once and the order is placed with their saved address and
    payment method (the API's quick checkout); a guest goes through checkout with just this item."""
    sku = request.POST.get("sku", "")[:64]
    quantity = _quantity(request.POST.get("quantity")) or 1
    customer = shopper(request)
    variant = Variant.objects.select_related("product").filter(sku=sku).first()
    if variant is None:
        raise Http404("No such item.")
    back = reverse("shop:product", args=[variant.product.slug])
    if customer is None or not _one_click_ready(customer):
        cart = session_cart(request, create=True)
        try:
            orders.set_line(cart=cart, sku=sku, quantity=quantity)
        except DomainError as refused:
            return _refuse(request, back, refusal(refused), refused.field)
        if customer is not None:
            messages.info(request, _("Save an address and a card once to buy in one click next time."))
        return redirect(reverse("shop:checkout"))
    channel = web_channel()
    if request.POST.get("confirm") == "1":
        key = request.POST.get("key", "")[:64] or secrets.token_hex(16)
        try:
            with recs.shopping_as(visitor_id(request)):
                order = orders.quick_checkout(
                    channel=channel,
                    customer=customer,
                    sku=sku,
                    quantity=quantity,
                    key=key,
                    actor=f"shopper:{request.user.pk}",
                )
        except DomainError as refused:
            messages.error(request, refusal(refused))
            return redirect(back)
        transaction.on_commit(lambda: send_confirmation(order))
        return redirect(reverse("shop:order_placed", args=[order.tracking_token]))
    listing = ChannelListing.objects.filter(channel=channel, variant=variant, is_published=True).first()
    if listing is None:
        return _refuse(request, back, _("This item is not sold here any more."), "sku")
    from omnishop.customers.models import Address

    address = Address.objects.filter(customer=customer, is_default_shipping=True).first()
    saved = payments.default_payment_method(customer=customer)
    method = next(
        (
            m
            for m in orders.offered_shipping_methods(
                channel=channel, country=address.country if address else None
            )
            if m.kind != m.Kind.PICKUP
        ),
        None,
    )
    return render(
        request,
        "storefront/buy_now.html",
        {
            "channel": channel,
            "variant": variant,
            "title": listing.title or variant.product.title,
            "quantity": quantity,
            "price": money(listing.price * quantity, channel.currency),
            "address": address,
            "payment": saved,
            "method": {"name": method.name, "price": money(method.price, channel.currency)}
            if method
            else None,
            "key": secrets.token_hex(16),
            "categories": top_categories(channel),
        },
    )


def _one_click_ready(customer) -> bool:
    from omnishop.customers.models import Address

    return (
        Address.objects.filter(customer=customer, is_default_shipping=True).exists()
        and payments.default_payment_method(customer=customer) is not None
    )


# --- after the order --------------------------------------------------------------------------------------


def order_context(order: Order) -> dict:
    currency = order.currency
    return {
        "order": order,
        "status_text": status_text(order.status),
        "lines": [
            {
                "title": line.title,
                "sku": line.sku,
                "quantity": line.quantity,
                "total": money(line.line_total, currency),
            }
            for line in order.lines.all()
        ],
        "totals": {
            "subtotal": money(order.subtotal, currency),
            "shipping": money(order.shipping_total, currency),
            "tax": money(order.tax_total, currency),
            "total": money(order.total, currency),
        },
    }


@never_cache
@require_http_methods(["GET"])
def order_placed(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation page, also the public tracking page: the link's token is the only credential, and
    the page shows no address or contact detail."""
    try:
        tracking = shipping.tracking_view(token=token)
    except DomainError:
        raise Http404("No such order.") from None
    order = Order.objects.filter(number=tracking["order"]).first()
    if order is None:
        raise Http404("No such order.")
    just_placed = token in request.session.get("shop_orders", [])[:1]
    channel = web_channel()
    response = render(
        request,
        "storefront/order.html",
        {
            **order_context(order),
            "channel": channel,
            "tracking": tracking,
            "just_placed": just_placed,
            "categories": top_categories(channel),
        },
    )
    response["Referrer-Policy"] = "no-referrer"  # the token must not leak to other sites
    response["X-Robots-Tag"] = "noindex"
    return response
