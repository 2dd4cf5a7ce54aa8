"""Live chat on the web shop: a shopper's chat session, their messages into the conversation, what each side's
stream may read, and how an agent's answer reaches the shopper — on the open chat, or by e-mail once they
have gone (or when nobody was online to answer while they waited).

A chat session is a signed token naming the conversation and the first message of the session: the shopper's
stream shows that conversation's messages from there on, so a guest never reads history written before their
session. Transport (server-sent events) and waiting live in `support/chat.py` and `chat_hub.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from omnishop.core import ratelimit
from omnishop.core.errors import RateLimited
from omnishop.core.ratelimit import count_hit

from ..errors import ChatEmailRequired, ChatNotFound, EmptyMessage, InboxNotFound, SenderRequired
from ..models import Conversation, Inbox, Message
from . import assignment, chat_hub, conversations

SALT = "omnishop.support.chat"
SHOPPER_SEES = [Message.Direction.INBOUND, Message.Direction.OUTBOUND]
# A shopper whose stream was open this recently is still on the chat: answers go there, else by e-mail.
PRESENT_SECONDS = 60
MAX_MESSAGE_CHARS = 5000
DEFAULT_LIMITS = {"session": 20, "address": 60, "start": 10, "transcript": 3}  # per minute


@dataclass(frozen=True)
class ChatSession:
    token: str
    conversation: Conversation
    floor: int  # the first message of the session: the shopper's stream starts here
    known_offline: bool | None = None  # known when the session starts; else asked when first needed

    @cached_property
    def offline(self) -> bool:
        """Nobody can answer live (one query, only where it matters: a message needs no answer to it)."""
        if self.known_offline is not None:
            return self.known_offline
        return not agents_online(self.conversation.inbox)


# --- Who answers ---------------------------------------------------------------------------------------


def chat_inbox() -> Inbox:
    """The inbox of the shop's chat: OMNISHOP_SUPPORT_CHAT_INBOX (its code), else the first active chat inbox."""
    code = getattr(settings, "OMNISHOP_SUPPORT_CHAT_INBOX", "")
    inboxes = Inbox.objects.filter(kind=Inbox.Kind.CHAT, is_active=True).order_by("pk")
    inbox = inboxes.filter(code=code).first() if code else inboxes.first()
    if inbox is None:
        raise InboxNotFound(_("The shop has no chat inbox."), field="inbox")
    return inbox


def agents_online(inbox: Inbox) -> bool:
    return assignment.online_agents(inbox).exists()


# --- The shopper's side -------------------------------------------------------------------------------


def start(
    *,
    inbox: Inbox,
    body_text: str,
    page_url: str = "",
    customer=None,
    name: str = "",
    email: str = "",
    address: str = "",
) -> ChatSession:
    """Open a chat with the shopper's first message: a signed-in shopper is their customer, a guest says who
    they are (name and e-mail). With nobody online the shopper is told, and the answer comes by e-mail."""
    _limit("start", address)
    body_text = _clean(body_text)
    name, email = name.strip()[:200], email.strip().lower()[:254]
    if customer is not None:
        email = email or (customer.email or "")
        name = name or " ".join(p for p in (customer.first_name, customer.last_name) if p)
    elif not name:
        raise SenderRequired(_("Tell us your name."), field="name")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ChatEmailRequired(_("That e-mail address does not look right."), field="email") from None
    offline = not agents_online(inbox)
    if not email and (customer is None or offline):
        raise ChatEmailRequired(field="email")
    message = conversations.receive(
        inbox=inbox,
        incoming=conversations.Incoming(
            via=Message.Via.CHAT,
            body_text=body_text,
            sender_email=email,
            sender_name=name,
            customer=customer,
        ),
    )
    conversation = message.conversation
    note = _("Chat started on %(page)s.") % {"page": page_url.strip()[:500] or _("an unknown page")}
    if offline:
        note += " " + _("No agent was online: answer by e-mail to %(email)s.") % {"email": email}
    conversations.record_event(conversation=conversation, text=note)
    mark_present(conversation.pk)
    _publish(message, conversation.inbox_id)
    token = signing.dumps({"c": conversation.pk, "f": message.pk}, salt=SALT, compress=True)
    return ChatSession(token=token, conversation=conversation, floor=message.pk, known_offline=offline)


def session(token: str) -> ChatSession:
    """The chat a token opens (a forged, altered or unknown token opens none)."""
    try:
        data = signing.loads(token or "", salt=SALT)
        conversation = Conversation.objects.select_related("inbox", "customer").get(pk=int(data["c"]))
        floor = int(data["f"])
    except (signing.BadSignature, Conversation.DoesNotExist, KeyError, TypeError, ValueError):
        raise ChatNotFound(field="token") from None
    return ChatSession(token=token, conversation=conversation, floor=floor)


