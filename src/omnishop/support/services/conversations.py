"""Receiving and answering messages: every channel's message becomes part of one conversation per customer
problem, bound to the unified customer and, where it can tell, to the order it is about."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import nh3
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation

from omnishop.channels.models import Channel
from omnishop.customers import services as customers

from ..errors import (
    ConversationNotFound,
    EmptyMessage,
    InvalidConversationTransition,
    InvalidRating,
    NotAnInboxMember,
    OrderOfAnotherCustomer,
    SenderRequired,
    SnoozeNeedsTime,
)
from ..models import Attachment, Conversation, Inbox, Message, Tag
from . import assignment, sla, threading

Status = Conversation.Status

# Attachments: what an agent's browser may be handed. Anything else is refused with its reason, never stored.
ALLOWED_TYPES = {
    "application/pdf",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "text/plain",
    "text/csv",
}
DANGEROUS_SUFFIXES = (
    ".exe",
    ".bat",
    ".cmd",
    ".com",
    ".js",
    ".jar",
    ".msi",
    ".scr",
    ".vbs",
    ".ps1",
    ".html",
    ".htm",
    ".svg",
)


def max_attachment_bytes() -> int:
    return int(getattr(settings, "OMNISHOP_SUPPORT_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))


@dataclass(frozen=True)
class IncomingAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass
class Incoming:
    """One message as a channel delivered it, before it is threaded."""

    via: str
    body_text: str = ""
    body_html: str = ""
    body_raw: str = ""
    subject: str = ""
    sender_email: str = ""
    sender_phone: str = ""
    sender_name: str = ""
    customer: object | None = None  # a signed-in shopper: already known
    external_id: str = ""  # Message-ID, provider id or idempotency key: the same message is stored once
    in_reply_to: str = ""
    references: str = ""
    reply_token: str = ""
    auth_results: dict = field(default_factory=dict)
    attachments: Sequence[IncomingAttachment] = ()
    language: str = ""
    received_at: datetime | None = None
    direction: str = Message.Direction.INBOUND


def sanitise_html(html: str) -> str:
    """What an agent's browser may render of a message's HTML: no script, no event handlers, no styles."""
    if not html:
        return ""
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")


def new_number() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "C-" + "".join(secrets.choice(alphabet) for _ in range(10))


def sender_verified(auth_results: dict) -> bool:
    """An e-mail whose provider reports SPF or DKIM failing may not act on orders (spoofed sender)."""
    verdicts = {str(auth_results.get(k, "")).lower() for k in ("spf", "dkim", "dmarc")}
    return not verdicts & {"fail", "softfail", "permerror"}


def _channel_for(inbox: Inbox) -> Channel:
    if inbox.channel is not None:
        return inbox.channel
    channel = (
        Channel.objects.filter(kind=Channel.Kind.WEB).order_by("pk").first()
        or Channel.objects.order_by("pk").first()
    )
    if channel is None:
        raise SenderRequired("No sales channel exists to resolve the sender's customer.", field="inbox")
    return channel


def _customer_for(inbox: Inbox, incoming: Incoming):
    if incoming.customer is not None:
        return incoming.customer
    if not (incoming.sender_email or incoming.sender_phone):
        raise SenderRequired(field="sender")
    first, _, last = (incoming.sender_name or "").strip().partition(" ")
    if incoming.sender_email and not incoming.sender_phone:
        # Most mail comes from senders the channel knows by e-mail: one exact lookup instead of the search.
        known = customers.resolve_known_email(
            channel=_channel_for(inbox), email=incoming.sender_email, first_name=first, last_name=last
        )
        if known is not None:
            return known
    return customers.resolve_customer(
        channel=_channel_for(inbox),
        email=incoming.sender_email or None,
        phone=incoming.sender_phone or None,
        first_name=first,
        last_name=last,
    ).customer


def _check_attachment(item: IncomingAttachment) -> str:
    """Why an attachment is refused, or '' when it is kept."""
    name = item.filename.lower()
    if len(item.content) > max_attachment_bytes():
        return f"larger than {max_attachment_bytes() // (1024 * 1024)} MiB"
    if name.endswith(DANGEROUS_SUFFIXES):
        return "a file type that can run code"
    if item.content_type.split(";")[0].strip().lower() not in ALLOWED_TYPES:
        return f"type {item.content_type or 'unknown'} is not accepted"
    return ""


def receive(*, inbox: Inbox, incoming: Incoming, known_new: bool = False) -> Message:
    """Store a message from a channel in its conversation: the same message (same external id) is stored once.

    One transaction per message, the sender's customer resolved inside it (a failed message leaves no
    customer behind). `known_new`: the caller has just looked the external id up and found nothing."""
    if incoming.external_id and not known_new:
        existing = Message.objects.filter(via=incoming.via, external_id=incoming.external_id).first()
        if existing is not None:
            return existing
    if not (incoming.body_text.strip() or incoming.body_html.strip() or incoming.attachments):
        raise EmptyMessage(field="body")
    if incoming.customer is None and not (incoming.sender_email or incoming.sender_phone):
        raise SenderRequired(field="sender")
    numbers = threading.order_numbers_in(incoming.subject, incoming.body_text)
    now = incoming.received_at or timezone.now()
    try:
        with transaction.atomic():
            customer = _customer_for(inbox, incoming)
            conversation = None
            if (
                incoming.reply_token
            ):  # the conversation the message names (a chat's next message), found locked
                conversation = (
                    Conversation.objects.select_for_update().filter(reply_token=incoming.reply_token).first()
                )
            if conversation is None:
                conversation = threading.find_conversation(
                    customer=customer,
                    in_reply_to=incoming.in_reply_to,
                    references=incoming.references,
                    order_numbers=numbers,
                    lock=True,  # found and locked in one statement
                )
            if conversation is None:
                order = threading.order_for(customer=customer, email=incoming.sender_email, numbers=numbers)
                conversation = _open(inbox, customer, incoming, now, order=order)
            else:
                before = _values(conversation)
                _wake(conversation, now)
                if conversation.order_id is None:
                    order = threading.order_for(
                        customer=customer, email=incoming.sender_email, numbers=numbers
                    )
                    if order is not None:
                        conversation.order = order
                        conversation.return_request = threading.open_return_of(order)
                if incoming.via == Message.Via.EMAIL:
                    conversation.sender_verified = sender_verified(incoming.auth_results)
                conversation.last_message_at = now
                # Only the columns this message changed (the row is locked, so nothing else is overwritten).
                changed = [name for name, value in _values(conversation).items() if before[name] != value]
                conversation.save(update_fields=[*changed, "updated_at"])
            return _store(conversation, incoming, now)
    except IntegrityError:
        if incoming.external_id:  # the same message arrived twice at the same moment: keep the first
            existing = Message.objects.filter(via=incoming.via, external_id=incoming.external_id).first()
            if existing is not None:
                return existing
        raise


def _values(conversation: Conversation) -> dict:
    return {f.name: getattr(conversation, f.attname) for f in Conversation._meta.concrete_fields}


def _open(inbox: Inbox, customer, incoming: Incoming, now: datetime, *, order=None) -> Conversation:
    """A new conversation, written once (its order and sender check known before the INSERT)."""
    conversation = Conversation(
        number=new_number(),
        inbox=inbox,
        customer=customer,
        order=order,
        return_request=threading.open_return_of(order) if order is not None else None,
        subject=(incoming.subject or incoming.body_text.strip().split("\n")[0])[:300],
        language=incoming.language or inbox.language,
        reply_token=secrets.token_urlsafe(24),
        team=inbox.team,
        last_message_at=now,
    )
    if incoming.via == Message.Via.EMAIL:
        conversation.sender_verified = sender_verified(incoming.auth_results)
    conversation.created_at = now
    conversation.assignee = assignment.choose_assignee(inbox)
    sla.set_due_times(conversation, inbox.sla_policy)
    conversation.save()
    return conversation


def _wake(conversation: Conversation, now: datetime) -> None:
    """The customer wrote again: a resolved, snoozed or pending conversation is open again."""
    if conversation.status == Status.PENDING:
        _resume_clock(conversation, now)
    if conversation.status == Status.RESOLVED:
        conversation.resolved_at = None
        conversation.satisfaction = None
        conversation.satisfaction_comment = ""
    conversation.status = Status.OPEN
    conversation.snoozed_until = None


def _resume_clock(conversation: Conversation, now: datetime) -> None:
    if conversation.pending_since is not None:
        policy = conversation.inbox.sla_policy
        conversation.sla_paused_minutes += sla.business_minutes_between(
            policy, conversation.pending_since, now
        )
        conversation.pending_since = None
        sla.set_due_times(conversation, policy)


def _store(conversation: Conversation, incoming: Incoming, now: datetime) -> Message:
    """The message and its kept attachments in two INSERTs at most: the attachments are checked first, so the
    refused ones are part of the message's row and all kept ones go in one statement."""
    kept, refused = [], []
    for item in incoming.attachments:
        reason = _check_attachment(item)
        if reason:
            refused.append({"filename": item.filename, "reason": reason})
        else:
            kept.append(item)
    message = Message.objects.create(
        conversation=conversation,
        direction=incoming.direction,
        via=incoming.via,
        sender_name=incoming.sender_name[:200],
        sender_address=(incoming.sender_email or incoming.sender_phone)[:254],
        subject=incoming.subject[:300],
        body_raw=incoming.body_raw or incoming.body_html or incoming.body_text,
        body_text=incoming.body_text,
        body_html=sanitise_html(incoming.body_html),
        external_id=incoming.external_id[:300],
        in_reply_to=incoming.in_reply_to[:300],
        references=incoming.references,
        auth_results=incoming.auth_results,
        refused_attachments=refused,
        created_at=now,
    )
    attachments = []
    for item in kept:
        attachment = Attachment(
            message=message,
            filename=item.filename[:255],
            content_type=item.content_type[:100],
            size=len(item.content),
            sha256=hashlib.sha256(item.content).hexdigest(),
        )
        attachment.file.save(item.filename[-100:] or "attachment", ContentFile(item.content), save=False)
        attachments.append(attachment)
    if attachments:
        Attachment.objects.bulk_create(attachments)
    return message


