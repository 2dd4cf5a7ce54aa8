"""Browsing pages: home, category, search (with facets and type-ahead), product, and the shop's plumbing
(robots.txt, sitemap.xml, placeholder images)."""

from __future__ import annotations

import json
import logging
import secrets
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import urlencode

import orjson
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from omnishop.catalog.models import Category, ChannelListing
from omnishop.core.errors import DomainError
from omnishop.recommendations import services as recs
from omnishop.recommendations.services import serving
from omnishop.search import services as search

from .. import services as storefront
from .common import cacheable, catalogue_reads, image_url, money, shopper, web_channel

PAGE_SIZE = 24
VISITOR_SESSION_KEY = "shop_visitor"
logger = logging.getLogger(__name__)


# --- product cards ---------------------------------------------------------------------------------------


def cards_for(channel, product_ids: list[int]) -> list[dict]:
    """Product cards ready for a template, in the order given (storefront.cards_for_products)."""
    return [decorate_card(c) for c in storefront.cards_for_products(channel=channel, product_ids=product_ids)]


def decorate_card(card: dict) -> dict:
    """Add what a template shows: the link, the image to load, the price text and the stock label."""
    currency = card["price"]["currency"]
    low, high = card["price"]["min"], card["price"]["max"]
    card["url"] = reverse("shop:product", args=[card["slug"]])
    card["image_src"] = image_url((card.get("image") or {}).get("url"), key=card["slug"])
    card["image_alt"] = (card.get("image") or {}).get("alt") or card["title"]
    card["price_text"] = (
        money(low, currency)
        if Decimal(str(low)) == Decimal(str(high))
        else (f"{money(low, currency)} – {money(high, currency)}")
    )
    compare = card.get("compare_at_price")
    card["compare_text"] = (
        money(compare, currency) if compare and Decimal(str(compare)) > Decimal(str(high)) else ""
    )
    availability = card.get("availability")
    card["in_stock"] = None if availability is None else availability["in_stock"]
    return card


def recommended(
    request: HttpRequest, channel, *, limit: int = 8, placement: str | None = None
) -> tuple[str, str, list[dict]]:
    """'Recommended for you' for a signed-in shopper, else what this visitor viewed or what is popular:
    (title, placement, tracked cards). The placement is the home page's unless one is given."""
    customer = shopper(request)
    if customer is not None:
        picks = serving.for_customer(channel=channel, customer=customer, limit=limit)
        title, where = _("Recommended for you"), "home.for_you"
    else:
        picks = serving.for_session(
            channel=channel, anonymous_id=request.session.session_key or "", limit=limit
        )
        title, where = _("Popular right now"), "home.popular"
    where = placement or where
    return title, where, tracked(cards_for(channel, [p.product_id for p in picks]), where)


# --- recommendation performance (docs/recommendations.md#performance) --------------------------------------


def tracked(cards: list[dict], placement: str) -> list[dict]:
    """Cards of recommended products whose links say where they were recommended (`?rec=<placement>`):
    following one counts a click when the product page is served, without JavaScript."""
    for card in cards:
        card["url"] = f"{card['url']}?{urlencode({'rec': placement})}"
    return cards


def visitor_id(request: HttpRequest, *, create: bool = False) -> str:
    """This browser's id for recommendation clicks and attribution: kept in the session, so it survives
    signing in (the session's key changes then, its data stays)."""
    found = request.session.get(VISITOR_SESSION_KEY, "")
    if not found and create:
        found = request.session[VISITOR_SESSION_KEY] = secrets.token_urlsafe(16)
    return found


def count_impressions(request: HttpRequest, channel, shown: dict[str, list[dict]]) -> None:
    """Count the recommended cards a page shows (one statement); robots are no audience. A failure to
    count is logged and never costs the shopper the page."""
    ids = {placement: [c["id"] for c in cards] for placement, cards in shown.items() if cards}
    if not ids or recs.is_robot(request.headers.get("User-Agent")):
        return
    try:
        recs.record_impressions(channel=channel, shown=ids)
    except DatabaseError:
        logger.exception("recommendation impressions not counted")


def count_click(request: HttpRequest, channel, product_id: int) -> None:
    """A product page reached by a tracked link (`?rec=`): the shopper followed a recommendation. Made-up
    placements and robots are ignored."""
    placement = recs.placement(request.GET.get("rec"))
    if placement is None or recs.is_robot(request.headers.get("User-Agent")):
        return
    try:
        recs.record_click(
            channel=channel,
            placement_name=placement,
            product_id=product_id,
            customer=shopper(request),
            anonymous_id=visitor_id(request, create=True),
        )
    except DatabaseError:
        logger.exception("recommendation click not counted")


