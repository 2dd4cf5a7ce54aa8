"""Product matches desk: the data hub's product review queue — a channel's product that looks like one the
catalogue has, below the auto-merge score or with a conflicting field — shown side by side and merged or kept
apart, and every product merge (made while importing or accepted here) with its exact undo. Every change goes
through the data hub's services (`decide_match`, `undo_product_merge`)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from omnishop.catalog.models import ChannelListing, Product, ProductImage, Variant
from omnishop.core.errors import DomainError
from omnishop.datahub import product_merges, services

from ..forms.catalogue import ProductMatchForm
from .common import denied, desk, staff_view

VIEW = ("catalog.view_product", "datahub.view_matchcandidate", "datahub.view_productmerge")
MERGE = "datahub.merge_product"
PAGE_SIZE = 25

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = [(gettext_lazy("Product matches"), "product_matches", VIEW[1])]


def _products(ids: set[int]) -> dict[int, Product]:
    variants = Variant.objects.order_by("position", "pk").prefetch_related(
        Prefetch(
            "listings", queryset=ChannelListing.objects.select_related("channel").order_by("channel__code")
        )
    )
    found = (
        Product.objects.filter(pk__in=ids)
        .select_related("category")
        .prefetch_related(
            Prefetch("variants", queryset=variants),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "pk")),
        )
    )
    return {p.pk: p for p in found}


def _card(product: Product) -> dict:
    variants = list(product.variants.all())
    channels = sorted({x.channel.code for v in variants for x in v.listings.all()})
    return {
        "product": product,
        "variants": variants,
        "channels": channels,
        "images": list(product.images.all()),
    }


@staff_view(*VIEW)
def product_matches(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not request.user.has_perm(MERGE):
            raise denied()
        _act(request, ProductMatchForm(request.POST))
        return redirect("backoffice:product_matches")
    queue = services.match_candidates(entity="product")
    candidates = list(queue[:PAGE_SIZE])
    products = _products({pk for c in candidates for pk in (c.left_id, c.right_id)})
    rows = [
        {"candidate": c, "keep": _card(products[c.left_id]), "other": _card(products[c.right_id])}
        for c in candidates
        if c.left_id in products and c.right_id in products
    ]
    merges = Paginator(
        product_merges.product_merges().select_related("product", "channel", "decided_by", "undone_by"),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    return desk(
        request,
        "backoffice/catalogue/matches.html",
        {
            "rows": rows,
            "waiting": queue.count(),
            "merges": merges,
            "page": merges,
            "can_merge": request.user.has_perm(MERGE),
        },
        title=_("Product matches"),
    )


def _act(request: HttpRequest, form: ProductMatchForm) -> None:
    if not form.is_valid():
        messages.error(request, _("That decision could not be read; try again."))
        return
    data = form.cleaned_data
    try:
        if data["action"] == ProductMatchForm.UNDO:
            merge = product_merges.get_product_merge(merge_id=data["merge"])
            product_merges.undo_product_merge(merge=merge, user=request.user)
            messages.success(
                request, _("Merge %(id)s undone: both products are as they were.") % {"id": merge.pk}
            )
            return
        candidate = services.get_match_candidate(candidate_id=data["candidate"])
        if candidate.entity != "product":
            messages.error(request, _("That candidate is not a product pair."))
            return
        merge = data["action"] == ProductMatchForm.MERGE
        services.decide_match(candidate=candidate, merge=merge, user=request.user)
        if merge:
            text = _("Product %(other)s merged into %(keep)s; the merge can be undone below.")
        else:
            text = _("Products %(keep)s and %(other)s kept apart; they will not be proposed again.")
        messages.success(request, text % {"keep": candidate.left_id, "other": candidate.right_id})
    except DomainError as exc:
        messages.error(request, f"{exc.message} ({exc.code})")


urlpatterns = [path("products/matches/", product_matches, name="product_matches")]
