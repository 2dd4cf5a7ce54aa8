"""The shop's contact form as a desk channel: each `storefront.ContactMessage` also becomes a message in the
contact-form inbox (made on demand, bound to the web shop), threaded like any other message, so agents
answer it from the desk by e-mail. Its external id is "contact:<pk>": taking a message over twice, or
taking over the backlog again, stores it once. The form's rate limit per client address lives here too."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction

from omnishop.channels.models import Channel
from omnishop.core.errors import RateLimited
from omnishop.core.ratelimit import count_hit
from omnishop.storefront.models import ContactMessage

from ..models import Inbox, Message
from .conversations import Incoming, receive

INBOX_CODE = "contact-form"
WINDOW_SECONDS = 3600


def contact_inbox(channel: Channel | None = None) -> Inbox:
    """The inbox of kind contact_form (the first one, or one made now, bound to the web shop)."""
    inbox = Inbox.objects.filter(kind=Inbox.Kind.CONTACT_FORM, is_active=True).order_by("pk").first()
    if inbox is not None:
        return inbox
    channel = channel or Channel.objects.filter(kind=Channel.Kind.WEB).order_by("pk").first()
    inbox, _ = Inbox.objects.get_or_create(
        code=INBOX_CODE,
        defaults={
            "name": "Contact form",
            "kind": Inbox.Kind.CONTACT_FORM,
            "channel": channel,
            "language": (channel.locale.split("-")[0] if channel is not None and channel.locale else "en"),
        },
    )
    return inbox


def external_id(contact_message: ContactMessage) -> str:
    return f"contact:{contact_message.pk}"


def take_over(contact_message: ContactMessage) -> Message:
    """The contact message as a desk message (the same one twice is stored once)."""
    number = contact_message.order_number.strip()
    first_line = contact_message.message.strip().split("\n")[0][:200]
    subject = f"Order {number}: {first_line}" if number else first_line
    with transaction.atomic():
        return receive(
            inbox=contact_inbox(contact_message.channel),
            incoming=Incoming(
                via=Message.Via.CONTACT_FORM,
                body_text=contact_message.message,
                subject=subject[:300],
                sender_email=contact_message.email,
                sender_name=contact_message.name,
                customer=contact_message.customer,
                external_id=external_id(contact_message),
                received_at=contact_message.created_at,
            ),
        )


def submit(*, channel: Channel, customer, email: str, name: str, order_number: str, message: str) -> Message:
    """A shopper's contact-form message: kept as a ContactMessage and, in the same transaction, a message on
    the desk's contact-form inbox (nothing half-written if either fails)."""
    with transaction.atomic():
        sent = ContactMessage.objects.create(
            channel=channel,
            customer=customer,
            email=email,
            name=name,
            order_number=order_number,
            message=message,
        )
        return take_over(sent)


def take_over_all() -> int:
    """Every contact message not yet on the desk (the backlog from before the desk); returns how many."""
    done = set(
        Message.objects.filter(via=Message.Via.CONTACT_FORM, external_id__startswith="contact:").values_list(
            "external_id", flat=True
        )
    )
    taken = 0
    for contact_message in ContactMessage.objects.select_related("channel", "customer").order_by(
        "created_at", "pk"
    ):
        if external_id(contact_message) in done:
            continue
        take_over(contact_message)
        taken += 1
    return taken


def limit_per_hour() -> int:
    return int(getattr(settings, "OMNISHOP_CONTACT_FORM_PER_HOUR", 5))


def check_rate(*, client: str) -> None:
    """Count one contact-form submission from this client address; past the hourly limit, RateLimited.

    The counter is in the shared cache, like the failed-log-in limits (omnishop.auth), so every worker and
    process counts together."""
    bucket = "contactform:" + hashlib.sha256(client.encode(errors="replace")).hexdigest()[:32]
    if count_hit(bucket, window_seconds=WINDOW_SECONDS) > limit_per_hour():
        raise RateLimited(
            "Too many messages from this address; please try again later.", retry_after=WINDOW_SECONDS
        )


__all__ = ["check_rate", "contact_inbox", "submit", "take_over", "take_over_all"]
