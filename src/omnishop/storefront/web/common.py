"""What every shop page needs: the web channel, the shopper, money and image display, HTTP caching."""

from __future__ import annotations

import hashlib
import re
import zlib
from decimal import Decimal
from functools import lru_cache, wraps
from urllib.parse import urlsplit

from babel.numbers import get_currency_symbol
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.http import quote_etag
from django.utils.translation import gettext_lazy
from django.views.decorators.vary import vary_on_cookie

from omnishop.channels.models import Channel
from omnishop.core import http_cache
from omnishop.core.dbrouting import reads_from_replica
from omnishop.core.money import minor_units

CART_SESSION_KEY = "shop_cart"
# The Babel (Unicode CLDR) locale whose currency symbols each shop language uses: in English ¥ is the yen and
# the yuan CN¥, in Chinese ¥ is the yuan and the yen JP¥ (and the dollar US$).
BABEL_LOCALES = {"en": "en", "zh-hans": "zh_Hans_CN"}


def web_channel() -> Channel:
    """The channel these pages sell in (settings.OMNISHOP_WEB_CHANNEL, `web` by default)."""
    return Channel.objects.get(code=settings.OMNISHOP_WEB_CHANNEL, is_active=True)


def catalogue_reads(view):
    """The page's catalogue reads may go to a read replica (ADR 0030: a page a moment old is fine; without
    `DATABASE_REPLICA_URL` everything reads the primary). The visitor's session, user and customer are read
    first, from the primary: a session written by a GET (a visitor id) does not make the client sticky, so a
    replica could still hold the old one. A write the page makes (impressions, a click, a search logged)
    goes to the primary and keeps the rest of its request there."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        shopper(request)
        with reads_from_replica():
            return view(request, *args, **kwargs)

    return wrapped


def shopper(request: HttpRequest):
    """The signed-in shopper's customer record, or None for a guest (staff shop as customers too)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(request, "_shop_customer", None)
    if cached is None:
        from omnishop.customers.services import customer_for_user

        cached = request._shop_customer = customer_for_user(user=user)
    return cached


def money(amount, currency: str, language: str | None = None) -> str:
    """An amount for display in the active (or given) language: the currency's CLDR symbol for that language
    and its minor units, e.g. £1,234.50, ¥88.00 (yuan, in Chinese), -£5.00; a currency without a symbol by
    its code (12.50 CHF; in Chinese CHF 12.50). Both languages group thousands with "," and use "." for the
    decimals (CLDR; Django's own zh_Hans number format, without grouping, is not what Chinese shops show)."""
    if amount is None or amount == "":
        return ""
    language = (language or translation.get_language() or settings.LANGUAGE_CODE).lower()
    value = Decimal(str(amount)).quantize(Decimal(1).scaleb(-minor_units(currency)))
    sign = "-" if value < 0 else ""
    text = f"{abs(value):,}"
    symbol = _symbol(currency, BABEL_LOCALES.get(language, "en"))
    if symbol != currency:
        return f"{sign}{symbol}{text}"
    return f"{sign}{currency} {text}" if language.startswith("zh") else f"{sign}{text} {currency}"


@lru_cache(maxsize=256)
def _symbol(currency: str, locale: str) -> str:
    return get_currency_symbol(currency, locale=locale)


# The shopper's words for an order's status (the model's labels are the back-office's, in English).
STATUS_TEXT = {
    "pending_payment": gettext_lazy("Waiting for payment"),
    "paid": gettext_lazy("Paid, to be shipped"),
    "on_hold": gettext_lazy("In the exception queue"),
    "partially_fulfilled": gettext_lazy("Partly shipped"),
    "fulfilled": gettext_lazy("Shipped"),
    "delivered": gettext_lazy("Delivered"),
    "completed": gettext_lazy("Completed"),
    "partially_returned": gettext_lazy("Partly returned"),
    "returned": gettext_lazy("Returned"),
    "cancelled": gettext_lazy("Cancelled"),
    "merged": gettext_lazy("Merged into another order"),
}


def status_text(status: str) -> str:
    if status in STATUS_TEXT:
        return str(STATUS_TEXT[status])
    try:
        from omnishop.orders.models import Order

        return str(Order.Status(status).label)
    except ValueError:
        return status.replace("_", " ").capitalize()


