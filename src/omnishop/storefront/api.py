"""Storefront API: a channel's published catalog, public (published prices are not private).

GET /api/v1/storefront/{channel_code}/products and /products/{slug}. Parsing, rendering and conditional
requests (ETag, Last-Modified, 304, Cache-Control: public) are shared with the lean WSGI path in `wsgi.py`
(`render.answer`), so both answer byte-for-byte the same.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from omnishop.core.schemas import Int32, error_schema

from . import render, services
from .schemas import ProductDetailOut, ProductPageOut

router = Router(tags=["storefront"])
ERRORS = {404: error_schema(404), 422: error_schema(422)}


class StorefrontProductFilters(Schema):
    """Documented here; validated by services.parse_page_query (the same code the fast path runs)."""

    limit: Int32 = services.DEFAULT_LIMIT
    cursor: str | None = None
    ordering: str = "id"
    category: str | None = None
    q: str | None = None
    in_stock: bool | None = None


@router.get("/{channel_code}/products", response={200: ProductPageOut, 304: None, **ERRORS}, auth=None)
def list_products(request: HttpRequest, channel_code: str, filters: Query[StorefrontProductFilters] = None):
    """Published products of the channel, 20 a page: price range in the channel currency, availability.

    Filters: `category` (a category path; its whole subtree matches), `q` (text in the title),
    `in_stock`. Ordering: `id` (default), `-id`, `title`, `-title`. Follow `next_cursor` for more.
    """
    return _respond(render.product_page(channel_code, request.GET, **_conditional(request)))


@router.get(
    "/{channel_code}/products/{slug}", response={200: ProductDetailOut, 304: None, **ERRORS}, auth=None
)
def get_product(request: HttpRequest, channel_code: str, slug: str):
    """A published product with every published variant (price, compare-at, availability) and images."""
    return _respond(render.product_detail(channel_code, slug, **_conditional(request)))


def _conditional(request: HttpRequest) -> dict[str, str | None]:
    return {
        "if_none_match": request.headers.get("If-None-Match"),
        "if_modified_since": request.headers.get("If-Modified-Since"),
    }


def _respond(answer: render.Answer) -> HttpResponse:
    status, content, headers = answer
    response = HttpResponse(content, status=status, content_type="application/json")
    if status == 304:
        del response["Content-Type"]
    for name, value in headers:
        response[name] = value
    return response
