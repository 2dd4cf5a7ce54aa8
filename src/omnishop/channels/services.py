"""Channel operations: create channels, issue, authenticate and revoke API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from omnishop.core import rows, statements
from omnishop.core.errors import AlreadyExists, InvalidTransition, NotFound, ValidationFailed
from omnishop.core.money import validate_currency

from .models import ApiKey, Channel

KEY_PREFIX = "osk_"
# Refresh last_used_at at most this often, so authentication stays a read on the hot path.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class InvalidScope(ValidationFailed):
    code = "invalid_scope"


class ChannelNotFound(NotFound):
    code = "channel_not_found"


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # the whole key, shown once


def create_channel(
    *,
    code: str,
    name: str,
    kind: str,
    currency: str,
    locale: str = "en",
    country: str = "GB",
    prices_include_tax: bool = True,
) -> Channel:
    """Register a sales channel; its currency is checked against ISO-4217 so prices can never be ambiguous."""
    if kind not in Channel.Kind.values:
        raise ValidationFailed(
            f"Unknown channel kind '{kind}'.", field="kind", allowed=list(Channel.Kind.values)
        )
    currency = validate_currency(currency)
    if len(country) != 2 or not country.isalpha():
        raise ValidationFailed("country must be an ISO-3166 alpha-2 code.", field="country")
    try:
        with transaction.atomic():
            return Channel.objects.create(
                code=code,
                name=name,
                kind=kind,
                currency=currency,
                locale=locale,
                country=country.upper(),
                prices_include_tax=prices_include_tax,
            )
    except IntegrityError:
        raise AlreadyExists(f"A channel with code '{code}' exists.", field="code") from None


def get_channel(code: str) -> Channel:
    try:
        return Channel.objects.get(code=code)
    except Channel.DoesNotExist:
        raise ChannelNotFound(f"No channel '{code}'.", field="code") from None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(
    *, channel: Channel, name: str, scopes: Iterable[str], created_by=None, expires_at: datetime | None = None
) -> IssuedKey:
    """Create a key for one channel; the returned secret is the only time the full key exists in clear."""
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in ApiKey.SCOPE_NAMES]
    if unknown:
        raise InvalidScope(
            f"Unknown scope(s): {', '.join(unknown)}.", field="scopes", allowed=list(ApiKey.SCOPE_NAMES)
        )
    if not scopes:
        raise InvalidScope("A key needs at least one scope.", field="scopes")
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    api_key = ApiKey.objects.create(
        channel=channel,
        name=name,
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=scopes,
        created_by=created_by,
        expires_at=expires_at,
    )
    return IssuedKey(api_key=api_key, secret=secret)


def _key_with_channel(prefix: str) -> ApiKey | None:
    """The key of `prefix` with its channel, in one hand-written statement: every API request of a channel
    runs it, and compiling the queryset cost more CPU than the answer (bench/profile_checkout.py)."""
    row = statements.fetch_one(
        f"SELECT {rows.columns(ApiKey, 'k')}, {rows.columns(Channel, 'c')} FROM {ApiKey._meta.db_table} k "
        f"JOIN {Channel._meta.db_table} c ON c.id = k.channel_id WHERE k.prefix = %s ORDER BY k.id LIMIT 1",
        [prefix],
    )
    if row is None:
        return None
    api_key = rows.instance(ApiKey, row)
    ApiKey.channel.field.set_cached_value(api_key, rows.instance(Channel, row, rows.width(ApiKey)))
    return api_key


def authenticate_api_key(raw: str) -> ApiKey | None:
    """The active key `raw` names, or None. One indexed lookup; constant-time comparison of the hash."""
    if not raw.startswith(KEY_PREFIX):
        return None
    prefix = raw[len(KEY_PREFIX) :].split("_", 1)[0]
    api_key = _key_with_channel(prefix)
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _hash(raw)):
        return None
    now = timezone.now()
    if api_key.revoked_at is not None or (api_key.expires_at and api_key.expires_at <= now):
        return None
    if not api_key.channel.is_active:
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    """Revoke at once: the next request with this key is refused."""
    if api_key.revoked_at is not None:
        raise InvalidTransition("This key is already revoked.", field="key")
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    return api_key