# --- Answering -------------------------------------------------------------------------------------------

# Outbound senders by `via` (e-mail, chat, …), registered by the channel modules; called after commit.
_SENDERS: dict[str, Callable[[Message], None]] = {}


def register_sender(via: str, send: Callable[[Message], None]) -> None:
    _SENDERS[via] = send


def sender_for(via: str) -> Callable[[Message], None] | None:
    """The sender registered for a channel (the chat hands an answer to e-mail when the shopper has gone)."""
    return _SENDERS.get(via)


def reply(
    *,
    conversation: Conversation,
    author,
    body_text: str,
    body_html: str = "",
    via: str | None = None,
    note: bool = False,
    then: str | None = None,
) -> Message:
    """An agent's answer (sent through the conversation's channel after commit) or internal note."""
    if not body_text.strip() and not body_html.strip():
        raise EmptyMessage(field="body")
    via = via or _last_inbound_via(conversation)
    now = timezone.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))  # the SLA policy is an outer join
            .select_related("inbox__sla_policy")
            .get(pk=conversation.pk)
        )
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.NOTE if note else Message.Direction.OUTBOUND,
            via=Message.Via.DESK if note else via,
            author=author,
            sender_name=(author.get_full_name() or author.get_username()) if author else "",
            body_text=body_text,
            body_raw=body_html or body_text,
            body_html=sanitise_html(body_html),
            delivery_status="" if note else "queued",
        )
        if not note:
            if conversation.first_response_at is None:
                conversation.first_response_at = now
            conversation.last_message_at = now
            if conversation.assignee_id is None and author is not None:
                conversation.assignee = author
        conversation.save()
        if then:
            _move(conversation, then, actor=author, now=now)
        if not note:
            send = _SENDERS.get(message.via)
            if send is not None:
                transaction.on_commit(lambda: send(message))
            else:
                Message.objects.filter(pk=message.pk).update(delivery_status="stored")
                message.delivery_status = "stored"  # the shopper reads it where they wrote (chat, account)
    return message


