"""Webhooks API: subscribe endpoints, rotate their secrets, ping them, read deliveries and replay them.

Staff manage every endpoint; a channel key with the scope `webhooks:manage` manages only its channel's
endpoints (another channel's endpoint is 'not found'). The secret is in the answer of create and rotate only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status

from omnishop.auth import channel_key, staff
from omnishop.channels.services import get_channel
from omnishop.core.errors import PermissionDenied, ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS, Id

from . import services
from .events import EVENT_TYPES
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .schemas import (
    WebhookDeliveryFilters,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookEndpointFilters,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPage,
    WebhookEndpointPatch,
    WebhookEndpointWithSecretOut,
    WebhookEventTypesOut,
    WebhookReplayIn,
    WebhookReplayOut,
)

router = Router(tags=["webhooks"])

SCOPE = "webhooks:manage"
READ = [channel_key(SCOPE), staff("webhooks.view_webhookendpoint")]
CHANGE = [channel_key(SCOPE), staff("webhooks.change_webhookendpoint")]
ADD = [channel_key(SCOPE), staff("webhooks.add_webhookendpoint")]
DELETE = [channel_key(SCOPE), staff("webhooks.delete_webhookendpoint")]


def _own_channel(request: HttpRequest):
    """The channel whose endpoints the caller may touch; None for staff (every endpoint)."""
    return request.auth.channel if request.auth.kind == "channel" else None


def _endpoint(request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
    return services.get_endpoint(endpoint_id, channel=_own_channel(request))


def _with_secret(issued: services.IssuedEndpoint) -> WebhookEndpointWithSecretOut:
    """The one answer that shows the secret (the model holds it, so it can sign; it is never listed)."""
    return WebhookEndpointWithSecretOut.from_orm(issued.endpoint)


@router.get("/event-types", response={200: WebhookEventTypesOut, **ERRORS}, auth=READ)
def list_event_types(request: HttpRequest):
    """The event types an endpoint can subscribe to (patterns: exact, 'family.*' or '*')."""
    return {"items": list(EVENT_TYPES)}


@router.post("/endpoints", response={201: WebhookEndpointWithSecretOut, **ERRORS}, auth=ADD)
def create_endpoint(
    request: HttpRequest, body: WebhookEndpointIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Subscribe a URL. The answer holds the signing secret, once; an idempotent replay of this request
    answers `secret: ""` (the secret is never stored with the replay)."""
    own = _own_channel(request)
    if own is not None:
        if body.channel not in (None, own.code):
            raise PermissionDenied("A channel key creates endpoints for its own channel only.")
        channel = own
    else:
        channel = get_channel(body.channel) if body.channel else None

    def build():
        issued = services.create_endpoint(
            url=body.url,
            event_types=body.event_types,
            channel=channel,
            app_name=body.app_name,
            description=body.description,
            is_active=body.is_active,
            created_by=request.auth.user,
        )
        return _with_secret(issued)

    return idempotent(
        request, idempotency_key, 201, build, schema=WebhookEndpointWithSecretOut, redact=_redact
    )


def _redact(body: bytes) -> bytes:
    import orjson

    data = orjson.loads(body)
    if "secret" in data:
        data["secret"] = ""
    return orjson.dumps(data)


@router.get("/endpoints", response={200: WebhookEndpointPage, **ERRORS}, auth=READ)
def list_endpoints(request: HttpRequest, filters: Query[WebhookEndpointFilters]):
    qs = WebhookEndpoint.objects.select_related("channel")
    own = _own_channel(request)
    if own is not None:
        qs = qs.filter(channel=own)
    elif filters.channel:
        qs = qs.filter(channel=get_channel(filters.channel))
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit, ordering="id", allowed=("id",))
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/endpoints/{endpoint_id}", response={200: WebhookEndpointOut, **ERRORS}, auth=READ)
def get_endpoint(request: HttpRequest, endpoint_id: Id):
    return _endpoint(request, endpoint_id)


