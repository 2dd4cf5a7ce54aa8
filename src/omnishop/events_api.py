"""GET /api/v1/events: the outbox as a feed, so an integrator catches up after downtime without webhooks.

The path is shared with the behaviour-tracking POST of the recommendations context, so this operation is
added to that router (`install`) rather than mounted as a second router on the same prefix (which would
shadow one method with the other).
"""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from omnishop.auth import channel_key, staff
from omnishop.core import outbox
from omnishop.core.errors import ValidationFailed
from omnishop.core.schemas import ERRORS

MAX_LIMIT = 500


class EventAggregateOut(Schema):
    type: str
    id: str
    sequence: int


class DomainEventOut(Schema):
    id: str = Field(description="evt_ + ULID; the same id is the webhook-id of its deliveries.")
    type: str
    timestamp: str
    aggregate: EventAggregateOut
    channel: str
    version: int
    data: dict


class DomainEventPageOut(Schema):
    items: list[DomainEventOut]
    next_cursor: str = Field(
        description="Pass as `after` to continue; an event feed never ends, so it is always set "
        "(equal to `after` when nothing is new)."
    )
    has_more: bool


#: What a channel key sees besides its own channel's events: the shared catalogue's product events.
SHARED_WITH_CHANNELS = ("product.",)


def list_events(
    request: HttpRequest,
    after: str | None = Query(None, max_length=200),
    type: list[str] = Query([], max_length=20),
    aggregate_type: str | None = Query(None, max_length=30),
    aggregate_id: str | None = Query(None, max_length=150),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
):
    """Domain events in commit order (docs/events.md). `type` repeats and takes `order.*`-style prefixes."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    for name in type:
        if name not in outbox.EVENT_TYPES and not (name.endswith(".*") and len(name) > 2):
            raise outbox.UnknownEventType(f"{name!r} is not an event type Omnishop emits.", field="type")
    visible = None
    if request.auth.kind == "channel":
        visible = Q(channel=request.auth.channel.code)
        for prefix in SHARED_WITH_CHANNELS:
            visible |= Q(channel="", type__startswith=prefix)
    page = outbox.read(
        after=after,
        types=type or None,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        visible=visible,
        limit=limit,
    )
    return {
        "items": [e.envelope() for e in page.events],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


def install(router: Router) -> None:
    if getattr(router, "_domain_event_feed", False):
        return
    router._domain_event_feed = True
    router.add_api_operation(
        "",
        ["GET"],
        list_events,
        response={200: DomainEventPageOut, **ERRORS},
        auth=[channel_key("events:read"), staff("core.view_outboxevent")],
        summary="List domain events",
        operation_id="list_domain_events",
        tags=["events"],
    )
