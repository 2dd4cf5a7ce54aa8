"""Carrier tracking: signed webhooks in, normalised statuses, order effects, the public tracking view.

A webhook is accepted only with a valid HMAC-SHA256 over `timestamp + "." + raw body` under the carrier's
secret and a timestamp within the tolerance (replays of old deliveries are refused). Events are deduplicated
by (carrier, event id). `delivered` advances the fulfilment and order; `exception` and `returned` put the
order in the exception queue.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction

from omnishop.core.errors import AlreadyExists, BadSignature, DomainError, NotFound, ValidationFailed
from omnishop.orders import services as orders
from omnishop.orders.models import Fulfilment, Order, OrderException

from .models import Carrier, TrackingEvent

NORMALISED = set(TrackingEvent.Status.values)
DEFAULT_MAP = {
    "created": "label_created",
    "pre_transit": "label_created",
    "accepted": "in_transit",
    "transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "failure": "exception",
    "failed_attempt": "exception",
    "return_to_sender": "returned",
}


class StaleTimestamp(DomainError):
    code = "stale_timestamp"
    status = 400
    default_message = "The webhook timestamp is outside the accepted window."


class CarrierNotFound(NotFound):
    code = "carrier_not_found"


def create_carrier(
    *,
    code: str,
    name: str,
    webhook_secret: str,
    tracking_url_template: str = "",
    status_map: dict | None = None,
) -> Carrier:
    if len(webhook_secret) < 16:
        raise ValidationFailed("The webhook secret needs at least 16 characters.", field="webhook_secret")
    for value in (status_map or {}).values():
        if value not in NORMALISED:
            raise ValidationFailed(f"'{value}' is not a tracking status.", field="status_map")
    try:
        # a savepoint: a clash must not break the caller's transaction (a request or a test runs in one)
        with transaction.atomic():
            return Carrier.objects.create(
                code=code,
                name=name,
                webhook_secret=webhook_secret,
                tracking_url_template=tracking_url_template,
                status_map=status_map or {},
            )
    except IntegrityError:
        raise AlreadyExists(f"Carrier '{code}' exists.", field="code") from None


def get_carrier(code: str) -> Carrier:
    carrier = Carrier.objects.filter(code=code, is_active=True).first()
    if carrier is None:
        raise CarrierNotFound(f"No carrier '{code}'.", field="carrier")
    return carrier


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    carrier: Carrier, *, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
):
    if not timestamp or not signature:
        raise BadSignature(
            "Send X-Omnishop-Timestamp and X-Omnishop-Signature.", field="X-Omnishop-Signature"
        )
    try:
        sent = int(timestamp)
    except ValueError:
        raise StaleTimestamp("The timestamp is Unix seconds.", field="X-Omnishop-Timestamp") from None
    tolerance = settings.OMNISHOP_SHIPPING_WEBHOOK_TOLERANCE
    if abs((now or time.time()) - sent) > tolerance:
        raise StaleTimestamp(f"The timestamp is more than {tolerance} s away.", field="X-Omnishop-Timestamp")
    if not hmac.compare_digest(sign(carrier.webhook_secret, timestamp, body), signature):
        raise BadSignature(field="X-Omnishop-Signature")


def normalise(carrier: Carrier, raw: str) -> str:
    word = (raw or "").strip().lower()
    if word in NORMALISED:
        return word
    found = carrier.status_map.get(word) or DEFAULT_MAP.get(word)
    if found is None:
        raise ValidationFailed(f"Unknown tracking status '{raw}'.", field="events.status")
    return found


def ingest_webhook(*, carrier_code: str, body: bytes, timestamp: str | None, signature: str | None) -> int:
    """Verify and apply a carrier's tracking webhook; returns how many new events were applied."""
    carrier = get_carrier(carrier_code)
    verify(carrier, body=body, timestamp=timestamp, signature=signature)
    try:
        data = orjson.loads(body)
        events = data["events"]
        assert isinstance(events, list)
    except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
        raise ValidationFailed('The body is {"events": [...]}.', field="events") from None
    applied = 0
    for i, raw in enumerate(events):
        try:
            event_id, number = str(raw["id"]), str(raw["tracking_number"])
            status = normalise(carrier, str(raw["status"]))
            occurred = datetime.fromisoformat(str(raw["occurred_at"]).replace("Z", "+00:00"))
            if occurred.tzinfo is None:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed(
                "Each event has id, tracking_number, status, occurred_at (ISO-8601 with zone).",
                field=f"events[{i}]",
            ) from None
        fulfilment = (
            Fulfilment.objects.select_related("order")
            .filter(carrier=carrier.code, tracking_number=number)
            .first()
        )
        if fulfilment is None:
            continue
        try:
            with transaction.atomic():
                TrackingEvent.objects.create(
                    carrier=carrier,
                    fulfilment=fulfilment,
                    event_id=event_id,
                    status=status,
                    carrier_status=str(raw["status"])[:100],
                    description=str(raw.get("description", ""))[:500],
                    location=str(raw.get("location", ""))[:200],
                    occurred_at=occurred,
                )
                _apply(fulfilment, status, carrier, occurred)
        except IntegrityError:
            continue  # delivered before
        applied += 1
    return applied


def _apply(fulfilment: Fulfilment, status: str, carrier: Carrier, occurred: datetime) -> None:
    actor = f"carrier:{carrier.code}"
    Fulfilment.objects.filter(pk=fulfilment.pk).exclude(status=Fulfilment.Status.DELIVERED).update(
        tracking_status=status
    )
    if status == "delivered":
        orders.mark_delivered(fulfilment=fulfilment, actor=actor, at=occurred)
    elif status in ("exception", "returned"):
        orders.open_exception(
            order=fulfilment.order,
            reason=OrderException.Reason.CARRIER_EXCEPTION,
            details={"fulfilment": fulfilment.pk, "status": status},
            actor=actor,
        )


def tracking_view(*, token: str) -> dict:
    """What the public tracking link shows: order status, parcels and their events; no personal data."""
    order = Order.objects.filter(tracking_token=token).first()
    fulfilments = []
    if order is None:
        f = Fulfilment.objects.select_related("order").filter(tracking_token=token).first()
        if f is None:
            raise NotFound("No such tracking link.", field="token")
        order, fulfilments = f.order, [f]
    else:
        fulfilments = list(order.fulfilments.exclude(status=Fulfilment.Status.CANCELLED))
    carriers = {c.code: c for c in Carrier.objects.filter(code__in={f.carrier for f in fulfilments})}
    parcels = []
    for f in fulfilments:
        carrier = carriers.get(f.carrier)
        url = ""
        if carrier and carrier.tracking_url_template and f.tracking_number:
            url = carrier.tracking_url_template.replace("{tracking_number}", f.tracking_number)
        parcels.append(
            {
                "status": f.status,
                "tracking_status": f.tracking_status,
                "carrier": f.carrier,
                "tracking_number": f.tracking_number,
                "tracking_url": url,
                "shipped_at": f.shipped_at,
                "delivered_at": f.delivered_at,
                "events": [
                    {
                        "status": e.status,
                        "description": e.description,
                        "location": e.location,
                        "occurred_at": e.occurred_at,
                    }
                    for e in f.tracking_events.all()
                ],
            }
        )
    return {"order": order.number, "status": order.status, "parcels": parcels}