@router.patch("/endpoints/{endpoint_id}", response={200: WebhookEndpointOut, **ERRORS}, auth=CHANGE)
def update_endpoint(request: HttpRequest, endpoint_id: Id, body: WebhookEndpointPatch):
    changes = body.dict(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise ValidationFailed(f"{name} may not be null.", field=name)
    return services.update_endpoint(endpoint=_endpoint(request, endpoint_id), **changes)


@router.delete("/endpoints/{endpoint_id}", response={204: None, **ERRORS}, auth=DELETE)
def delete_endpoint(request: HttpRequest, endpoint_id: Id):
    services.delete_endpoint(endpoint=_endpoint(request, endpoint_id))
    return Status(204, None)


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret",
    response={200: WebhookEndpointWithSecretOut, **ERRORS},
    auth=CHANGE,
)
def rotate_secret(request: HttpRequest, endpoint_id: Id):
    """A new secret, shown in this answer only; the old one keeps signing (a second signature) for 24 h."""
    return _with_secret(services.rotate_secret(endpoint=_endpoint(request, endpoint_id)))


@router.post("/endpoints/{endpoint_id}/resume", response={200: WebhookEndpointOut, **ERRORS}, auth=CHANGE)
def resume_endpoint(request: HttpRequest, endpoint_id: Id):
    """Send again after a pause (too many failures) or a 410; waiting deliveries go out at once."""
    return services.resume_endpoint(endpoint=_endpoint(request, endpoint_id))


@router.post("/endpoints/{endpoint_id}/ping", response={202: WebhookDeliveryOut, **ERRORS}, auth=CHANGE)
def ping_endpoint(request: HttpRequest, endpoint_id: Id):
    """Queue a `webhook.ping` event for this endpoint; the relay sends it within seconds."""
    delivery = services.ping(endpoint=_endpoint(request, endpoint_id))
    return Status(202, delivery)


def _deliveries():
    return WebhookDelivery.objects.prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("started_at", "id"))
    )


@router.get("/endpoints/{endpoint_id}/deliveries", response={200: WebhookDeliveryPage, **ERRORS}, auth=READ)
def list_deliveries(request: HttpRequest, endpoint_id: Id, filters: Query[WebhookDeliveryFilters]):
    """The endpoint's deliveries, newest first, each with its attempts."""
    endpoint = _endpoint(request, endpoint_id)
    qs = _deliveries().filter(endpoint=endpoint)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.event_type:
        qs = qs.filter(event_type=filters.event_type)
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit, ordering="-id", allowed=("id",))
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/endpoints/{endpoint_id}/replay", response={200: WebhookReplayOut, **ERRORS}, auth=CHANGE)
def replay_range(request: HttpRequest, endpoint_id: Id, body: WebhookReplayIn):
    """Send again every delivery created in [since, until): same webhook-id, same body, fresh schedule."""
    endpoint = _endpoint(request, endpoint_id)
    since = _utc(body.since)
    until = _utc(body.until) if body.until else timezone.now()
    if until <= since:
        raise ValidationFailed("'until' must be after 'since'.", field="until")
    replayed = services.replay_range(endpoint=endpoint, since=since, until=until, statuses=body.status)
    return {"replayed": replayed}


@router.get("/deliveries/{delivery_id}", response={200: WebhookDeliveryOut, **ERRORS}, auth=READ)
def get_delivery(request: HttpRequest, delivery_id: Id):
    return _delivery(request, delivery_id)


@router.post("/deliveries/{delivery_id}/replay", response={200: WebhookDeliveryOut, **ERRORS}, auth=CHANGE)
def replay_delivery(request: HttpRequest, delivery_id: Id):
    """Send one delivery again (same webhook-id and body)."""
    own = _delivery(request, delivery_id)
    services.replay_delivery(delivery_id=own.pk)
    return _deliveries().get(pk=own.pk)


def _utc(moment: datetime) -> datetime:
    """A time without an offset is UTC (docs/API.md: times are UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _delivery(request: HttpRequest, delivery_id: int) -> WebhookDelivery:
    from .errors import WebhookDeliveryNotFound

    qs = _deliveries().filter(pk=delivery_id)
    own = _own_channel(request)
    if own is not None:
        qs = qs.filter(endpoint__channel=own)
    delivery = qs.first()
    if delivery is None:
        raise WebhookDeliveryNotFound(f"No webhook delivery {delivery_id}.", field="delivery_id")
    return delivery
