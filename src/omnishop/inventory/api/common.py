"""Shared pieces of the inventory API: routers, auth lists, channel isolation, serialisers."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from omnishop.auth import channel_key, staff
from omnishop.channels.models import Channel
from omnishop.channels.services import ChannelNotFound
from omnishop.core.errors import ValidationFailed

router = Router(tags=["inventory"])
channel_router = Router(tags=["inventory"])

READ = [channel_key("inventory:read"), staff("inventory.view_stocklevel")]
HOLD = [channel_key("inventory:write"), staff("inventory.change_stocklevel")]


def actor(request: HttpRequest) -> str:
    auth = request.auth
    if auth.kind == "channel":
        return f"channel:{auth.channel.code}"
    return f"user:{auth.user.pk}"


def visible_channel(request: HttpRequest, code: str | None) -> Channel:
    """The channel a request acts for: a key's own channel; staff name it. Others' channels do not exist."""
    auth = request.auth
    if auth.kind == "channel":
        if code is not None and code != auth.channel.code:
            raise ChannelNotFound(f"No channel '{code}'.", field="channel")
        return auth.channel
    if not code:
        raise ValidationFailed("Staff must name the channel.", field="channel")
    channel = Channel.objects.filter(code=code).first()
    if channel is None:
        raise ChannelNotFound(f"No channel '{code}'.", field="channel")
    return channel
