"""Webhook endpoints: subscribe, change, rotate the secret, pause, resume, delete.

Secrets are `whsec_` + base64 of 32 random bytes (the Standard Webhooks form). They are stored recoverably
because every delivery is signed with them; the caller is given the secret once, on creation and rotation.
After a rotation the previous secret keeps signing (a second signature in `webhook-signature`) for a grace
period, so a receiver can switch secrets without refusing a single delivery.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from omnishop.channels.models import Channel

from ..errors import InvalidWebhookUrl, WebhookEndpointNotFound, WebhookOwnerRequired
from ..events import clean_patterns
from ..models import HELD, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("omnishop.webhooks")

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def rotation_grace() -> timedelta:
    return timedelta(hours=getattr(settings, "OMNISHOP_WEBHOOK_ROTATION_GRACE_HOURS", 24))


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True)
class IssuedEndpoint:
    """An endpoint and its secret in clear, for the one answer that shows it."""

    endpoint: WebhookEndpoint
    secret: str


def clean_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidWebhookUrl(field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidWebhookUrl(field="url")
    return url


def create_endpoint(
    *,
    url: str,
    event_types: list[str],
    channel: Channel | None = None,
    app_name: str = "",
    description: str = "",
    is_active: bool = True,
    created_by=None,
) -> IssuedEndpoint:
    """Subscribe a URL to event types; the answer carries the signing secret, shown this once."""
    if channel is None and not app_name.strip():
        raise WebhookOwnerRequired(field="app_name")
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        channel=channel,
        app_name=app_name.strip(),
        url=clean_url(url),
        description=description,
        event_types=clean_patterns(event_types),
        is_active=is_active,
        secret=secret,
        created_by=created_by,
    )
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


def get_endpoint(endpoint_id: int, *, channel: Channel | None = None) -> WebhookEndpoint:
    """The endpoint; with `channel`, only one that channel owns (another channel's is 'not found')."""
    qs = WebhookEndpoint.objects.select_related("channel")
    if channel is not None:
        qs = qs.filter(channel=channel)
    endpoint = qs.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(f"No webhook endpoint {endpoint_id}.", field="endpoint_id")
    return endpoint


def update_endpoint(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change url, event types, description or the active flag (only the fields given)."""
    if "url" in changes:
        changes["url"] = clean_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = clean_patterns(changes["event_types"])
    allowed = {"url", "event_types", "description", "is_active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"update_endpoint cannot change {sorted(unknown)}")
    with transaction.atomic():
        for name, value in changes.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=[*changes, "updated_at"])
        if "is_active" in changes:
            waiting = WebhookDelivery.objects.filter(
                endpoint_id=endpoint.pk, status=WebhookDelivery.Status.PENDING
            )
            if not endpoint.is_active:
                waiting.update(next_attempt_at=HELD)
            elif not endpoint.paused_at and not endpoint.disabled_at:
                waiting.filter(next_attempt_at=HELD).update(next_attempt_at=timezone.now())
    return endpoint


def rotate_secret(*, endpoint: WebhookEndpoint) -> IssuedEndpoint:
    """A new secret; the old one still signs (as a second signature) for the grace period."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        secret = new_secret()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + rotation_grace()
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


def signing_secrets(endpoint: WebhookEndpoint, *, now=None) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one during its grace."""
    now = now or timezone.now()
    found = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        found.append(endpoint.previous_secret)
    return found


def delete_endpoint(*, endpoint: WebhookEndpoint) -> None:
    """Unsubscribe: the endpoint, its deliveries and their attempts go (a relay mid-send records nothing)."""
    endpoint.delete()


def pause_endpoint(*, endpoint_id: int, reason: str) -> bool:
    """Stop sending to an endpoint until staff resume it; staff are alerted. Deliveries keep accumulating
    (nothing is lost). Returns whether this call paused it (False if it already was)."""
    now = timezone.now()
    with transaction.atomic():
        paused = WebhookEndpoint.objects.filter(pk=endpoint_id, paused_at__isnull=True).update(
            paused_at=now, pause_reason=reason[:500], updated_at=now
        )
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=WebhookDelivery.Status.PENDING).update(
            next_attempt_at=HELD
        )
    if paused:
        endpoint = WebhookEndpoint.objects.select_related("channel").get(pk=endpoint_id)
        message = (
            f"Webhook endpoint {endpoint} paused: {reason}. Resume it in the back-office once it is fixed."
        )
        logger.error(message)
        if settings.ADMINS:
            mail_admins(f"Webhook endpoint #{endpoint_id} paused", message, fail_silently=True)
    return bool(paused)


def resume_endpoint(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Send again: clears a pause or a 410 disable and the failure count; waiting deliveries go out at once."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            paused_at=None,
            pause_reason="",
            disabled_at=None,
            consecutive_failures=0,
            is_active=True,
            updated_at=now,
        )
        WebhookDelivery.objects.filter(endpoint_id=endpoint.pk, status=WebhookDelivery.Status.PENDING).update(
            next_attempt_at=now
        )
    endpoint.refresh_from_db()
    return endpoint


def disable_endpoint(*, endpoint_id: int, reason: str) -> None:
    """The receiver said 410 Gone: stop for good (until resumed) and cancel what was waiting for it."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(
            disabled_at=now, pause_reason=reason[:500], updated_at=now
        )
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.CANCELLED, locked_until=None
        )
    logger.warning("Webhook endpoint #%s disabled: %s", endpoint_id, reason)