def post(*, chat: ChatSession, body_text: str, client_id: str = "", address: str = "") -> Message:
    """A shopper's next message in their chat (the same client id is stored once: a double submit)."""
    _limit("session", str(chat.floor))
    _limit("address", address)
    conversation = chat.conversation
    message = conversations.receive(
        inbox=conversation.inbox,
        incoming=conversations.Incoming(
            via=Message.Via.CHAT,
            body_text=_clean(body_text),
            customer=conversation.customer,
            reply_token=conversation.reply_token,
            external_id=f"{conversation.pk}:{client_id[:100]}" if client_id else "",
        ),
    )
    mark_present(conversation.pk)
    _publish(message, conversation.inbox_id)
    return message


def email_transcript(*, chat: ChatSession, address: str = "") -> str:
    """Send the shopper the chat so far (their session's messages) at their customer e-mail address."""
    _limit("transcript", str(chat.floor))
    conversation = chat.conversation
    to = conversation.customer.email
    if not to:
        raise ChatEmailRequired(field="email")
    lines = [
        f"[{m.created_at:%Y-%m-%d %H:%M} UTC] {_who(m)}: {m.body_text}"
        for m in shopper_messages(chat).order_by("pk")
    ]
    subject = _("Your chat with us (%(number)s)") % {"number": conversation.number}
    send_mail(subject, "\n\n".join(lines) + "\n", None, [to])
    conversations.record_event(conversation=conversation, text=_("Chat transcript e-mailed to the shopper."))
    return to


def _who(message: Message) -> str:
    if message.direction == Message.Direction.INBOUND:
        return _("You")
    return message.sender_name or _("Support")


def _clean(body_text: str) -> str:
    text = (body_text or "").strip()
    if not text:
        raise EmptyMessage(field="body")
    return text[:MAX_MESSAGE_CHARS]


def _limit(kind: str, who: str) -> None:
    """Count one more of `kind` for `who` in the shared cache (every worker sees it); past the per-minute
    limit the shopper is told to slow down (core's RateLimited: 429 with Retry-After)."""
    limits = {**DEFAULT_LIMITS, **getattr(settings, "OMNISHOP_CHAT_LIMITS", {})}
    bucket = f"support:chat:{kind}:{who}:{int(timezone.now().timestamp()) // 60}"
    if count_hit(bucket, window_seconds=90) > limits[kind]:
        raise RateLimited(
            _("You are sending messages too quickly; wait a minute and try again."), retry_after=60
        )


# --- What each side's stream may read --------------------------------------------------------------------


def shopper_messages(chat: ChatSession) -> QuerySet:
    return Message.objects.filter(
        conversation_id=chat.conversation.pk, pk__gte=chat.floor, direction__in=SHOPPER_SEES
    )


def agent_messages(*, user, number: str) -> QuerySet:
    conversation = conversations.get_for_agent(user=user, number=number)  # not theirs: not found
    return Message.objects.filter(conversation=conversation)


def agent_inbox_ids(user) -> list[int]:
    inboxes = Inbox.objects.all() if user.is_superuser else Inbox.objects.filter(members=user)
    return list(inboxes.values_list("pk", flat=True))


def inbox_messages(*, user) -> QuerySet:
    return Message.objects.filter(conversation__inbox_id__in=agent_inbox_ids(user))


def read_after(messages: QuerySet, *, after: int, limit: int = 100) -> list[Message]:
    return list(messages.filter(pk__gt=after).select_related("conversation").order_by("pk")[:limit])


def latest_pk(messages: QuerySet) -> int:
    return messages.order_by("-pk").values_list("pk", flat=True).first() or 0


def wait(*, after: int, timeout: float, conversation_ids=(), inbox_ids=()) -> int:
    """Block (holding no database connection) until a message past `after` may have arrived, or timeout:
    the highest arrived message's key, else 0."""
    return chat_hub.HUB.wait(
        conversation_ids=conversation_ids, inbox_ids=inbox_ids, after=after, timeout=timeout
    )


def hub_generation() -> int:
    return chat_hub.HUB.generation


def mark_present(conversation_id: int) -> None:
    ratelimit.mark(f"support:chat:present:{conversation_id}", seconds=PRESENT_SECONDS)


def shopper_present(conversation_id: int) -> bool:
    return ratelimit.is_marked(f"support:chat:present:{conversation_id}")


def _publish(message: Message, inbox_id: int) -> None:
    chat_hub.publish(message, inbox_id=inbox_id)


# --- The agent's answer --------------------------------------------------------------------------------


def deliver(message: Message) -> None:
    """The chat's sender (after commit): onto the shopper's open chat, else by e-mail (they have gone)."""
    conversation = message.conversation
    if shopper_present(conversation.pk):
        Message.objects.filter(pk=message.pk).update(delivery_status="sent")
        message.delivery_status = "sent"
    else:
        Message.objects.filter(pk=message.pk).update(via=Message.Via.EMAIL)
        message.via = Message.Via.EMAIL
        send = conversations.sender_for(Message.Via.EMAIL)
        if send is not None:
            send(message)
    _publish(message, conversation.inbox_id)


conversations.register_sender(Message.Via.CHAT, deliver)
