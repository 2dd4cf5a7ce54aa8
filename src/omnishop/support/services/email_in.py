"""E-mail arriving at the desk, from a provider's inbound webhook or an IMAP mailbox: which inbox it is for
(its recipient), which conversation (the reply token in `support+<token>@…`, then the e-mail headers), and
what to do with mail no person wrote — auto-replies and bounces join their conversation as events without
reopening it, our own messages coming back are dropped, and none of them is ever answered."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from email.message import Message as MimeMessage

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from ..errors import EmptyMessage, InboxNotFound, SenderRequired
from ..models import Conversation, Inbox, Message
from . import mime, threading
from .conversations import Incoming, receive, record_event

log = logging.getLogger(__name__)


def reply_local_part() -> str:
    return str(getattr(settings, "OMNISHOP_SUPPORT_REPLY_LOCAL_PART", "support"))


def reply_address(conversation: Conversation) -> str:
    """The conversation's own reply-to address: a reply to it threads whatever the client does to headers."""
    domain = conversation.inbox.address.rpartition("@")[2] or "localhost"
    return f"{reply_local_part()}+{conversation.reply_token}@{domain}"


def token_in(recipients: list[str]) -> str:
    """The reply token of the first `support+<token>@…` recipient, or ''."""
    for address in recipients:
        local = address.partition("@")[0]
        base, _, token = local.partition("+")
        if base.lower() == reply_local_part().lower() and re.fullmatch(r"[A-Za-z0-9_-]{8,64}", token):
            return token
    return ""


# The active e-mail inboxes by address, read once per process and kept INBOX_CACHE_SECONDS: every inbound
# e-mail needs them and they change only when an admin edits one. A save or delete of an inbox, its SLA
# policy, team or channel in this process forgets them at once (signals below); another process's edit is
# seen within INBOX_CACHE_SECONDS.
INBOX_CACHE_SECONDS = 10.0
_inbox_cache: tuple[float, dict[str, Inbox]] | None = None


def _email_inboxes() -> dict[str, Inbox]:
    global _inbox_cache
    cached = _inbox_cache
    if cached is not None and time.monotonic() - cached[0] < INBOX_CACHE_SECONDS:
        return cached[1]
    active = Inbox.objects.filter(kind=Inbox.Kind.EMAIL, is_active=True).select_related(
        "channel",
        "sla_policy",
        "team",  # what receiving reads of the inbox, in the same statement
    )
    inboxes = {i.address.lower(): i for i in active}
    _inbox_cache = (time.monotonic(), inboxes)
    return inboxes


def forget_inboxes(**kwargs) -> None:
    """Drop the cached inboxes (a signal receiver; tests call it when their database is rolled back)."""
    global _inbox_cache
    _inbox_cache = None


def inbox_for(recipients: list[str], token: str = "") -> Inbox:
    """The e-mail inbox a message was sent to: by its address (a `+tag` ignored), else by the reply token."""
    wanted = []
    for address in recipients:
        local, _, domain = address.lower().partition("@")
        wanted.append(f"{local.partition('+')[0]}@{domain}")
    inboxes = _email_inboxes()
    for address in wanted:
        if address in inboxes:
            return inboxes[address]
    if token:
        conversation = (
            Conversation.objects.select_related("inbox__channel", "inbox__sla_policy", "inbox__team")
            .filter(reply_token=token)
            .first()
        )
        if conversation is not None:
            return conversation.inbox
    raise InboxNotFound(f"No e-mail inbox for {', '.join(recipients) or 'no recipient'}.", field="to")


@dataclass(frozen=True)
class Outcome:
    """What became of one inbound e-mail: stored as a message, kept as an event, or dropped (with why)."""

    action: str  # "message", "event", "dropped"
    reason: str = ""
    message: Message | None = None


def receive_email(
    *, message: MimeMessage, raw: bytes | None = None, recipients: list[str] | None = None, provider: str = ""
) -> Outcome:
    """Store one inbound e-mail where it belongs; the same Message-ID is stored once, however often it comes."""
    mail = mime.read(message, raw=raw, recipients=recipients)
    known = _stored(mail.message_id)
    if known is not None:
        if known.direction == Message.Direction.OUTBOUND:
            return _dropped(mail, "our own message came back (mail loop)")
        return Outcome("message" if known.direction == "inbound" else "event", "duplicate", known)
    token = token_in(mail.recipients)
    if mail.machine_reason:
        return _machine_mail(mail, token)
    inbox = inbox_for(mail.recipients, token)
    if not mail.sender_email:
        return _dropped(mail, "no sender address")
    stored = receive(
        inbox=inbox,
        incoming=Incoming(
            via=Message.Via.EMAIL,
            body_text=mail.text,
            body_html=mail.html,
            body_raw=mail.raw,
            subject=mail.subject,
            sender_email=mail.sender_email,
            sender_name=mail.sender_name,
            external_id=mail.message_id,
            in_reply_to=mail.in_reply_to,
            references=mail.references,
            reply_token=token,
            auth_results={**mail.auth_results, **({"provider": provider} if provider else {})},
            attachments=mail.attachments,
        ),
        known_new=True,  # looked up above
    )
    return Outcome("message", "", stored)


def _stored(message_id: str) -> Message | None:
    """The message already stored under this Message-ID, or None. Nearly every e-mail is new, so the
    lookup is one hand-written statement reading the id alone (no queryset compiled on the hot path); the
    rare duplicate is then loaded whole."""
    with connection.cursor() as cursor:
        cursor.execute(_STORED_SQL, [Message.Via.EMAIL, message_id])
        row = cursor.fetchone()
    return None if row is None else Message.objects.get(pk=row[0])


