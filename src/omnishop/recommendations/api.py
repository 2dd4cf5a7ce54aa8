"""Events and recommendations API: channels and shoppers send behaviour, channels ask for recommendations.

Two routers: `events_router` under /events (tracking), `router` under /recommendations (serving and the
staff view of model versions).
"""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest
from ninja import Query, Router

from omnishop.auth import channel_key, shopper, staff
from omnishop.channels.models import Channel
from omnishop.core.errors import PermissionDenied, ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS, Id, Int32
from omnishop.customers import services as customer_services

from . import services, tasks
from .errors import ChannelNotFound, CustomerNotFound
from .models import ModelVersion
from .schemas import (
    EventBatchIn,
    EventBatchOut,
    IdentifyIn,
    IdentifyOut,
    RecommendationsOut,
    RetrainQueuedOut,
    VersionOut,
    VersionPage,
)

events_router = Router(tags=["events"])
router = Router(tags=["recommendations"])
MAX_LIMIT = 50

WRITE_EVENTS = [channel_key("events:write"), shopper()]
READ = [channel_key("catalog:read"), staff("recommendations.view_modelversion")]


def _channel(request: HttpRequest, code: str | None):
    """A channel key acts for its own channel; a shopper or staff member names the channel."""
    principal = request.auth
    if principal.kind == "channel":
        if code and code != principal.channel.code:
            raise PermissionDenied("This key belongs to another channel.", field="channel")
        return principal.channel
    if not code:
        raise ValidationFailed("Name the channel (its code).", field="channel")
    channel = Channel.objects.filter(code=code, is_active=True).first()
    if channel is None:
        raise ChannelNotFound(f"No channel '{code}'.", field="channel")
    return channel


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    return limit


def _out(items) -> dict:
    version = services.active_version()
    return {"version": version.number if version else None, "items": [asdict(i) for i in items]}


@events_router.post("", response={202: EventBatchOut, **ERRORS}, auth=WRITE_EVENTS)
def send_events(request: HttpRequest, body: EventBatchIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Record a batch of behaviour events; each bad event is rejected with a reason, the rest accepted."""
    channel = _channel(request, body.channel)
    customer = request.auth.customer if request.auth.kind != "channel" else None

    def build():
        result = services.record_events(
            channel=channel, events=[e.model_dump() for e in body.events], customer=customer
        )
        return {"accepted": result.accepted, "rejected": [asdict(r) for r in result.rejected]}

    return idempotent(request, idempotency_key, 202, build, schema=EventBatchOut)


@events_router.post("/identify", response={200: IdentifyOut, **ERRORS}, auth=WRITE_EVENTS)
def identify(request: HttpRequest, body: IdentifyIn):
    """Attribute an anonymous visitor's events to a customer (the signed-in shopper, or one the channel
    knows). Repeating it is harmless: already attributed events are left alone."""
    if request.auth.kind == "channel":
        if body.customer_id is None:
            raise ValidationFailed("customer_id is required for a channel key.", field="customer_id")
        from omnishop.customers.models import Customer

        known = customer_services.customers_on_channel(
            Customer.objects.filter(pk=body.customer_id), request.auth.channel
        ).first()
        if known is None:
            raise CustomerNotFound("No such customer on this channel.", field="customer_id")
        customer = known
    else:
        if body.customer_id not in (None, request.auth.customer.pk):
            raise PermissionDenied("Shoppers may only link their own visits.", field="customer_id")
        customer = request.auth.customer
    return {"linked": services.link_anonymous(anonymous_id=body.anonymous_id, customer=customer)}


@router.get("/customers/{customer_id}", response={200: RecommendationsOut, **ERRORS}, auth=READ)
def for_customer(
    request: HttpRequest,
    customer_id: Id,
    channel: str | None = None,
    limit: Int32 = 10,
    exclude_purchased_days: Int32 = 30,
):
    """Personal recommendations for a customer the channel knows."""
    target = _channel(request, channel)
    from omnishop.customers.models import Customer

    found = Customer.objects.filter(pk=customer_id)
    if request.auth.kind == "channel":
        found = customer_services.customers_on_channel(found, target)
    customer = found.first()
    if customer is None:
        raise CustomerNotFound(f"No customer {customer_id}.", field="customer_id")
    if not 0 <= exclude_purchased_days <= 3650:
        raise ValidationFailed("exclude_purchased_days must be 0 to 3650.", field="exclude_purchased_days")
    items = services.for_customer(
        channel=target, customer=customer, limit=_limit(limit), exclude_purchased_days=exclude_purchased_days
    )
    return _out(items)


@router.get("/me", response={200: RecommendationsOut, **ERRORS}, auth=[shopper()])
def for_me(request: HttpRequest, channel: str, limit: Int32 = 10):
    """The signed-in shopper's own recommendations on a channel."""
    target = _channel(request, channel)
    return _out(services.for_customer(channel=target, customer=request.auth.customer, limit=_limit(limit)))


@router.get("/products/{product_id}/similar", response={200: RecommendationsOut, **ERRORS}, auth=READ)
def similar(request: HttpRequest, product_id: Id, channel: str | None = None, limit: Int32 = 10):
    target = _channel(request, channel)
    return _out(services.similar_products(channel=target, product_id=product_id, limit=_limit(limit)))


@router.get("/products/{product_id}/bought-together", response={200: RecommendationsOut, **ERRORS}, auth=READ)
def together(request: HttpRequest, product_id: Id, channel: str | None = None, limit: Int32 = 10):
    target = _channel(request, channel)
    return _out(services.bought_together(channel=target, product_id=product_id, limit=_limit(limit)))


@router.get("/cart", response={200: RecommendationsOut, **ERRORS}, auth=READ)
def for_cart(
    request: HttpRequest,
    product_id: list[Id] = Query(...),
    channel: str | None = None,
    limit: Int32 = 10,
):
    """Complements for the products in a cart (`?product_id=1&product_id=2`)."""
    target = _channel(request, channel)
    if len(product_id) > 100:
        raise ValidationFailed("At most 100 products in a cart.", field="product_id")
    return _out(services.for_cart(channel=target, product_ids=product_id, limit=_limit(limit)))


@router.get("/sessions/{anonymous_id}", response={200: RecommendationsOut, **ERRORS}, auth=READ)
def for_session(request: HttpRequest, anonymous_id: str, channel: str | None = None, limit: Int32 = 10):
    """'Because you viewed' for a visitor who is not signed in."""
    target = _channel(request, channel)
    if len(anonymous_id) > 64:
        raise ValidationFailed("anonymous_id is at most 64 characters.", field="anonymous_id")
    return _out(services.for_session(channel=target, anonymous_id=anonymous_id, limit=_limit(limit)))


@router.get(
    "/versions", response={200: VersionPage, **ERRORS}, auth=[staff("recommendations.view_modelversion")]
)
def versions(request: HttpRequest, cursor: str | None = None, limit: Int32 = 20):
    page = paginate(
        ModelVersion.objects.all(), cursor=cursor, limit=limit, ordering="-number", allowed=("number",)
    )
    return {"items": [VersionOut.from_orm(v) for v in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/versions", response={202: RetrainQueuedOut, **ERRORS}, auth=[staff("recommendations.add_modelversion")]
)
def retrain(request: HttpRequest, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Queue a retraining run (a new version; the active one serves until the new one is evaluated).
    Without a worker (no Redis) the run happens in this request."""

    def build():
        tasks.train_models.delay()
        return {"status": "queued"}

    return idempotent(request, idempotency_key, 202, build, schema=RetrainQueuedOut)