def _last_inbound_via(conversation: Conversation) -> str:
    last = (
        conversation.messages.filter(direction=Message.Direction.INBOUND)
        .order_by("-created_at", "-pk")
        .first()
    )
    if last is not None and last.via not in (Message.Via.PHONE, Message.Via.CONTACT_FORM):
        return last.via
    return Message.Via.EMAIL  # a call or the contact form is answered by e-mail


def record_event(*, conversation: Conversation, text: str, author=None) -> Message:
    """Something done for the customer (a refund, a call), shown in the conversation's thread."""
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.EVENT,
        via=Message.Via.DESK,
        author=author,
        body_text=text,
    )


# --- Status, assignment, tags, links ---------------------------------------------------------------------

TRANSITIONS: dict[str, set[str]] = {
    Status.OPEN: {Status.PENDING, Status.SNOOZED, Status.RESOLVED},
    Status.PENDING: {Status.OPEN, Status.SNOOZED, Status.RESOLVED},
    Status.SNOOZED: {Status.OPEN, Status.PENDING, Status.RESOLVED},
    Status.RESOLVED: {Status.OPEN},
}


def set_status(
    *, conversation: Conversation, status: str, snoozed_until: datetime | None = None, actor=None
) -> Conversation:
    now = timezone.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))  # the SLA policy is an outer join
            .select_related("inbox__sla_policy")
            .get(pk=conversation.pk)
        )
        _move(conversation, status, actor=actor, now=now, snoozed_until=snoozed_until)
    return conversation


