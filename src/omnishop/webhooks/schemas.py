"""Request and response schemas of the webhooks API (times ISO-8601 UTC)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from omnishop.core.schemas import InputSchema, Int32, OutputSchema, Page, RefusesNul
from omnishop.webhooks.models import HELD

DeliveryStatus = Literal["pending", "delivering", "succeeded", "failed", "cancelled"]


class WebhookEndpointIn(InputSchema):
    url: str = Field(
        min_length=1, max_length=2000, description="http:// or https:// URL that receives POSTs."
    )
    event_types: list[str] = Field(
        min_length=1, max_length=100, description="Exact types, families ('order.*') or '*' for all."
    )
    description: str = Field(default="", max_length=500)
    is_active: bool = True
    channel: str | None = Field(
        default=None,
        max_length=50,
        description="Staff only: the owning channel's code (a channel key owns its own).",
    )
    app_name: str = Field(
        default="", max_length=100, description="Who it serves; required without a channel."
    )


class WebhookEndpointPatch(InputSchema):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    is_active: bool | None = None


class WebhookEndpointOut(OutputSchema):
    """An endpoint as its owner sees it; the secret is never shown again after creation or rotation."""

    id: int
    channel: str | None
    app_name: str
    url: str
    description: str
    event_types: list[str]
    is_active: bool
    state: Literal["active", "inactive", "paused", "disabled"]
    paused_at: datetime | None
    pause_reason: str
    disabled_at: datetime | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret before the last rotation still signs deliveries (a second signature)."
    )
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_channel(obj) -> str | None:
        return obj.channel.code if obj.channel_id else None


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_…). Shown only in this response; store it now."
    )


class WebhookEndpointPage(Page):
    items: list[WebhookEndpointOut]


class WebhookAttemptOut(OutputSchema):
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error_code: str
    response_excerpt: str


class WebhookDeliveryOut(OutputSchema):
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    replayed_at: datetime | None
    attempt_log: list[WebhookAttemptOut]

    @staticmethod
    def resolve_next_attempt_at(obj) -> datetime | None:
        # Null unless pending and scheduled (a paused endpoint's deliveries wait for it to be resumed).
        if obj.status != "pending" or obj.next_attempt_at >= HELD:
            return None
        return obj.next_attempt_at

    @staticmethod
    def resolve_attempt_log(obj) -> list:
        return list(obj.attempt_log.all())


class WebhookDeliveryPage(Page):
    items: list[WebhookDeliveryOut]


class WebhookDeliveryFilters(RefusesNul):
    status: DeliveryStatus | None = None
    event_type: str | None = Field(default=None, max_length=100)
    cursor: str | None = None
    limit: Int32 = 20


class WebhookEndpointFilters(RefusesNul):
    channel: str | None = Field(
        default=None, max_length=50, description="Staff only: one channel's endpoints."
    )
    cursor: str | None = None
    limit: Int32 = 20


class WebhookReplayIn(InputSchema):
    since: datetime = Field(description="Replay deliveries created at or after this time.")
    until: datetime | None = Field(default=None, description="…and before this time (default: now).")
    status: list[DeliveryStatus] = Field(
        default_factory=list, max_length=5, description="Only deliveries in these statuses (default: all)."
    )


class WebhookReplayOut(OutputSchema):
    replayed: int = Field(description="How many deliveries were queued to be sent again.")


class WebhookEventTypesOut(OutputSchema):
    items: list[str]