def top_categories(channel) -> list[dict]:
    rows = Category.objects.filter(parent=None).order_by("position", "name").values_list("name", "path")[:12]
    return [{"name": name, "url": _category_url(path)} for name, path in rows]


def _category_url(path: str) -> str:
    """reverse("shop:category") for a path. Every page links up to twelve top categories, whose reverses cost
    about 0.2 ms of a product page's 3.8 (measured in process), so each URL is kept per language, script
    prefix and URLconf: the inputs that can change what reverse answers for the same path."""
    return _category_url_in(get_language(), get_script_prefix(), get_urlconf(), path)


@lru_cache(maxsize=4096)
def _category_url_in(language, prefix, urlconf, path: str) -> str:
    return reverse("shop:category", args=[path])


# --- pages ------------------------------------------------------------------------------------------------


@require_GET
@cacheable()
@catalogue_reads
def home(request: HttpRequest) -> HttpResponse:
    channel = web_channel()
    page = storefront.product_page(
        channel_code=channel.code, query=storefront.PageQuery(limit=8, ordering="-id")
    )
    title, placement, picks = recommended(request, channel)
    categories = top_categories(channel)
    count_impressions(request, channel, {placement: picks})  # written last: see catalogue_reads
    return render(
        request,
        "storefront/home.html",
        {
            "channel": channel,
            "featured": [decorate_card(c) for c in page["items"]],
            "picks_title": title,
            "picks": picks,
            "categories": categories,
        },
    )


@require_GET
@cacheable()
@catalogue_reads
def category(request: HttpRequest, path: str) -> HttpResponse:
    node = Category.objects.filter(path=path).first()
    if node is None:
        raise Http404("No such category.")
    return _results(request, category=node)


@require_GET
@cacheable()
@catalogue_reads
def search_page(request: HttpRequest) -> HttpResponse:
    return _results(request, category=None)


def _filters(request: HttpRequest, node) -> tuple[search.Filters, dict]:
    """The facet choices in the query string as search filters; a wrong value is ignored, not an error page."""
    params = request.GET
    chosen: dict = {}
    category_id = node.pk if node else None
    if not node and params.get("category"):
        picked = Category.objects.filter(path=params["category"]).first()
        if picked:
            category_id = picked.pk
            chosen["category"] = picked.path
    prices = {}
    for name in ("min_price", "max_price"):
        raw = params.get(name, "").strip()
        try:
            value = Decimal(raw) if raw else None
        except InvalidOperation:
            value = None
        if value is not None and value.is_finite() and 0 <= value < Decimal("1e9"):
            prices[name] = value
            chosen[name] = raw
    attributes = {}
    for key, value in params.items():
        if key.startswith("attr_") and value and len(key) < 60 and len(value) < 100:
            attributes[key.removeprefix("attr_")] = value
            chosen[key] = value
    in_stock = params.get("in_stock") == "1"
    if in_stock:
        chosen["in_stock"] = "1"
    return search.Filters(category_id=category_id, attributes=attributes, in_stock=in_stock, **prices), chosen


def _results(request: HttpRequest, *, category) -> HttpResponse:
    channel = web_channel()
    q = request.GET.get("q", "").strip()[: search.MAX_QUERY_CHARS]
    filters, chosen = _filters(request, category)
    sort = request.GET.get("sort", "relevance")
    sort = sort if sort in search.ORDERINGS else "relevance"
    cursor = request.GET.get("cursor") or None
    result = None
    error = ""
    if q or filters != search.Filters():
        try:
            result = search.search_products(
                channel=channel,
                query=q,
                filters=filters,
                limit=PAGE_SIZE,
                cursor=cursor,
                customer=shopper(request),
                anonymous_id=request.session.session_key or "",
                ordering=sort,
            )
        except DomainError as refused:
            error = refused.message
    ids = [item["product_id"] for item in result.items] if result else []
    items = cards_for(channel, ids)
    suggestions: list[dict] = []
    popular: list[dict] = []
    if result is not None and not items:
        popular = recommended(request, channel, placement="search.popular")[2]
        count_impressions(request, channel, {"search.popular": popular})
        if q:
            first = q.split()[0][:40]
            try:
                suggestions = search.suggest(channel=channel, query=first, limit=5) if first != q else []
            except DomainError:
                suggestions = []
    facets = result.facets if result else {}
    next_url = ""
    if result and result.next_cursor:
        query = request.GET.copy()
        query["cursor"] = result.next_cursor
        next_url = f"?{query.urlencode()}"
    return render(
        request,
        "storefront/results.html",
        {
            "channel": channel,
            "category": category,
            "q": q,
            "items": items,
            "total": result.total if result else 0,
            "facets": _facet_links(request, facets, chosen),
            "chosen": chosen,
            "sort": sort,
            "sorts": [
                ("relevance", _("Best match")),
                ("title", _("Name A–Z")),
                ("-title", _("Name Z–A")),
                ("newest", _("Newest")),
            ],
            "next_url": next_url,
            "error": error,
            "suggestions": suggestions,
            "corrected": (
                " ".join(result.corrections.get(w, [w])[0] for w in search.normalise(q).split())
                if result and result.corrections
                else ""
            ),
            "popular": popular,
            "searched": result is not None,
            "categories": top_categories(channel),
        },
    )