def _move(conversation: Conversation, status: str, *, actor, now: datetime, snoozed_until=None) -> None:
    if status not in TRANSITIONS.get(conversation.status, set()):
        raise InvalidConversationTransition(
            f"A {_english(Status(conversation.status).label).lower()} conversation cannot become {status}.",
            field="status",
        )
    if status == Status.SNOOZED and (snoozed_until is None or snoozed_until <= now):
        raise SnoozeNeedsTime(field="snoozed_until")
    if conversation.status == Status.PENDING:
        _resume_clock(conversation, now)
    if status == Status.PENDING:
        conversation.pending_since = now
    if status == Status.RESOLVED:
        conversation.resolved_at = now
    if conversation.status == Status.RESOLVED:
        conversation.resolved_at = None
    conversation.snoozed_until = snoozed_until if status == Status.SNOOZED else None
    conversation.status = status
    conversation.save()
    record_event(
        conversation=conversation,
        text=f"Status: {_english(Status(conversation.status).label)}.",
        author=actor,
    )


def wake_snoozed(*, now: datetime | None = None) -> int:
    """Snoozed conversations whose time has come are open again (a periodic job)."""
    now = now or timezone.now()
    return Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=now).update(
        status=Status.OPEN, snoozed_until=None
    )


def assign(*, conversation: Conversation, assignee, actor=None) -> Conversation:
    if assignee is not None and not conversation.inbox.members.filter(pk=assignee.pk).exists():
        raise NotAnInboxMember(f"{assignee} is not an agent of {conversation.inbox}.", field="assignee")
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee", "updated_at"])
    who = assignee.get_username() if assignee else "nobody"
    record_event(conversation=conversation, text=f"Assigned to {who}.", author=actor)
    return conversation


def set_priority(*, conversation: Conversation, priority: str) -> Conversation:
    if priority not in Conversation.Priority.values:
        raise InvalidConversationTransition(f"Unknown priority '{priority}'.", field="priority")
    conversation.priority = priority
    conversation.save(update_fields=["priority", "updated_at"])
    return conversation


def set_tags(*, conversation: Conversation, names: Sequence[str]) -> Conversation:
    tags = [Tag.objects.get_or_create(name=name.strip().lower()[:50])[0] for name in names if name.strip()]
    conversation.tags.set(tags)
    return conversation


def link_order(*, conversation: Conversation, order, actor=None) -> Conversation:
    """The agent says which order the conversation is about (None unlinks)."""
    if order is not None and order.customer_id not in (None, conversation.customer_id):
        raise OrderOfAnotherCustomer(field="order")
    conversation.order = order
    conversation.return_request = threading.open_return_of(order) if order is not None else None
    conversation.save(update_fields=["order", "return_request", "updated_at"])
    text = f"Linked to order {order.number}." if order is not None else "Unlinked from its order."
    record_event(conversation=conversation, text=text, author=actor)
    return conversation


def rate(*, conversation: Conversation, rating: int, comment: str = "") -> Conversation:
    """The customer's satisfaction after resolution (CSAT, 1-5)."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidRating(field="rating")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status != Status.RESOLVED:
            raise InvalidConversationTransition("Only a resolved conversation can be rated.", field="status")
        conversation.satisfaction = rating
        conversation.satisfaction_comment = comment[:2000]
        conversation.save(update_fields=["satisfaction", "satisfaction_comment", "updated_at"])
    return conversation


# --- Reading ---------------------------------------------------------------------------------------------


def visible_to(user) -> QuerySet:
    """Conversations an agent may see: those of the inboxes they belong to (all of them for superusers)."""
    qs = Conversation.objects.select_related("inbox", "customer", "order", "assignee")
    if user.is_superuser:
        return qs
    return qs.filter(inbox__members=user)


def get_for_agent(*, user, number: str) -> Conversation:
    conversation = visible_to(user).filter(number=number).first()
    if conversation is None:
        raise ConversationNotFound(field="number")  # not yours is answered like not there
    return conversation


def of_customer(customer) -> QuerySet:
    return (
        Conversation.objects.filter(customer=customer)
        .select_related("inbox", "order")
        .order_by("-last_message_at", "-pk")
    )


def _english(label) -> str:
    """A choice's (lazy) label as stored in the timeline and API errors: English, whatever the agent's
    language. Pass the label itself: get_FOO_display() has already translated it."""
    with translation.override("en"):
        return str(label)
