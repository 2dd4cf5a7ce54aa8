"""Agents' answers sent by e-mail through Django's e-mail backend (SMTP or a provider's anymail backend): a
Message-ID of ours kept as the message's external id, In-Reply-To/References to the customer's last e-mail,
the conversation's tokenised Reply-To and its number in the subject, so the customer's answer threads back.
Whether it went out is recorded on the message (sent / failed) and a failure also in the conversation."""

from __future__ import annotations

import logging
import re
import smtplib
from email.utils import formataddr, make_msgid

from anymail.exceptions import AnymailError
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from ..models import Message
from .conversations import record_event
from .email_in import reply_address

log = logging.getLogger(__name__)
SUBJECT_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|fwd?|fw|回复|答复)\s*[:：]\s*)+", re.IGNORECASE)
NUMBER_TAG = re.compile(r"\s*\[C-[A-Z0-9]+\]\s*$")


def subject_for(message: Message) -> str:
    conversation = message.conversation
    base = NUMBER_TAG.sub("", SUBJECT_PREFIX.sub("", conversation.subject or "")).strip()
    return f"Re: {base or 'Your message'} [{conversation.number}]"


def _last_inbound(message: Message) -> Message | None:
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Message.Direction.INBOUND,
            via=Message.Via.EMAIL,
        )
        .exclude(external_id="")
        .order_by("-created_at", "-pk")
        .first()
    )


def recipient_of(message: Message) -> str:
    last = (
        Message.objects.filter(conversation_id=message.conversation_id, direction=Message.Direction.INBOUND)
        .exclude(sender_address="")
        .filter(sender_address__contains="@")
        .order_by("-created_at", "-pk")
        .first()
    )
    return last.sender_address if last is not None else (message.conversation.customer.email or "")


def build(message: Message) -> EmailMultiAlternatives:
    """The e-mail of an outbound message, with the headers that make the customer's reply thread back."""
    conversation = message.conversation
    inbox = conversation.inbox
    domain = inbox.address.rpartition("@")[2] or "localhost"
    if not message.external_id:
        message.external_id = make_msgid(domain=domain)
    headers = {"Message-ID": message.external_id, "X-Auto-Response-Suppress": "OOF, AutoReply"}
    last = _last_inbound(message)
    if last is not None:
        headers["In-Reply-To"] = last.external_id
        references = [*re.findall(r"<[^<>\s]+>", last.references), last.external_id]
        headers["References"] = " ".join(dict.fromkeys(references))
    mail = EmailMultiAlternatives(
        subject=subject_for(message),
        body=message.body_text,
        from_email=formataddr((inbox.name, inbox.address)) if inbox.address else settings.DEFAULT_FROM_EMAIL,
        to=[recipient_of(message)],
        reply_to=[reply_address(conversation)],
        headers=headers,
    )
    if message.body_html:
        mail.attach_alternative(message.body_html, "text/html")
    return mail


def send(message: Message) -> None:
    """The e-mail sender registered for `via=email`: runs after the reply's commit."""
    mail = build(message)
    Message.objects.filter(pk=message.pk).update(external_id=message.external_id)
    if not mail.to or not mail.to[0]:
        _failed(message, "the customer has no e-mail address")
        return
    try:
        mail.send(fail_silently=False)
    except (smtplib.SMTPException, OSError, AnymailError) as error:
        _failed(message, f"{type(error).__name__}: {error}")
        return
    Message.objects.filter(pk=message.pk).update(delivery_status="sent")
    message.delivery_status = "sent"


def _failed(message: Message, reason: str) -> None:
    log.warning("support e-mail %s not sent: %s", message.external_id, reason)
    Message.objects.filter(pk=message.pk).update(delivery_status="failed")
    message.delivery_status = "failed"
    record_event(conversation=message.conversation, text=f"The e-mail reply was not sent: {reason}")


def resend_failed() -> int:
    """Send again the e-mail replies that failed (a periodic job or an agent's retry); returns how many went."""
    sent = 0
    for message in Message.objects.filter(
        via=Message.Via.EMAIL, direction=Message.Direction.OUTBOUND, delivery_status="failed"
    ).select_related("conversation__inbox", "conversation__customer"):
        send(message)
        sent += message.delivery_status == "sent"
    return sent