def _facet_links(request: HttpRequest, facets: dict, chosen: dict) -> list[dict]:
    """Each facet value as a link that adds (or, when chosen, removes) it from the current query."""
    groups = []

    def link(key: str, value: str) -> dict:
        query = request.GET.copy()
        query.pop("cursor", None)
        on = query.get(key) == value
        if on:
            query.pop(key)
        else:
            query[key] = value
        return {"url": f"?{query.urlencode()}", "on": on}

    if facets.get("category") and "category" not in chosen and not request.resolver_match.kwargs.get("path"):
        groups.append(
            {
                "name": _("Category"),
                "values": [
                    {"label": v["value"], "count": v["count"], **link("category", v["value"])}
                    for v in facets["category"]
                ],
            }
        )
    for code, values in (facets.get("attributes") or {}).items():
        groups.append(
            {
                "name": code.replace("_", " ").capitalize(),
                "values": [
                    {"label": v["value"], "count": v["count"], **link(f"attr_{code}", v["value"])}
                    for v in values[:12]
                ],
            }
        )
    price = facets.get("price") or {}
    if price.get("min") is not None and price.get("max") is not None:
        low, high = Decimal(price["min"]), Decimal(price["max"])
        if high > low:
            step = (high - low) / 3
            bands = []
            for i in range(3):
                a = (low + step * i).quantize(Decimal(1))
                b = (low + step * (i + 1)).quantize(Decimal(1)) if i < 2 else high.quantize(Decimal(1)) + 1
                query = request.GET.copy()
                query.pop("cursor", None)
                query["min_price"], query["max_price"] = str(a), str(b)
                on = chosen.get("min_price") == str(a) and chosen.get("max_price") == str(b)
                bands.append({"label": f"{a} – {b}", "count": None, "url": f"?{query.urlencode()}", "on": on})
            groups.append({"name": _("Price"), "values": bands})
    query = request.GET.copy()
    query.pop("cursor", None)
    on = query.get("in_stock") == "1"
    if on:
        query.pop("in_stock")
    else:
        query["in_stock"] = "1"
    groups.append(
        {
            "name": _("Availability"),
            "values": [
                {"label": _("In stock only"), "count": None, "url": f"?{query.urlencode()}", "on": on}
            ],
        }
    )
    return groups


@require_GET
@catalogue_reads
def suggestions(request: HttpRequest) -> JsonResponse:
    """Type-ahead for the search box (shop.js): titles and links, at most eight."""
    q = request.GET.get("q", "").strip()
    if not q or len(q) > 100:
        return JsonResponse({"items": []})
    channel = web_channel()
    try:
        found = search.suggest(channel=channel, query=q, limit=8)
    except DomainError:
        found = []
    cards = {c["id"]: c for c in cards_for(channel, [f["product_id"] for f in found])}
    response = JsonResponse(
        {
            "items": [
                {"title": cards[f["product_id"]]["title"], "url": cards[f["product_id"]]["url"]}
                for f in found
                if f["product_id"] in cards
            ]
        }
    )
    response["Cache-Control"] = "public, max-age=60"
    return response


