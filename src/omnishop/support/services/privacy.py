"""A customer's support data on request: everything exported as one JSON document, or erased.

Erasure keeps each conversation as an anonymised shell (number, inbox, status, times, SLA clocks, rating,
message and call counts) so the desk's figures stay right, and removes everything the customer or an agent
wrote or that identifies the customer: message bodies and raw MIME, subjects, sender names and addresses,
e-mail headers, attachments' files, callers' numbers, recording links and call notes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import Attachment, Call, Conversation, Message

FORMAT = "omnishop.support.export/1"


def export_customer(*, customer) -> dict[str, Any]:
    """Every conversation of the customer with its messages (internal notes included: they are about the
    customer), calls and attachments' metadata and checksums (the files themselves are listed, not inlined)."""
    conversations = (
        Conversation.objects.filter(customer=customer)
        .select_related("inbox", "order")
        .prefetch_related("tags", "messages__attachments", "calls__callback")
        .order_by("created_at", "pk")
    )
    return {
        "format": FORMAT,
        "customer": customer.pk,
        "exported_at": timezone.now().isoformat(),
        "conversations": [_conversation(c) for c in conversations],
    }


def _time(value) -> str | None:
    return value.isoformat() if value is not None else None


def _conversation(c: Conversation) -> dict[str, Any]:
    return {
        "number": c.number,
        "inbox": c.inbox.code,
        "subject": c.subject,
        "status": c.status,
        "priority": c.priority,
        "language": c.language,
        "order": c.order.number if c.order is not None else None,
        "tags": sorted(t.name for t in c.tags.all()),
        "satisfaction": c.satisfaction,
        "satisfaction_comment": c.satisfaction_comment,
        "created_at": _time(c.created_at),
        "resolved_at": _time(c.resolved_at),
        "messages": [
            {
                "id": m.pk,
                "direction": m.direction,
                "via": m.via,
                "sender_name": m.sender_name,
                "sender_address": m.sender_address,
                "subject": m.subject,
                "body_text": m.body_text,
                "body_html": m.body_html,
                "created_at": _time(m.created_at),
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.sha256,
                    }
                    for a in m.attachments.all()
                ],
                "refused_attachments": m.refused_attachments,
            }
            for m in c.messages.all()
        ],
        "calls": [
            {
                "sid": call.provider_sid,
                "from": call.from_number,
                "to": call.to_number,
                "outcome": call.outcome,
                "duration_seconds": call.duration_seconds,
                "recording_url": call.recording_url,
                "notes": call.notes,
                "started_at": _time(call.started_at),
                "ended_at": _time(call.ended_at),
                "called_back_at": _time(getattr(call, "callback", None) and call.callback.done_at),
            }
            for call in c.calls.all()
        ],
    }


@dataclass(frozen=True)
class Erasure:
    conversations: int
    messages: int
    attachments: int
    calls: int


def erase_customer(*, customer) -> Erasure:
    """Remove what identifies the customer from their conversations, keeping the shells for the figures.
    Attachments' files are deleted after the commit (a rolled-back erasure must not lose them)."""
    with transaction.atomic():
        conversation_ids = list(
            Conversation.objects.select_for_update().filter(customer=customer).values_list("pk", flat=True)
        )
        attachments = list(Attachment.objects.filter(message__conversation_id__in=conversation_ids))
        files = [a.file for a in attachments if a.file]
        Attachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()
        messages = Message.objects.filter(conversation_id__in=conversation_ids).update(
            sender_name="",
            sender_address="",
            subject="",
            body_raw="",
            body_text="",
            body_html="",
            # Message-IDs and provider ids often carry the sender's address: gone with the rest.
            external_id="",
            in_reply_to="",
            references="",
            auth_results={},
            refused_attachments=[],
        )
        calls = Call.objects.filter(conversation_id__in=conversation_ids).update(
            from_number="", recording_url="", notes=""
        )
        for pk in conversation_ids:
            # A new reply token: an old reply-to address can no longer reach the shell.
            Conversation.objects.filter(pk=pk).update(
                subject="",
                satisfaction_comment="",
                reply_token=secrets.token_urlsafe(24),
                updated_at=timezone.now(),
            )
        transaction.on_commit(lambda: [f.storage.delete(f.name) for f in files])
    return Erasure(
        conversations=len(conversation_ids), messages=messages, attachments=len(attachments), calls=calls
    )
