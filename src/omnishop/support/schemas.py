"""Request and response shapes of the support API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from omnishop.core.schemas import Id, InputSchema, OutputSchema, Page


class SenderIn(InputSchema):
    """Who wrote, as the channel knows them: at least one of these."""

    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=32)
    customer_id: Id | None = None
    channel_customer_id: str = Field("", max_length=200, description="The buyer's id on the channel.")
    name: str = Field("", max_length=200)


class AttachmentIn(InputSchema):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    content_base64: str = Field(min_length=1)


class ChannelMessageIn(InputSchema):
    sender: SenderIn
    text: str = Field("", max_length=100_000)
    html: str = Field("", max_length=500_000)
    subject: str = Field("", max_length=300)
    order_number: str = Field("", max_length=40)
    message_id: str = Field(
        "", max_length=200, description="The channel's own id of the message: the same id is stored once."
    )
    inbox: str = Field("", max_length=50, description="Inbox code; default the channel's messages inbox.")
    attachments: list[AttachmentIn] = Field(default_factory=list)


class RefusedAttachmentOut(OutputSchema):
    filename: str
    reason: str


class ChannelMessageOut(OutputSchema):
    conversation: str = Field(description="The conversation's public number, C-…")
    message_id: int
    created: bool
    refused_attachments: list[RefusedAttachmentOut]


class AttachmentOut(OutputSchema):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class SupportMessageOut(OutputSchema):
    id: int
    direction: str
    via: str
    author: str | None
    sender_name: str
    sender_address: str
    subject: str
    body_text: str
    body_html: str
    delivery_status: str
    created_at: datetime
    attachments: list[AttachmentOut]
    refused_attachments: list[RefusedAttachmentOut]

    @staticmethod
    def resolve_author(obj) -> str | None:
        return obj.author.get_username() if obj.author_id else None

    @staticmethod
    def resolve_attachments(obj) -> list:
        return list(obj.attachments.all())


class CallOut(OutputSchema):
    id: int
    provider_sid: str
    from_number: str
    outcome: str
    duration_seconds: int | None
    recording_url: str
    notes: str
    started_at: datetime
    ended_at: datetime | None


class ConversationOut(OutputSchema):
    number: str
    inbox: str
    customer_id: int
    order_number: str | None
    subject: str
    status: str
    snoozed_until: datetime | None
    priority: str
    assignee: str | None
    tags: list[str]
    language: str
    satisfaction: int | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    last_message_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_inbox(obj) -> str:
        return obj.inbox.code

    @staticmethod
    def resolve_order_number(obj) -> str | None:
        return obj.order.number if obj.order_id else None

    @staticmethod
    def resolve_assignee(obj) -> str | None:
        return obj.assignee.get_username() if obj.assignee_id else None

    @staticmethod
    def resolve_tags(obj) -> list[str]:
        return sorted(tag.name for tag in obj.tags.all())


class ConversationPage(Page):
    items: list[ConversationOut]


class ConversationDetailOut(ConversationOut):
    messages: list[SupportMessageOut]
    calls: list[CallOut]

    @staticmethod
    def resolve_messages(obj) -> list:
        return list(obj.messages.select_related("author").prefetch_related("attachments"))

    @staticmethod
    def resolve_calls(obj) -> list:
        return list(obj.calls.order_by("started_at", "pk"))


class ReplyIn(InputSchema):
    text: str = Field(min_length=1, max_length=100_000)
    html: str = Field("", max_length=500_000)
    note: bool = Field(False, description="An internal note: never sent to the customer.")
    then: Literal["open", "pending", "resolved"] | None = Field(
        None, description="The conversation's status after the reply."
    )


class ConversationPatch(InputSchema):
    status: Literal["open", "pending", "snoozed", "resolved"] | None = None
    snoozed_until: datetime | None = None
    assignee: Id | None = Field(None, description="A user id; null unassigns.")
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    tags: list[str] | None = Field(None, max_length=20)