@require_GET
@cacheable(public=False)
@catalogue_reads
def product(request: HttpRequest, slug: str) -> HttpResponse:
    channel = web_channel()
    try:
        detail = storefront.product_detail(channel_code=channel.code, slug=slug)
    except DomainError:
        raise Http404("No such product.") from None
    detail = orjson.loads(orjson.dumps(detail))  # JSON fragments (attributes) to plain values
    currency = detail["price"]["currency"]
    for variant in detail["variants"]:
        variant["price_text"] = money(variant["price"], currency)
        variant["compare_text"] = (
            money(variant["compare_at_price"], currency) if variant["compare_at_price"] else ""
        )
        variant["label"] = (
            variant["title"]
            or ", ".join(str(v) for v in (variant["attributes"] or {}).values())
            or variant["sku"]
        )
    images = [
        {"src": image_url(i["url"], key=f"{slug}-{n}"), "alt": i["alt"] or detail["title"]}
        for n, i in enumerate(detail["images"])
    ] or [{"src": image_url(None, key=slug), "alt": detail["title"]}]
    card = decorate_card(
        {
            "slug": slug,
            "title": detail["title"],
            "price": detail["price"],
            "compare_at_price": detail["compare_at_price"],
            "availability": detail["availability"],
        }
    )
    similar = tracked(
        cards_for(
            channel,
            [
                r.product_id
                for r in serving.similar_products(channel=channel, product_id=detail["id"], limit=4)
            ],
        ),
        "product.similar",
    )
    together = tracked(
        cards_for(
            channel,
            [
                r.product_id
                for r in serving.bought_together(channel=channel, product_id=detail["id"], limit=4)
            ],
        ),
        "product.together",
    )
    categories = top_categories(channel)
    # The writes after the reads: a write keeps the rest of the request on the primary (catalogue_reads).
    count_click(request, channel, detail["id"])
    count_impressions(request, channel, {"product.similar": similar, "product.together": together})
    canonical = request.build_absolute_uri(reverse("shop:product", args=[slug]))
    structured = _structured_data(detail, canonical, images[0]["src"], request)
    customer = shopper(request)
    return render(
        request,
        "storefront/product.html",
        {
            "channel": channel,
            "product": detail,
            "card": card,
            "images": images,
            "similar": similar,
            "together": together,
            "canonical": canonical,
            "structured_data": structured,
            "one_click": customer is not None,
            "categories": categories,
        },
    )


def _structured_data(detail: dict, canonical: str, image: str, request: HttpRequest) -> str:
    """schema.org Product with one Offer per variant, as JSON-LD (escaped for a <script> data block)."""
    offers = [
        {
            "@type": "Offer",
            "sku": v["sku"],
            "price": v["price"],
            "priceCurrency": detail["price"]["currency"],
            "availability": "https://schema.org/InStock"
            if v["in_stock"]
            else "https://schema.org/OutOfStock",
            "url": canonical,
        }
        for v in detail["variants"]
    ]
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": detail["title"],
        "description": detail["description"][:5000],
        "image": request.build_absolute_uri(image),
        "brand": {"@type": "Brand", "name": detail["brand"]} if detail["brand"] else None,
        "url": canonical,
        "offers": offers,
    }
    text = json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@require_GET
def placeholder(request: HttpRequest, hue: int) -> HttpResponse:
    """A neutral product placeholder in one of 360 hues (for catalogues whose images we may not load)."""
    if not 0 <= hue < 360:
        raise Http404
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600" viewBox="0 0 600 600">'
        f'<rect width="600" height="600" fill="hsl({hue},35%,88%)"/>'
        f'<path d="M170 420 L260 290 L330 370 L380 320 L440 420 Z" fill="hsl({hue},30%,62%)"/>'
        f'<circle cx="400" cy="220" r="40" fill="hsl({hue},30%,70%)"/></svg>'
    )
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@require_GET
def robots(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        "Disallow: /cart",
        "Disallow: /checkout",
        "Disallow: /account",
        "Disallow: /api/",
        "Disallow: /admin/",
        f"Sitemap: {request.build_absolute_uri(reverse('shop:sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")


@require_GET
@catalogue_reads
def sitemap(request: HttpRequest) -> HttpResponse:
    """Every published product and every category of the web channel (up to the protocol's 50,000 URLs)."""
    channel = web_channel()
    slugs = (
        ChannelListing.objects.filter(channel=channel, is_published=True, variant__product__is_active=True)
        .values_list("variant__product__slug", flat=True)
        .distinct()
        .order_by("variant__product__slug")[:49_000]
    )
    urls = [request.build_absolute_uri(reverse("shop:home"))]
    urls += [
        request.build_absolute_uri(reverse("shop:category", args=[p]))
        for p in Category.objects.values_list("path", flat=True)[:1000]
    ]
    urls += [request.build_absolute_uri(reverse("shop:product", args=[s])) for s in slugs]
    from django.utils.html import escape

    body = "".join(f"<url><loc>{escape(u)}</loc></url>" for u in urls)
    xml = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'
    return HttpResponse(xml, content_type="application/xml")
