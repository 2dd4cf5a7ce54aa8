"""Channels API: list and read channels; staff create channels and issue or revoke their API keys."""

import orjson
from django.http import HttpRequest
from ninja import Router

from omnishop.auth import channel_key, staff
from omnishop.core.errors import NotFound, PermissionDenied
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.schemas import ERRORS

from . import services
from .models import ApiKey, Channel
from .schemas import ApiKeyIn, ApiKeyOut, ChannelIn, ChannelOut, IssuedKeyOut

router = Router(tags=["channels"])


@router.get(
    "", response={200: list[ChannelOut], **ERRORS}, auth=[channel_key(), staff("channels.view_channel")]
)
def list_channels(request: HttpRequest):
    """Staff see every channel; a channel key sees only its own channel."""
    if request.auth.kind == "channel":
        return [request.auth.channel]
    return list(Channel.objects.all())


@router.get(
    "/{code}", response={200: ChannelOut, **ERRORS}, auth=[channel_key(), staff("channels.view_channel")]
)
def get_channel(request: HttpRequest, code: str):
    channel = services.get_channel(code)
    if not request.auth.can_see_channel(channel):
        raise services.ChannelNotFound(f"No channel '{code}'.", field="code")
    return channel


@router.post("", response={201: ChannelOut, **ERRORS}, auth=[staff("channels.add_channel")])
def create_channel(request: HttpRequest, body: ChannelIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    return idempotent(
        request, idempotency_key, 201, lambda: ChannelOut.from_orm(services.create_channel(**body.dict()))
    )


@router.get(
    "/{code}/api-keys", response={200: list[ApiKeyOut], **ERRORS}, auth=[staff("channels.view_apikey")]
)
def list_api_keys(request: HttpRequest, code: str):
    channel = services.get_channel(code)
    return list(channel.api_keys.select_related("channel"))


def _without_secret(body: bytes) -> bytes:
    data = orjson.loads(body)
    data["key"] = None
    return orjson.dumps(data)


@router.post("/{code}/api-keys", response={201: IssuedKeyOut, **ERRORS}, auth=[staff("channels.add_apikey")])
def issue_api_key(
    request: HttpRequest,
    code: str,
    body: ApiKeyIn,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """Issue a key. A replay under the same Idempotency-Key returns the key's record with `key: null`:
    the secret is never stored, so a client that lost the first response revokes and issues again."""
    channel = services.get_channel(code)

    def build():
        issued = services.issue_api_key(
            channel=channel,
            name=body.name,
            scopes=body.scopes,
            created_by=request.auth.user,
            expires_at=body.expires_at,
        )
        issued.api_key.key = issued.secret  # shown in this one answer, never stored
        return IssuedKeyOut.from_orm(issued.api_key)

    return idempotent(request, idempotency_key, 201, build, schema=IssuedKeyOut, redact=_without_secret)


@router.post(
    "/{code}/api-keys/{prefix}/revoke",
    response={200: ApiKeyOut, **ERRORS},
    auth=[staff("channels.change_apikey")],
)
def revoke_api_key(request: HttpRequest, code: str, prefix: str):
    api_key = ApiKey.objects.select_related("channel").filter(channel__code=code, prefix=prefix).first()
    if api_key is None:
        raise NotFound(f"No key '{prefix}' on channel '{code}'.", field="prefix")
    return services.revoke_api_key(api_key=api_key)


@router.get("/me/key", response={200: ApiKeyOut, **ERRORS}, auth=[channel_key()])
def current_key(request: HttpRequest):
    """What the calling key is: its channel and scopes (for integration set-up checks)."""
    if request.auth.kind != "channel":
        raise PermissionDenied("Only a channel key has a key to describe.")
    return request.auth.api_key
