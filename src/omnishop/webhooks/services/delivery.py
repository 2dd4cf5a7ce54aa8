"""Sending deliveries: claim under a lease, sign (Standard Webhooks), POST through egress, record, reschedule.

`deliver_due` is a relay worker (settings OMNISHOP_RELAY_WORKERS). It claims due deliveries in one short
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, and a compare-and-set UPDATE everywhere that sets
`status=delivering`, `locked_until` and a random `claim_token`), then sends them one by one outside any
transaction. Before each send it extends its lease with a compare-and-set on its token, and it records the
outcome only while it still holds the token: a relay that died mid-batch leaves rows that another relay takes
over once `locked_until` has passed, and the two never both record one attempt's result.

Order per aggregate: a delivery is not claimed while an earlier one (lower `sequence`) of the same endpoint
and aggregate is pending or being sent, or while an earlier event of the aggregate has not been fanned out
yet (another relay's batch), so `order.shipped` never overtakes an `order.paid` still in retry.
"""

from __future__ import annotations

import email.utils
import logging
import random
import secrets
import time
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from omnishop.core import egress
from omnishop.core.models import OutboxEvent

from ..models import RESPONSE_EXCERPT_BYTES, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .endpoints import disable_endpoint, pause_endpoint, signing_secrets

logger = logging.getLogger("omnishop.webhooks")

Status = WebhookDelivery.Status

# Seconds to wait after the 1st, 2nd, … failed attempt (about 2.75 days in all, ±20 % jitter each).
DEFAULT_RETRY_SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 24 * 3600, 24 * 3600)
DEFAULT_PAUSE_AFTER = 20
DEFAULT_LEASE_SECONDS = 60
MAX_RETRY_AFTER = 24 * 3600
USER_AGENT = "Omnishop-Webhooks/1"


def retry_schedule() -> tuple[int, ...]:
    return tuple(getattr(settings, "OMNISHOP_WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))


def pause_after() -> int:
    return int(getattr(settings, "OMNISHOP_WEBHOOK_PAUSE_AFTER", DEFAULT_PAUSE_AFTER))


def lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "OMNISHOP_WEBHOOK_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


def retry_delay(attempts: int, *, retry_after: float | None = None) -> timedelta | None:
    """How long to wait after `attempts` failed attempts; None once the schedule is used up (give up).
    A receiver's Retry-After (429, 503) replaces the schedule's wait for that attempt."""
    schedule = retry_schedule()
    if attempts > len(schedule):
        return None
    if retry_after is not None:
        return timedelta(seconds=min(max(retry_after, 1), MAX_RETRY_AFTER))
    return timedelta(seconds=schedule[attempts - 1] * random.uniform(0.8, 1.2))


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


# --- claiming -------------------------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.DELIVERING, locked_until__lt=now
    )


def due_deliveries(now: datetime):
    """Deliveries a relay may send now: due (or abandoned by a dead relay), to an endpoint that is sending,
    and not held back by an earlier unsettled delivery of the same endpoint and aggregate."""
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
        status__in=WebhookDelivery.UNSETTLED,
    )
    # Relays fan out in parallel: an earlier event of the aggregate may still be on its way to the sink.
    not_fanned_out = OutboxEvent.objects.filter(
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
        dispatched_at__isnull=True,
    )
    return (
        WebhookDelivery.objects.filter(_claimable(now))
        .filter(
            endpoint__is_active=True, endpoint__paused_at__isnull=True, endpoint__disabled_at__isnull=True
        )
        .filter(~Exists(earlier), ~Exists(not_fanned_out))
        .order_by("next_attempt_at", "id")
    )


def claim_due(*, limit: int = 100) -> tuple[str, list[WebhookDelivery]]:
    """Take up to `limit` due deliveries under a lease; returns the claim token and the claimed rows."""
    now = timezone.now()
    token = secrets.token_hex(16)
    with transaction.atomic():
        candidates = due_deliveries(now)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return token, []
        WebhookDelivery.objects.filter(Q(id__in=ids) & _claimable(now)).update(
            status=Status.DELIVERING, locked_until=now + lease(), claim_token=token
        )
    claimed = WebhookDelivery.objects.filter(id__in=ids, claim_token=token).order_by("next_attempt_at", "id")
    return token, list(claimed)


def deliver_due(limit: int = 100) -> int:
    """Relay worker: send what is due; returns how many deliveries it attempted."""
    token, claimed = claim_due(limit=limit)
    attempted = 0
    for delivery in claimed:
        attempted += send_claimed(delivery, token=token)
    return attempted


# --- one delivery ---------------------------------------------------------------------------------------