_STORED_SQL = (  # as Message.objects.filter(via=…, external_id=…).first()
    "SELECT id FROM support_message WHERE via = %s AND external_id = %s ORDER BY id LIMIT 1"
)


def _machine_mail(mail: mime.Mail, token: str) -> Outcome:
    """An auto-reply or bounce joins the conversation it answers as an event (never reopens or answers it);
    one that answers nothing of ours is dropped."""
    conversation = None
    if token:
        conversation = Conversation.objects.filter(reply_token=token).first()
    ids = threading.message_ids(mail.in_reply_to, mail.references)
    # A bounce names our message in the headers it returns (text/rfc822-headers or message/rfc822 part).
    ids += threading.message_ids(*re.findall(r"(?im)^message-id:\s*(<[^>]+>)", mail.raw))
    ours = (
        Message.objects.filter(
            via=Message.Via.EMAIL,
            direction=Message.Direction.OUTBOUND,
            external_id__in=[f"<{i}>" for i in ids],
        )
        .select_related("conversation")
        .order_by("-created_at")
        .first()
    )
    if conversation is None and ours is not None:
        conversation = ours.conversation
    if conversation is None:
        return _dropped(mail, f"{mail.machine_reason}, about no conversation of ours")
    bounce = "bounce" in mail.machine_reason
    if bounce and ours is not None:
        Message.objects.filter(pk=ours.pk).update(delivery_status="bounced")
    text = f"{'Bounce' if bounce else 'Automatic reply'} from {mail.sender_email or 'the mail system'}"
    text += f" ({mail.machine_reason}): {mail.subject}".rstrip(": ")
    if mail.text:
        text += "\n\n" + mail.text[:2000]
    try:
        with transaction.atomic():
            event = record_event(conversation=conversation, text=text)
            event.via = Message.Via.EMAIL
            event.external_id = mail.message_id[:300]
            event.sender_address = mail.sender_email[:254]
            event.subject = mail.subject[:300]
            event.body_raw = mail.raw
            event.save(update_fields=["via", "external_id", "sender_address", "subject", "body_raw"])
    except IntegrityError:  # the same auto-reply delivered twice at the same moment
        return Outcome("event", "duplicate", Message.objects.filter(external_id=mail.message_id).first())
    return Outcome("event", mail.machine_reason, event)


def _dropped(mail: mime.Mail, reason: str) -> Outcome:
    log.info("support e-mail %s from %s dropped: %s", mail.message_id, mail.sender_email, reason)
    return Outcome("dropped", reason)


# --- IMAP polling (self-hosted mail) ----------------------------------------------------------------------


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int = 993
    username: str = ""
    password: str = ""
    mailbox: str = "INBOX"
    ssl: bool = True
    timeout: float = 30.0


def imap_config() -> ImapConfig | None:
    """The mailbox to poll from settings (OMNISHOP_SUPPORT_IMAP_*), or None when none is configured."""
    host = str(getattr(settings, "OMNISHOP_SUPPORT_IMAP_HOST", "") or "")
    if not host:
        return None
    return ImapConfig(
        host=host,
        port=int(getattr(settings, "OMNISHOP_SUPPORT_IMAP_PORT", 993)),
        username=str(getattr(settings, "OMNISHOP_SUPPORT_IMAP_USER", "")),
        password=str(getattr(settings, "OMNISHOP_SUPPORT_IMAP_PASSWORD", "")),
        mailbox=str(getattr(settings, "OMNISHOP_SUPPORT_IMAP_MAILBOX", "INBOX")),
        ssl=bool(getattr(settings, "OMNISHOP_SUPPORT_IMAP_SSL", True)),
    )


@dataclass
class PollResult:
    fetched: int = 0
    stored: int = 0
    events: int = 0
    dropped: int = 0
    refused: int = 0


def poll_imap(*, config: ImapConfig | None = None, limit: int = 200) -> PollResult:
    """Receive the mailbox's unseen messages; each is flagged \\Seen only after its transaction committed, so a
    crash fetches it again and its Message-ID keeps it from being stored twice. Call it outside any
    transaction (a command, a periodic job): inside one, "committed" would not be true yet."""
    import imaplib

    config = config or imap_config()
    result = PollResult()
    if config is None:
        return result
    cls = imaplib.IMAP4_SSL if config.ssl else imaplib.IMAP4
    with cls(config.host, config.port, timeout=config.timeout) as imap:
        imap.login(config.username, config.password)
        imap.select(config.mailbox)
        status, data = imap.uid("SEARCH", "UNSEEN")
        uids = [u.decode() for u in (data[0] or b"").split()[:limit]] if status == "OK" else []
        for uid in uids:
            status, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")  # PEEK: not \Seen until we say so
            raw = next((p[1] for p in parts if isinstance(p, tuple) and len(p) > 1), None)
            if status != "OK" or not isinstance(raw, bytes):
                continue
            result.fetched += 1
            try:
                outcome = receive_email(message=mime.parse(raw), raw=raw, provider="imap")
            except (InboxNotFound, EmptyMessage, SenderRequired) as refusal:
                # Mail no inbox takes, or without content or sender: it will never be stored; say so once.
                log.warning("support IMAP message %s refused: %s", uid, refusal)
                result.refused += 1
            else:
                result.stored += outcome.action == "message" and outcome.reason != "duplicate"
                result.events += outcome.action == "event"
                result.dropped += outcome.action == "dropped"
            imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        imap.logout()
    return result
