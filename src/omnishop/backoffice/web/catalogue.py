"""Catalogue desk: products with images, variants, listings per channel, stock and supplier offers;
bulk publish/unpublish and a bulk price change per channel previewed before it is applied. Every change goes
through catalog.services (which announces listing.changed to the channels)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core import signing
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from omnishop.catalog import services as catalog
from omnishop.catalog.models import ChannelListing, Product, ProductImage, SupplierOffer, Variant
from omnishop.core.errors import DomainError
from omnishop.inventory.models import StockLevel

from ..forms.catalogue import BulkPriceForm, BulkPublishForm, ProductFilterForm
from ..kit import money, unit_money
from .common import attempt, confirmed, desk, staff_view

VIEW = "catalog.view_product"
CHANGE_LISTINGS = "catalog.change_channellisting"
PAGE_SIZE = 50
PREVIEW_SALT = "backoffice.bulk-price"

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = [(gettext_lazy("Products"), "products", VIEW)]


def _product_page(request: HttpRequest, filters: ProductFilterForm, bulk: BulkPublishForm, *, status=200):
    products = (
        catalog.products_matching(**filters.filters())
        .select_related("category")
        .annotate(
            variant_count=Count("variants", distinct=True),
            published_count=Count("variants__listings", filter=Q(variants__listings__is_published=True)),
        )
        .prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("position", "pk")))
        .order_by("title", "pk")
    )
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    chosen = {str(v) for v in bulk.data.getlist("product")} if bulk.is_bound else set()
    return desk(
        request,
        "backoffice/catalogue/list.html",
        {
            "filters": filters,
            "bulk": bulk,
            "page": page,
            "chosen": chosen,
            "can_change": request.user.has_perm(CHANGE_LISTINGS),
        },
        title=_("Products"),
        status=status,
    )


@staff_view(VIEW)
def product_list(request: HttpRequest) -> HttpResponse:
    filters = ProductFilterForm(request.GET or None)
    return _product_page(request, filters, BulkPublishForm())


@staff_view(VIEW)
def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = (
        Product.objects.select_related("category")
        .prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("position", "pk")))
        .filter(pk=pk)
        .first()
    )
    if product is None:
        raise Http404(_("No such product."))
    user = request.user
    variants = list(Variant.objects.filter(product=product).order_by("position", "pk"))
    ids = [v.pk for v in variants]
    listings = []
    if user.has_perm("catalog.view_channellisting"):
        listings = [
            {
                "listing": x,
                "price": money(x.price, x.currency),
                "compare_at": money(x.compare_at_price, x.currency),
            }
            for x in ChannelListing.objects.filter(variant_id__in=ids)
            .select_related("channel", "variant")
            .order_by("channel__code", "variant__position", "variant_id")
        ]
    offers = []
    if user.has_perm("catalog.view_supplieroffer"):
        offers = [
            {
                "offer": o,
                "cost": money(o.cost, o.currency),
                "landed": unit_money(catalog.offer_landed_unit_cost(o), o.currency),
            }
            for o in SupplierOffer.objects.filter(variant_id__in=ids)
            .select_related("supplier", "variant")
            .order_by("variant__position", "variant_id", "supplier__code")
        ]
    stock = {}
    if user.has_perm("inventory.view_stocklevel"):
        stock = {
            row["variant_id"]: row
            for row in StockLevel.objects.filter(variant_id__in=ids)
            .values("variant_id")
            .annotate(on_hand=Sum("on_hand"), allocated=Sum("allocated"), reserved=Sum("reserved"))
        }
    rows = []
    for v in variants:
        level = stock.get(v.pk)
        free = level["on_hand"] - level["allocated"] - level["reserved"] if level else None
        rows.append({"variant": v, "options": _options(v), "stock": level, "free": free})
    return desk(
        request,
        "backoffice/catalogue/detail.html",
        {
            "product": product,
            "variants": rows,
            "listings": listings,
            "offers": offers,
            "shows": {
                "listings": user.has_perm("catalog.view_channellisting"),
                "offers": user.has_perm("catalog.view_supplieroffer"),
                "stock": user.has_perm("inventory.view_stocklevel"),
            },
            "can_change": user.has_perm(CHANGE_LISTINGS),
        },
        title=product.title,
    )


def _options(variant: Variant) -> str:
    options = ", ".join(f"{k}: {v}" for k, v in sorted((variant.attributes or {}).items()))
    return options or variant.title or "—"


@staff_view(VIEW, CHANGE_LISTINGS)
@require_POST  # after the permission check: a refused role gets 403 whatever the method
def bulk_publish(request: HttpRequest) -> HttpResponse:
    form = BulkPublishForm(request.POST)
    filters = ProductFilterForm(request.POST)
    if not form.is_valid():
        return _product_page(request, filters, form, status=400)
    ids = form.product_ids(catalog.products_matching)
    listings = ChannelListing.objects.filter(variant__product_id__in=ids)
    if form.cleaned_data["on_channel"] is not None:
        listings = listings.filter(channel=form.cleaned_data["on_channel"])
    publish = form.cleaned_data["action"] == BulkPublishForm.PUBLISH
    changed = catalog.set_listings_published(listings=listings, published=publish)
    done = _("Published %(n)s listing(s).") if publish else _("Unpublished %(n)s listing(s).")
    messages.success(request, done % {"n": changed})
    return redirect(f"{reverse('backoffice:products')}?{_filter_query(form)}")


def _filter_query(form) -> str:
    data = form.cleaned_data
    query = {
        "q": data.get("q") or "",
        "category": data["category"].pk if data.get("category") else "",
        "brand": data.get("brand") or "",
        "channel": data["channel"].pk if data.get("channel") else "",
        "published": {True: "yes", False: "no"}.get(data.get("published"), ""),
    }
    return urlencode({k: v for k, v in query.items() if v != ""})


@staff_view(VIEW, CHANGE_LISTINGS)
def bulk_price(request: HttpRequest) -> HttpResponse:
    if request.method != "POST" or request.POST.get("start") == "yes":
        # Opened from the product list (its selection and filter posted along) or by a link.
        source = request.POST if request.method == "POST" else request.GET
        initial = {k: v for k, v in source.dict().items() if k in BulkPriceForm.base_fields}
        initial["product"] = source.getlist("product")
        return _price_page(request, BulkPriceForm(initial=initial), None)
    form = BulkPriceForm(request.POST)
    if not form.is_valid():
        return _price_page(request, form, None, status=400)
    data = form.cleaned_data
    channel = data["price_channel"]
    try:
        change = catalog.PriceChange(data["rule"], data["value"])
    except DomainError as exc:
        form.add_error("value" if exc.field == "value" else None, f"{exc.message} ({exc.code})")
        return _price_page(request, form, None, status=400)
    if confirmed(request):
        try:
            signed = signing.loads(data["expected"], salt=PREVIEW_SALT)
            expected = {int(k): Decimal(v) for k, v in signed["listings"].items()}
        except (signing.BadSignature, ValueError, KeyError, TypeError, AttributeError):
            form.add_error(None, _("The preview could not be read; preview the change again."))
            return _price_page(request, form, None, status=400)
        if signed.get("change") != _change_key(channel, change):
            form.add_error(None, _("The change differs from the one previewed; preview it again."))
            return _price_page(request, form, None, status=400)
        result = attempt(
            request,
            form,
            lambda: catalog.apply_price_change(channel=channel, change=change, expected=expected),
            done=_("Price change applied."),
        )
        if result is None:
            return _price_page(request, form, None, status=409)
        if result.changed == 0:
            messages.info(request, _("No price changed: every listing was already at its new price."))
        else:
            messages.info(
                request,
                _("%(n)s price(s) changed on %(channel)s.") % {"n": result.changed, "channel": channel.code},
            )
        return redirect(f"{reverse('backoffice:products')}?{_filter_query(form)}")
    preview = _attempt_preview(request, form, channel, change)
    status = 200 if preview is not None else 400
    return _price_page(request, form, preview, status=status)


def _attempt_preview(request, form: BulkPriceForm, channel, change):
    try:
        ids = form.product_ids(catalog.products_matching)
        preview = catalog.preview_price_change(channel=channel, product_ids=ids, change=change)
    except DomainError as exc:
        field = exc.field if exc.field in form.fields and exc.field != "product" else None
        form.add_error(field, f"{exc.message} ({exc.code})")
        return None
    token = signing.dumps(
        {
            "change": _change_key(channel, change),
            "listings": {str(k): str(v) for k, v in preview.expected.items()},
        },
        salt=PREVIEW_SALT,
    )
    form.data = form.data.copy()
    form.data["expected"] = token
    return preview


def _change_key(channel, change) -> list:
    """What the confirmation must repeat exactly: the preview was made for this channel and change."""
    return [channel.pk, change.rule, str(change.value.normalize())]


def _price_page(request, form: BulkPriceForm, preview, *, status: int = 200) -> HttpResponse:
    chosen = []
    if form.is_bound and form.is_valid():
        chosen = list(form.cleaned_data["product"])
    elif not form.is_bound:
        chosen = list(
            Product.objects.filter(pk__in=[p for p in form.initial.get("product", []) if str(p).isdigit()])
        )
    rows = []
    if preview is not None:
        rows = [
            {
                "row": r,
                "old": money(r.old_price, r.currency),
                "new": money(r.new_price, r.currency),
                "compare_at": money(r.compare_at_price, r.currency),
            }
            for r in preview.rows
        ]
    return desk(
        request,
        "backoffice/catalogue/bulk_price.html",
        {
            "form": form,
            "preview": preview,
            "rows": rows,
            "chosen": chosen,
            "filter_fields": ("q", "category", "brand", "channel", "published"),
        },
        title=_("Change prices on a channel"),
        status=status,
    )


urlpatterns = [
    path("products/", product_list, name="products"),
    path("products/bulk-publish/", bulk_publish, name="bulk_publish"),
    path("products/bulk-price/", bulk_price, name="bulk_price"),
    path("products/<int:pk>/", product_detail, name="product"),
]
