"""Search API: ranked product search with filters and facets, type-ahead, and staff-managed synonyms."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from omnishop.auth import channel_key, shopper, staff
from omnishop.channels.models import Channel
from omnishop.channels.services import ChannelNotFound
from omnishop.core.dbrouting import reads_from_replica
from omnishop.core.errors import PermissionDenied, ValidationFailed
from omnishop.core.schemas import ERRORS, Amount, Id, Int32

from . import services
from .schemas import SearchOut, SearchSuggestionOut, SynonymIn, SynonymOut

router = Router(tags=["search"])
READ = [channel_key("catalog:read"), shopper(), staff()]


def _channel(request: HttpRequest, code: str | None):
    if request.auth.kind == "channel":
        if code and code != request.auth.channel.code:
            raise PermissionDenied("This key belongs to another channel.", field="channel")
        return request.auth.channel
    if not code:
        raise ValidationFailed("Name the channel (its code).", field="channel")
    channel = Channel.objects.filter(code=code, is_active=True).first()
    if channel is None:
        raise ChannelNotFound(f"No channel '{code}'.", field="channel")
    return channel


def _attributes(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        code, sep, value = pair.partition(":")
        if not sep or not code:
            raise services.InvalidFilter("attr filters look like code:value.", field="attr")
        out[code.strip().lower()] = value.strip()
    return out


@router.get("/products", response={200: SearchOut, **ERRORS}, auth=READ)
def search_products(
    request: HttpRequest,
    q: str = "",
    channel: str | None = None,
    category: Id | None = None,
    min_price: Amount | None = None,
    max_price: Amount | None = None,
    attr: list[str] = Query([]),
    in_stock: bool = False,
    limit: Int32 = 20,
    cursor: str | None = None,
    anonymous_id: str | None = None,
):
    """Full-text product search for a channel: relevance-ranked, filtered, with facet counts."""
    target = _channel(request, channel)
    filters = services.Filters(
        category_id=category,
        min_price=min_price,
        max_price=max_price,
        attributes=_attributes(attr),
        in_stock=in_stock,
    )
    customer = request.auth.customer if request.auth.kind == "shopper" else None
    with reads_from_replica():  # the search's event log is written on the primary, as every write is
        result = services.search_products(
            channel=target,
            query=q,
            filters=filters,
            limit=limit,
            cursor=cursor,
            customer=customer,
            anonymous_id=(anonymous_id or "")[:64],
        )
    return {
        "items": result.items,
        "total": result.total,
        "facets": result.facets,
        "query_tokens": result.query_tokens,
        "corrections": result.corrections,
        "next_cursor": result.next_cursor,
    }


@router.get("/suggest", response={200: list[SearchSuggestionOut], **ERRORS}, auth=READ)
def suggest(request: HttpRequest, q: str = "", channel: str | None = None, limit: Int32 = 8):
    """Type-ahead: products whose words start with what has been typed so far."""
    target = _channel(request, channel)
    with reads_from_replica():
        return services.suggest(channel=target, query=q, limit=limit)


@router.put("/synonyms", response={200: SynonymOut, **ERRORS}, auth=[staff("search.change_synonym")])
def put_synonym(request: HttpRequest, body: SynonymIn):
    """Set the synonyms of a term (replaces its list; an empty list removes the expansion)."""
    return services.set_synonyms(term=body.term, synonyms=body.synonyms)