def signed_headers(endpoint: WebhookEndpoint, *, msg_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one `v1,` signature per secret in use (two during a rotation)."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id, now, body) for secret in signing_secrets(endpoint, now=now)
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


def _release(delivery: WebhookDelivery, token: str, *, cancel: bool) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, claim_token=token, status=Status.DELIVERING).update(
        status=Status.CANCELLED if cancel else Status.PENDING, locked_until=None, claim_token=""
    )


def send_claimed(delivery: WebhookDelivery, *, token: str) -> int:
    """Send one claimed delivery and record the attempt; 0 if it was not ours any more or not sendable."""
    now = timezone.now()
    extended = WebhookDelivery.objects.filter(
        pk=delivery.pk, claim_token=token, status=Status.DELIVERING
    ).update(locked_until=now + lease())
    if not extended:
        return 0  # our lease ran out and another relay took it over
    endpoint = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).first()
    if endpoint is None:
        return 0  # deleted meanwhile, deliveries with it
    if endpoint.disabled_at or not endpoint.is_active or endpoint.paused_at:
        _release(delivery, token, cancel=endpoint.disabled_at is not None)
        return 0

    body = orjson.dumps(delivery.payload)
    headers = signed_headers(endpoint, msg_id=delivery.event_id, body=body.decode(), now=now)
    started = time.monotonic()
    response = None
    error_code = ""
    refused = False
    try:
        response = egress.request(
            "POST",
            endpoint.url,
            headers=headers,
            content=body,
            timeout=getattr(settings, "OMNISHOP_WEBHOOK_TIMEOUT", None),
            follow_redirects=False,  # a POST is not re-sent elsewhere; a 3xx is a failed attempt
        )
    except egress.EgressRefused as exc:
        # A name that does not resolve may be a passing DNS failure: retried. Any other refusal (a private,
        # loopback or metadata address, a bad scheme) will not fix itself: the endpoint is paused.
        error_code, refused = exc.code, exc.code != "bad_host"
    except egress.EgressFailed as exc:
        error_code = exc.code
    duration_ms = int((time.monotonic() - started) * 1000)
    _record(
        delivery,
        token=token,
        endpoint=endpoint,
        response=response,
        error_code=error_code,
        refused=refused,
        started_at=now,
        duration_ms=duration_ms,
    )
    return 1


def _excerpt(content: bytes) -> str:
    return content[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "")


def _record(delivery, *, token, endpoint, response, error_code, refused, started_at, duration_ms) -> None:
    now = timezone.now()
    status_code = response.status_code if response is not None else None
    ok = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not ok:
        error_code = f"http_{status_code}"
    attempts = delivery.attempts + 1
    changes: dict = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": error_code[:50],
        "locked_until": None,
        "claim_token": "",
    }
    outcome = "retry"
    if ok:
        changes.update(status=Status.SUCCEEDED, delivered_at=now)
        outcome = "ok"
    elif status_code == 410:
        changes.update(status=Status.FAILED)
        outcome = "gone"
    else:
        retry_after = None
        if status_code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
        delay = retry_delay(attempts, retry_after=retry_after)
        if delay is None:
            changes.update(status=Status.FAILED)
        else:
            changes.update(status=Status.PENDING, next_attempt_at=now + delay)
        outcome = "refused" if refused else ("throttled" if status_code == 429 else "failed")

    with transaction.atomic():
        recorded = WebhookDelivery.objects.filter(
            pk=delivery.pk, claim_token=token, status=Status.DELIVERING
        ).update(**changes)
        if not recorded:
            return  # no longer ours (lease taken over, endpoint deleted): the other relay's record stands
        WebhookAttempt.objects.create(
            delivery_id=delivery.pk,
            started_at=started_at,
            duration_ms=duration_ms,
            status_code=status_code,
            error_code=error_code[:50],
            response_excerpt=_excerpt(response.content) if response is not None else "",
        )
        if ok:
            WebhookEndpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(
                consecutive_failures=0
            )
        elif outcome in ("failed", "refused", "gone"):
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                consecutive_failures=F("consecutive_failures") + 1
            )

    if outcome == "gone":
        disable_endpoint(
            endpoint_id=endpoint.pk, reason=f"the receiver answered 410 Gone to {delivery.event_id}"
        )
    elif outcome == "refused":
        pause_endpoint(endpoint_id=endpoint.pk, reason=f"egress refused the URL ({error_code})")
    elif outcome == "failed":
        failures = (
            WebhookEndpoint.objects.filter(pk=endpoint.pk)
            .values_list("consecutive_failures", flat=True)
            .first()
        )
        if failures is not None and failures >= pause_after():
            pause_endpoint(
                endpoint_id=endpoint.pk, reason=f"{failures} failed attempts in a row (last: {error_code})"
            )
