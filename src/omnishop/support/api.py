"""The support desk's REST API under /api/v1/support (parse → call a service → serialise).

Channels hand over their buyers' messages (`POST /messages`, scope `support:write`); staff list, read and
answer the conversations of the inboxes they belong to."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from ninja import Router

from omnishop.auth import channel_key, staff
from omnishop.core.errors import ValidationFailed
from omnishop.core.http import dumps
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent, run_idempotent
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS, Id, Int32, conform

from . import (
    errors,  # noqa: F401  (the codes are published with the API)
    services,
)
from .errors import InvalidAttachment, NotAnInboxMember
from .models import Conversation
from .schemas import (
    ChannelMessageIn,
    ChannelMessageOut,
    ConversationDetailOut,
    ConversationOut,
    ConversationPage,
    ConversationPatch,
    ReplyIn,
    SupportMessageOut,
)
from .services import channel_messages

router = Router(tags=["support"])

VIEW = staff("support.view_conversation")
ANSWER = staff("support.view_conversation", "support.add_message")
CHANGE = staff("support.view_conversation", "support.change_conversation")


def _attachments(body: ChannelMessageIn) -> list[services.IncomingAttachment]:
    out = []
    for index, item in enumerate(body.attachments):
        try:
            content = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidAttachment(field=f"attachments[{index}].content_base64") from None
        out.append(services.IncomingAttachment(item.filename, item.content_type, content))
    return out


@router.post(
    "/messages",
    response={200: ChannelMessageOut, 201: ChannelMessageOut, **ERRORS},
    auth=channel_key("support:write"),
)
def post_channel_message(
    request: HttpRequest, body: ChannelMessageIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """A buyer's message from the channel (marketplace, app): 201 when stored, 200 when the channel's
    `message_id` was stored before (nothing changes)."""

    def work():
        received = channel_messages.receive_from_channel(
            channel=request.auth.channel,
            sender=channel_messages.ChannelSender(**body.sender.dict()),
            text=body.text,
            html=body.html,
            subject=body.subject,
            order_number=body.order_number,
            message_id=body.message_id,
            inbox_code=body.inbox,
            attachments=_attachments(body),
        )
        message = received.message
        data = {
            "conversation": message.conversation.number,
            "message_id": message.pk,
            "created": received.created,
            "refused_attachments": message.refused_attachments,
        }
        return (201 if received.created else 200), dumps(conform(ChannelMessageOut, data))

    return run_idempotent(
        request,
        scope=request.auth.idempotency_scope,
        key=idempotency_key,
        operation=f"{request.method} {request.path}",
        work=work,
    )


@router.get("/conversations", response={200: ConversationPage, **ERRORS}, auth=[VIEW])
def list_conversations(
    request: HttpRequest,
    status: str | None = None,
    inbox: str | None = None,
    assignee: str | None = None,
    order: str | None = None,
    customer: Id | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
):
    """Conversations of the caller's inboxes, latest message first. `assignee=me`, a user id or `none`."""
    qs = services.visible_to(request.auth.user).prefetch_related("tags")
    if status:
        if status not in Conversation.Status.values:
            raise ValidationFailed(f"Unknown status '{status}'.", field="status")
        qs = qs.filter(status=status)
    if inbox:
        qs = qs.filter(inbox__code=inbox)
    if assignee == "me":
        qs = qs.filter(assignee=request.auth.user)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        if not assignee.isdigit():
            raise ValidationFailed("assignee is 'me', 'none' or a user id.", field="assignee")
        qs = qs.filter(assignee_id=int(assignee))
    if order:
        qs = qs.filter(order__number=order.upper())
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    page = paginate(qs, cursor=cursor, limit=limit, ordering="-created_at", allowed=("created_at",))
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/conversations/{number}", response={200: ConversationDetailOut, **ERRORS}, auth=[VIEW])
def get_conversation(request: HttpRequest, number: str):
    """One conversation with its whole thread: messages, internal notes, events and calls."""
    return services.get_for_agent(user=request.auth.user, number=number)


@router.post("/conversations/{number}/messages", response={201: SupportMessageOut, **ERRORS}, auth=[ANSWER])
def reply_to_conversation(
    request: HttpRequest, number: str, body: ReplyIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """An answer to the customer (sent through the conversation's channel) or, with `note`, an internal note."""
    conversation = services.get_for_agent(user=request.auth.user, number=number)

    def build():
        return services.reply(
            conversation=conversation,
            author=request.auth.user,
            body_text=body.text,
            body_html=body.html,
            note=body.note,
            then=body.then,
        )

    return idempotent(request, idempotency_key, 201, build, schema=SupportMessageOut)


@router.patch("/conversations/{number}", response={200: ConversationOut, **ERRORS}, auth=[CHANGE])
def change_conversation(request: HttpRequest, number: str, body: ConversationPatch):
    """Change status (with `snoozed_until` for snoozed), assignee (null: nobody), priority or tags."""
    user = request.auth.user
    conversation = services.get_for_agent(user=user, number=number)
    changes = body.dict(exclude_unset=True)
    if "assignee" in changes:
        assignee = None
        if changes["assignee"] is not None:
            assignee = get_user_model().objects.filter(pk=changes["assignee"]).first()
            if assignee is None:
                raise NotAnInboxMember(f"No agent {changes['assignee']}.", field="assignee")
        conversation = services.assign(conversation=conversation, assignee=assignee, actor=user)
    if changes.get("priority"):
        conversation = services.set_priority(conversation=conversation, priority=changes["priority"])
    if changes.get("tags") is not None:
        conversation = services.set_tags(conversation=conversation, names=changes["tags"])
    if changes.get("status"):
        snoozed_until: datetime | None = changes.get("snoozed_until")
        if changes["status"] != conversation.status or snoozed_until is not None:
            services.set_status(
                conversation=conversation, status=changes["status"], snoozed_until=snoozed_until, actor=user
            )
    return services.get_for_agent(user=user, number=number)
