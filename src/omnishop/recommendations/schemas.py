"""Request and response shapes of the events and recommendations API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from omnishop.core.schemas import Id, InputSchema, OutputSchema

EventKind = Literal["view", "search", "add_to_cart", "purchase", "wishlist", "impression", "click"]


class EventIn(InputSchema):
    kind: EventKind
    product_id: Id | None = None
    variant_id: Id | None = None
    quantity: int = Field(1, ge=1, le=100_000)
    query: str | None = Field(None, max_length=500)
    result_ids: list[Id] = Field(default_factory=list, max_length=1000)
    occurred_at: datetime | None = None
    customer_id: Id | None = None
    anonymous_id: str | None = Field(None, max_length=64)
    placement: str | None = Field(
        None,
        max_length=40,
        description="impression and click: where the recommendations were shown (docs/recommendations.md"
        "#performance), e.g. product.similar. An impression lists the products shown in result_ids (or one in "
        "product_id); a click names the product followed and the shopper (customer_id or anonymous_id).",
    )


class EventBatchIn(InputSchema):
    channel: str | None = Field(None, max_length=50, description="Channel code; needed for shoppers.")
    # The real cap (MAX_BATCH) is checked by the service so the error names it; this only bounds parsing.
    events: list[EventIn] = Field(..., min_length=1, max_length=5000)


class RejectionOut(Schema):
    index: int
    code: str
    message: str
    field: str | None


class EventBatchOut(Schema):
    accepted: int
    rejected: list[RejectionOut]


class IdentifyIn(InputSchema):
    anonymous_id: str = Field(..., min_length=1, max_length=64)
    customer_id: Id | None = None


class IdentifyOut(Schema):
    linked: int


class RecommendationOut(OutputSchema):
    product_id: int
    title: str
    score: float
    reason: str


class RecommendationsOut(Schema):
    version: int | None
    items: list[RecommendationOut]


class VersionOut(OutputSchema):
    number: int
    status: str
    params: dict
    metrics: dict
    stats: dict
    message: str
    created_at: datetime
    finished_at: datetime | None
    activated_at: datetime | None


class VersionPage(Schema):
    items: list[VersionOut]
    next_cursor: str | None = None


class RetrainQueuedOut(Schema):
    status: str = Field(description="'queued': a new version is trained; the active one serves until then.")
