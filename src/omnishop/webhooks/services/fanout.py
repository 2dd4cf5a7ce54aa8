"""From outbox events to delivery rows: the relay's sink, the test ping, and replays.

`sink` runs inside the outbox relay's transaction and only writes rows (no network): one pending delivery
per matching endpoint and event. It is idempotent — `(endpoint, event_id)` is unique and repeats are
ignored — so a relay that crashes after the sink and runs the batch again writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import orjson
from django.db import connection, transaction
from django.utils import timezone

from omnishop.core.outbox import new_event_id

from ..events import PING, matches
from ..models import HELD, WebhookDelivery, WebhookEndpoint


def receiving_endpoints() -> list[WebhookEndpoint]:
    """Endpoints that get new deliveries: active and not disabled. A paused endpoint still gets them; they
    wait until it is resumed, so a pause never loses an event."""
    return list(
        WebhookEndpoint.objects.filter(is_active=True, disabled_at__isnull=True).select_related("channel")
    )


def wants(endpoint: WebhookEndpoint, *, event_type: str, channel: str) -> bool:
    own = endpoint.channel
    if own is not None and channel and channel != own.code:
        return False
    return matches(endpoint.event_types, event_type)


def sink(events: Sequence) -> None:
    """Outbox sink (settings OMNISHOP_OUTBOX_SINKS): one pending delivery per matching endpoint and event."""
    if not events:
        return
    endpoints = receiving_endpoints()
    if not endpoints:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        _insert_on_postgresql(_matches(events, endpoints), now)
        return
    rows = [
        WebhookDelivery(
            endpoint=endpoint,
            outbox_id=event.id,
            event_id=event.event_id,
            event_type=event.type,
            aggregate_type=event.aggregate_type,
            aggregate_id=str(event.aggregate_id),
            sequence=event.sequence,
            payload=envelope,
            next_attempt_at=HELD if endpoint.paused_at else now,
            created_at=now,
        )
        for event, endpoint, envelope in _matches(events, endpoints)
    ]
    WebhookDelivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)


def _matches(events: Sequence, endpoints: list[WebhookEndpoint]) -> Iterator[tuple]:
    """(event, endpoint, envelope) for each endpoint that wants each event; one envelope per event."""
    for event in events:
        envelope = None
        for endpoint in endpoints:
            if wants(endpoint, event_type=event.type, channel=event.channel or ""):
                envelope = envelope or event.envelope()
                yield event, endpoint, envelope


# The same rows as the portable path's bulk_create, in one statement with one parameter: the envelopes and
# their endpoints as a JSON array that PostgreSQL unpacks. Django's bulk_create on PostgreSQL sends one array
# per column, and psycopg's client-side binding quotes every element of them in Python: about half of a
# relay's CPU per event went there (events.delivery, 5 December 2026).
_INSERT = f"""
INSERT INTO {WebhookDelivery._meta.db_table}
    (endpoint_id, outbox_id, event_id, event_type, aggregate_type, aggregate_id, sequence, payload,
     status, attempts, next_attempt_at, claim_token, last_error, created_at)
SELECT (r->>0)::bigint, (r->>1)::bigint, r->2->>'id', r->2->>'type', r->2->'aggregate'->>'type',
       r->2->'aggregate'->>'id', (r->2->'aggregate'->>'sequence')::integer, r->2,
       'pending', 0, CASE WHEN (r->>3)::boolean THEN %s ELSE %s END, '', '', %s
FROM jsonb_array_elements(%s::jsonb) AS r
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""


def _insert_on_postgresql(matches: Iterator[tuple], now: datetime) -> None:
    rows = [
        (endpoint.pk, event.id, envelope, endpoint.paused_at is not None)
        for event, endpoint, envelope in matches
    ]
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(_INSERT, [HELD, now, now, orjson.dumps(rows).decode()])


def ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a `webhook.ping` event for one endpoint (sent by the relay, like every delivery)."""
    from ..errors import WebhookEndpointDisabled

    if endpoint.disabled_at or not endpoint.is_active:
        raise WebhookEndpointDisabled()
    now = timezone.now()
    event_id = new_event_id()
    envelope = {
        "id": event_id,
        "type": PING,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "aggregate": {"type": "endpoint", "id": str(endpoint.pk), "sequence": 1},
        "channel": endpoint.channel.code if endpoint.channel is not None else "",
        "version": 1,
        "data": {"endpoint": endpoint.pk, "message": "Ping from Omnishop: this endpoint is reachable."},
    }
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type=PING,
        aggregate_type="endpoint",
        aggregate_id=str(endpoint.pk),
        sequence=1,  # every ping has sequence 1: never held behind another delivery (not even a ping)
        payload=envelope,
        next_attempt_at=now,
        created_at=now,
    )


def _reset(queryset) -> int:
    now = timezone.now()
    return queryset.exclude(status=WebhookDelivery.Status.DELIVERING).update(
        status=WebhookDelivery.Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        locked_until=None,
        claim_token="",
        replayed_at=now,
    )


def replay_delivery(*, delivery_id: int, endpoint: WebhookEndpoint | None = None) -> WebhookDelivery:
    """Send a delivery again (same webhook-id, same body, a fresh retry schedule). The row is reset rather
    than copied: its attempts stay in the log, and a receiver that dedupes on webhook-id sees one message."""
    from ..errors import WebhookDeliveryNotFound

    qs = WebhookDelivery.objects.filter(pk=delivery_id)
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    with transaction.atomic():
        delivery = qs.select_for_update().first()
        if delivery is None:
            raise WebhookDeliveryNotFound(f"No webhook delivery {delivery_id}.", field="delivery_id")
        _reset(WebhookDelivery.objects.filter(pk=delivery.pk))
    delivery.refresh_from_db()
    return delivery


def replay_range(
    *, endpoint: WebhookEndpoint, since: datetime, until: datetime | None = None, statuses: Sequence[str] = ()
) -> int:
    """Send again every delivery of an endpoint created in [since, until) (optionally only some statuses);
    returns how many were queued. A delivery being sent right now is left alone."""
    qs = WebhookDelivery.objects.filter(endpoint=endpoint, created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    with transaction.atomic():
        return _reset(qs)
