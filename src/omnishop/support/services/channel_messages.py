"""Messages a sales channel hands over through the API (a marketplace buyer's question, an app's contact
screen): the sender is recognised as the channel knows them, the channel's message id makes a retry harmless,
and a named order is linked only when it is the sender's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from omnishop.customers import services as customers
from omnishop.customers.models import Customer
from omnishop.orders.errors import OrderNotFound

from ..errors import InboxNotFound, SenderRequired, TooManyAttachments
from ..models import Inbox, Message
from . import threading
from .conversations import Incoming, IncomingAttachment, link_order, receive

MAX_ATTACHMENTS = 10


@dataclass(frozen=True)
class ChannelSender:
    email: str = ""
    phone: str = ""
    customer_id: int | None = None
    channel_customer_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class Received:
    message: Message
    created: bool


def inbox_of_channel(*, channel, code: str = "") -> Inbox:
    """The inbox the channel's messages go to: the one named, else the channel's own channel-messages inbox."""
    qs = Inbox.objects.filter(is_active=True, kind=Inbox.Kind.CHANNEL, channel=channel)
    inbox = qs.filter(code=code).first() if code else qs.order_by("pk").first()
    if inbox is None:
        raise InboxNotFound(
            f"No channel-messages inbox {code!r} for {channel.code}."
            if code
            else f"{channel.code} has no inbox.",
            field="inbox",
        )
    return inbox


def _sender_customer(*, channel, sender: ChannelSender) -> Customer:
    if sender.customer_id is not None:
        # A channel names only customers it knows: it must not reach another channel's shoppers' threads.
        customer = customers.customers_on_channel(
            Customer.objects.filter(pk=sender.customer_id), channel
        ).first()
        if customer is None:
            raise customers.CustomerNotFound(f"No customer {sender.customer_id}.", field="sender.customer_id")
        return customer
    if not (sender.email or sender.phone or sender.channel_customer_id):
        raise SenderRequired(field="sender")
    first, _, last = sender.name.strip().partition(" ")
    return customers.resolve_customer(
        channel=channel,
        external_id=sender.channel_customer_id or None,
        email=sender.email or None,
        phone=sender.phone or None,
        first_name=first,
        last_name=last,
    ).customer


def receive_from_channel(
    *,
    channel,
    sender: ChannelSender,
    text: str = "",
    html: str = "",
    subject: str = "",
    order_number: str = "",
    message_id: str = "",
    inbox_code: str = "",
    attachments: Sequence[IncomingAttachment] = (),
) -> Received:
    """Store a channel's message in its customer's conversation (once per channel message id)."""
    external_id = f"{channel.code}:{message_id}" if message_id else ""
    if external_id:
        existing = Message.objects.filter(via=Message.Via.CHANNEL, external_id=external_id).first()
        if existing is not None:
            return Received(existing, created=False)
    if len(attachments) > MAX_ATTACHMENTS:
        raise TooManyAttachments(f"At most {MAX_ATTACHMENTS} attachments per message.", field="attachments")
    inbox = inbox_of_channel(channel=channel, code=inbox_code)
    with transaction.atomic():
        customer = _sender_customer(channel=channel, sender=sender)
        order = None
        if order_number:
            order = threading.order_for(customer=customer, email=sender.email, numbers=[order_number.upper()])
            if order is None or order.number != order_number.upper():
                # Someone else's order is answered like no order: naming it reveals nothing.
                raise OrderNotFound(f"No order {order_number} of this customer.", field="order_number")
        message = receive(
            inbox=inbox,
            incoming=Incoming(
                via=Message.Via.CHANNEL,
                body_text=text,
                body_html=html,
                subject=subject,
                customer=customer,
                sender_email=sender.email,
                sender_phone=sender.phone,
                sender_name=sender.name,
                external_id=external_id,
                attachments=attachments,
            ),
        )
        conversation = message.conversation
        if order is not None and conversation.order_id != order.pk and conversation.order_id is None:
            link_order(conversation=conversation, order=order)
    return Received(message, created=True)
