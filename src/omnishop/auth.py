"""Who is calling the API: a channel (API key), a shopper, or a staff member.

Three kinds of principal, one `Principal` object on `request.auth`:
- channel API keys: `Authorization: Bearer osk_…` (or `X-Api-Key`), scoped to one channel and a set of
  scopes such as `catalog:read`;
- shoppers: an allauth session (`X-Session-Token` from the headless API, or the browser session cookie);
- staff: Django users with `is_staff`, authenticated the same way as shoppers, checked per permission.

An endpoint lists the kinds it accepts: `auth=[channel_key("catalog:read"), staff("catalog.view_product")]`.
A valid credential without the needed scope or permission is a 403, never a fall-through to another kind.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from omnishop.core.errors import RateLimited
from omnishop.core.ratelimit import count_hit

# Failed credentials allowed per minute, from one client address and for one presented credential (the
# public prefix of an API key, or a session token), before failures are answered 429 instead of 401. Only
# failures are limited: a valid credential is always accepted, whoever else failed from the same address.
FAILED_AUTH_LIMIT_PER_MINUTE = 30
FAILED_AUTH_LIMIT_PER_CREDENTIAL = 10
FAILED_AUTH_WINDOW_SECONDS = 60


@dataclass
class Principal:
    kind: str  # "channel" | "shopper" | "staff"
    channel: Any = None
    api_key: Any = None
    user: Any = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def idempotency_scope(self) -> str:
        if self.kind == "channel":
            return f"key:{self.api_key.pk}"
        return f"user:{self.user.pk}"

    @property
    def customer(self):
        """The shopper's unified customer record (created on first use)."""
        if not hasattr(self, "_customer"):
            from omnishop.customers.services import customer_for_user

            self._customer = customer_for_user(user=self.user)
        return self._customer

    def can_see_channel(self, channel) -> bool:
        return self.kind == "staff" or (self.kind == "channel" and self.channel.pk == channel.pk)


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
    except ValueError as exc:
        raise ImproperlyConfigured(f"OMNISHOP_TRUSTED_PROXIES: {exc}") from None


def _trusted(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: HttpRequest) -> str:
    """The address of the client, not of our own reverse proxy: behind a trusted proxy
    (OMNISHOP_TRUSTED_PROXIES, CIDRs), the right-most X-Forwarded-For hop that is not one of ours. Hops to
    its left were written by the client and can be anything, so they are never believed."""
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    networks = _networks(tuple(settings.OMNISHOP_TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return remote
    address = remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        if not hop:
            continue
        address = hop[:64]
        if not _trusted(hop, networks):
            break
    return address


def _count_failure(bucket: str) -> int:
    """Add one to a per-minute failure counter in the shared cache (every worker and process sees it)."""
    return count_hit(bucket, window_seconds=FAILED_AUTH_WINDOW_SECONDS)


def _bucket_id(value: str) -> str:
    return hashlib.sha256(value.encode(errors="replace")).hexdigest()[:32]


def _note_failure(request: HttpRequest, *, credential: str) -> None:
    """A credential was refused: count it for the client's address and for the credential presented; past
    either limit, answer 429 (with Retry-After) so a client in a retry loop backs off."""
    # An endpoint that accepts staff or shoppers checks one session token twice: count it once per request.
    seen = request.__dict__.setdefault("_omnishop_auth_failures", {})
    if credential not in seen:
        by_address = _count_failure(f"authfail:addr:{_bucket_id(client_address(request))}")
        by_credential = _count_failure(f"authfail:cred:{_bucket_id(credential)}")
        seen[credential] = (
            by_address > FAILED_AUTH_LIMIT_PER_MINUTE or by_credential > FAILED_AUTH_LIMIT_PER_CREDENTIAL
        )
    if seen[credential]:
        raise RateLimited(
            "Too many failed authentication attempts; wait a minute.",
            retry_after=FAILED_AUTH_WINDOW_SECONDS,
        )


def _key_prefix(raw: str) -> str:
    """The public part of an API key (`osk_<prefix>_<secret>`): failures are counted per key, not per guess."""
    parts = raw.split("_", 2)
    return "key:" + (parts[1] if len(parts) == 3 and parts[0] == "osk" else raw[:24])


def _api_key_from(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        if token.startswith("osk_"):
            return token
    return request.headers.get("X-Api-Key") or None


class ChannelKeyAuth(AuthBase):
    openapi_type = "http"
    openapi_scheme = "bearer"

    def __init__(self, *scopes: str) -> None:
        self.scopes = frozenset(scopes)
        super().__init__()

    def __call__(self, request: HttpRequest) -> Principal | None:
        raw = _api_key_from(request)
        if not raw:
            return None
        from omnishop.channels.services import authenticate_api_key

        api_key = authenticate_api_key(raw)
        if api_key is None:
            _note_failure(request, credential=_key_prefix(raw))
            return None
        missing = self.scopes - set(api_key.scopes)
        if missing:
            raise AuthorizationError(403, f"This API key lacks the scope(s): {', '.join(sorted(missing))}.")
        return Principal(
            kind="channel", channel=api_key.channel, api_key=api_key, scopes=frozenset(api_key.scopes)
        )


def _session_user(request: HttpRequest):
    token = request.headers.get("X-Session-Token")
    if token:
        from allauth.headless.internal.sessionkit import authenticate_by_x_session_token

        found = authenticate_by_x_session_token(token)
        if found is None:
            _note_failure(request, credential=f"session:{token[:24]}")
            return None
        return found[0]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # A browser session cookie rides along on cross-site requests: unsafe methods need the CSRF token.
        if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
            raise AuthorizationError(403, "CSRF token missing or wrong for a cookie-authenticated request.")
        return user
    return None


class ShopperAuth(AuthBase):
    """A signed-in shopper. A staff user coming in this way acts as a shopper (their own data only):
    staff powers are granted only by `staff(permission)`, never by a shopper endpoint."""

    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "X-Session-Token"

    def __call__(self, request: HttpRequest) -> Principal | None:
        user = _session_user(request)
        if user is None or not user.is_active:
            return None
        return Principal(kind="shopper", user=user)


class StaffAuth(AuthBase):
    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "X-Session-Token"

    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions
        super().__init__()

    def __call__(self, request: HttpRequest) -> Principal | None:
        if _api_key_from(request):
            return None  # a channel key is not a staff credential; let the key's own auth answer
        user = _session_user(request)
        if user is None or not user.is_active or not user.is_staff:
            return None
        if self.permissions and not user.has_perms(self.permissions):
            raise AuthorizationError(403, f"Staff permission needed: {', '.join(self.permissions)}.")
        return Principal(kind="staff", user=user)


def presents_valid_credential(request: HttpRequest) -> bool:
    """Whether the request carries a credential we know (an active API key, a signed-in active user), so
    that an endpoint refusing it answers 403 rather than 401."""
    raw = _api_key_from(request)
    if raw:
        from omnishop.channels.services import authenticate_api_key

        return authenticate_api_key(raw) is not None
    token = request.headers.get("X-Session-Token")
    if token:
        from allauth.headless.internal.sessionkit import authenticate_by_x_session_token

        found = authenticate_by_x_session_token(token)
        return found is not None and found[0].is_active
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated and user.is_active


def channel_key(*scopes: str) -> ChannelKeyAuth:
    return ChannelKeyAuth(*scopes)


def staff(*permissions: str) -> StaffAuth:
    return StaffAuth(*permissions)


def shopper() -> ShopperAuth:
    return ShopperAuth()