# What the services refuse, in the shopper's words, by error code. The services' messages are English (the
# API's contract); in another language the shop shows these instead, and the service's message for a code
# not listed here.
REFUSALS = {
    "insufficient_stock": gettext_lazy("Not enough stock for the quantity you chose."),
    "variant_unavailable": gettext_lazy("This item is not sold here."),
    "unknown_sku": gettext_lazy("This item is not sold here."),
    "quantity_too_large": gettext_lazy("That is more than can be bought at once."),
    "empty_cart": gettext_lazy("Your cart is empty."),
    "cart_closed": gettext_lazy("This cart was already checked out."),
    "checkout_in_progress": gettext_lazy("Your order is being placed; try again in a moment."),
    "shipping_method_unavailable": gettext_lazy("This delivery method is not available for the address."),
    "payment_declined": gettext_lazy("The payment was declined."),
    "insufficient_funds": gettext_lazy("The card or balance does not cover the amount."),
    "invalid_transition": gettext_lazy("This order can no longer be changed."),
    "quick_checkout_unavailable": gettext_lazy("One-click buying is not available; check out instead."),
}


def refusal(refused) -> str:
    """A service's refusal (DomainError) as the shop shows it: its own message in English, else ours."""
    language = (translation.get_language() or settings.LANGUAGE_CODE).lower()
    if language.startswith("en") or refused.code not in REFUSALS:
        return refused.message
    return str(REFUSALS[refused.code])


def image_url(url: str | None, *, key: str) -> str:
    """The image to show: a project-served URL or an allowed host's, else our own placeholder.

    The shop never makes the browser fetch from hosts the merchant has not allowed
    (settings.OMNISHOP_IMAGE_HOSTS, also the Content-Security-Policy's img-src): the demo's catalogue points
    at images on the internet, which a machine without it (and a strict policy) must not depend on.
    """
    if url:
        if url.startswith("/") and not url.startswith("//"):
            return url
        host = urlsplit(url).hostname or ""
        if host in settings.OMNISHOP_IMAGE_HOSTS:
            return url
    return f"/img/placeholder/{zlib.crc32(key.encode()) % 360}.svg"


_CSRF_VALUE = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def cacheable(*, public: bool = True):
    """Catalogue pages: an ETag of the body, `304` on a matching conditional GET, and for anonymous
    visitors `Cache-Control: public` with stale-while-revalidate (OMNISHOP_HTTP_CACHE_MAX_AGE, …) so a CDN
    or proxy in front serves the rush.

    A shopper with a session (signed in, or holding a cart) gets the same validators but `private`: their
    page shows their cart. So does every page with a form (`public=False`): its CSRF token belongs to one
    browser. The token (masked afresh on every render) is left out of the ETag, so a revalidation still
    answers 304 and the browser keeps its own copy, whose token still matches its cookie. Pages with
    personal data never use this decorator. Unlike the storefront API (storefront/caching.py), a page's
    tag is of its body: what it shows also depends on the search index, the recommenders, the language and
    the visitor, which no cheap catalogue version covers (ADR 0024).
    """

    def decorate(view):
        @wraps(view)
        @vary_on_cookie
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            response = view(request, *args, **kwargs)
            if request.method not in ("GET", "HEAD") or response.status_code != 200 or response.streaming:
                return response
            body = _CSRF_VALUE.sub(b"", response.content)
            tag = quote_etag(hashlib.blake2b(body, digest_size=12).hexdigest())
            response["ETag"] = tag
            personal = request.user.is_authenticated or CART_SESSION_KEY in request.session
            response["Cache-Control"] = http_cache.cache_control(public=public and not personal)
            if http_cache.etag_matches(tag, request.headers.get("If-None-Match", "")):
                not_modified = HttpResponse(status=304)
                for header in ("ETag", "Cache-Control", "Vary"):
                    if header in response:
                        not_modified[header] = response[header]
                return not_modified
            return response

        return wrapped

    return decorate


def shop(request: HttpRequest) -> dict:
    """Template context of every page: the cart's item count, computed only when a template asks."""

    def count() -> int:
        from .shopping import cart_count

        try:
            return cart_count(request)
        except Channel.DoesNotExist:
            return 0

    return {"shop_cart_count": count}
