"""The live chat over HTTP: the widget's endpoints and the server-sent-event streams of shoppers and agents
(docs/adr/0020-live-chat-server-sent-events.md).

A stream answers `text/event-stream`: one `message` event per message (`id:` is the message's key, so a
reconnecting EventSource resumes after the last one it saw through `Last-Event-ID`). It is short-lived on
purpose: on a threaded server (`omnishop serve --threads N`, granian or gunicorn's gthread; Django's live server) it
holds its thread up to OMNISHOP_CHAT_STREAM_SECONDS (25 s) and the browser reconnects; on sync workers,
where a held stream would take a whole worker from every other visitor (`wsgi.multithread` false: one thread
per worker, the default), it answers what is there at once
and asks the browser to come back in a second (`retry:`) — long-polling in EventSource's clothes.
While a stream waits it holds no database connection (`services.chat_hub`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from omnishop.auth import client_address  # the proxy-aware address the API's limits count by
from omnishop.core.errors import DomainError, ValidationFailed
from omnishop.core.http import error_response
from omnishop.customers import services as customers

from .models import Message
from .services import chat

HEARTBEAT_SECONDS = 15


def _json_body(request: HttpRequest) -> dict:
    try:
        body = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError:
        raise ValidationFailed("The request body is not valid JSON.", field="body") from None
    if not isinstance(body, dict):
        raise ValidationFailed("The request body is a JSON object.", field="body")
    return body


def _text(body: dict, key: str, limit: int = 5000) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise ValidationFailed(f"'{key}' is a string.", field=key)
    return value[:limit]


def _answer_errors(view):
    """A refused request is the JSON error envelope the API uses (with Retry-After when rate limited)."""

    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.field, **exc.details)
            if "retry_after" in exc.details:
                response["Retry-After"] = str(exc.details["retry_after"])
            return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _session_from(request: HttpRequest, body: dict | None = None) -> chat.ChatSession:
    token = request.headers.get("X-Chat-Token") or (body or {}).get("token") or request.GET.get("token", "")
    return chat.session(str(token))


def _customer_of(request: HttpRequest):
    user = request.user
    if user.is_authenticated and not user.is_staff:
        return customers.customer_for_user(user=user)
    return None


# --- The widget --------------------------------------------------------------------------------------


@never_cache
@require_GET
@_answer_errors
def widget_state(request: HttpRequest) -> HttpResponse:
    """What the widget needs before it opens (the shop's pages are publicly cached, so nothing personal is in
    them): whether someone is online, who the shopper is, and a CSRF token for the posts."""
    inbox = chat.chat_inbox()
    customer = _customer_of(request)
    name = ""
    if customer is not None:
        name = " ".join(p for p in (customer.first_name, customer.last_name) if p) or customer.email
    return JsonResponse(
        {
            "online": chat.agents_online(inbox),
            "signed_in": customer is not None,
            "name": name,
            "has_email": bool(customer is not None and customer.email),
            "csrf_token": get_token(request),
            "start_url": reverse("support:chat-start"),
            "messages_url": reverse("support:chat-messages"),
            "stream_url": reverse("support:chat-stream"),
            "transcript_url": reverse("support:chat-transcript"),
        }
    )


@never_cache
@require_POST
@_answer_errors
def start_chat(request: HttpRequest) -> HttpResponse:
    body = _json_body(request)
    session = chat.start(
        inbox=chat.chat_inbox(),
        body_text=_text(body, "message"),
        page_url=_text(body, "page", 500),
        customer=_customer_of(request),
        name=_text(body, "name", 200),
        email=_text(body, "email", 254),
        address=client_address(request),
    )
    return JsonResponse(
        {"token": session.token, "number": session.conversation.number, "offline": session.offline},
        status=201,
    )


@never_cache
@require_POST
@_answer_errors
def post_message(request: HttpRequest) -> HttpResponse:
    body = _json_body(request)
    session = _session_from(request, body)
    message = chat.post(
        chat=session,
        body_text=_text(body, "message"),
        client_id=_text(body, "client_id", 100),
        address=client_address(request),
    )
    return JsonResponse({"id": message.pk}, status=201)


@never_cache
@require_POST
@_answer_errors
def email_transcript(request: HttpRequest) -> HttpResponse:
    body = _json_body(request)
    sent_to = chat.email_transcript(chat=_session_from(request, body), address=client_address(request))
    return JsonResponse({"sent_to": sent_to})


@require_GET
@_answer_errors
def shopper_stream(request: HttpRequest) -> StreamingHttpResponse:
    session = _session_from(request)
    chat.mark_present(session.conversation.pk)
    messages = chat.shopper_messages(session)
    return _stream(
        request,
        messages,
        after=_after(request, default=session.floor - 1),
        wake={"conversation_ids": [session.conversation.pk]},
        shape=_for_shopper,
        on_wait=lambda: chat.mark_present(session.conversation.pk),
    )


# --- Agents ------------------------------------------------------------------------------------------


@staff_member_required
@require_GET
@_answer_errors
def agent_stream(request: HttpRequest, number: str) -> StreamingHttpResponse:
    """New messages of one conversation, for an agent of its inbox (the desk's conversation page)."""
    messages = chat.agent_messages(user=request.user, number=number)
    conversation_id = messages.values_list("conversation_id", flat=True).first()
    return _stream(
        request,
        messages,
        after=_after(request, default=chat.latest_pk(messages)),
        wake={"conversation_ids": [conversation_id] if conversation_id else []},
        shape=_for_agent,
    )


@staff_member_required
@require_GET
@_answer_errors
def agent_inbox_stream(request: HttpRequest) -> StreamingHttpResponse:
    """New messages in every conversation of the agent's inboxes (the desk's inbox list)."""
    messages = chat.inbox_messages(user=request.user)
    return _stream(
        request,
        messages,
        after=_after(request, default=chat.latest_pk(messages)),
        wake={"inbox_ids": chat.agent_inbox_ids(request.user)},
        shape=_for_agent,
    )


# --- The stream ----------------------------------------------------------------------------------------


def _after(request: HttpRequest, *, default: int) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or ""
    try:
        return max(0, int(raw))
    except ValueError:
        return default


def _hold_seconds(request: HttpRequest) -> float:
    if not request.META.get("wsgi.multithread"):
        return 0.0  # a sync worker serves one request at a time: never park it on a stream
    return float(getattr(settings, "OMNISHOP_CHAT_STREAM_SECONDS", 25))


def _for_shopper(message: Message) -> dict:
    mine = message.direction == Message.Direction.INBOUND
    return {
        "id": message.pk,
        "from": "you" if mine else "agent",
        "author": "" if mine else message.sender_name,
        "text": message.body_text,
        "at": message.created_at.isoformat(),
    }


def _for_agent(message: Message) -> dict:
    return {
        "id": message.pk,
        "conversation": message.conversation.number,
        "subject": message.conversation.subject,
        "status": message.conversation.status,
        "direction": message.direction,
        "via": message.via,
        "author": message.sender_name,
        "text": message.body_text,
        "at": message.created_at.isoformat(),
    }


def _event(message: Message, shape) -> bytes:
    return b"id: %d\nevent: message\ndata: %s\n\n" % (message.pk, orjson.dumps(shape(message)))


def _stream(request, messages, *, after: int, wake: dict, shape, on_wait=None) -> StreamingHttpResponse:
    hold = _hold_seconds(request)
    retry_ms = 500 if hold else 1000

    def events() -> Iterator[bytes]:
        cursor = after
        # What the stream waits past: its cursor, or a message it was woken for but may not see (a desk
        # note or an event on the shopper's stream) — else it would wake for that message again at once.
        wait_after = after
        woken = 0
        generation = chat.hub_generation()
        deadline = time.monotonic() + hold
        # An id-only block sets EventSource's last event id without an event: a browser that reconnects
        # before any message arrived resumes from here, not from whatever is newest by then.
        yield b"retry: %d\nid: %d\n\n" % (retry_ms, cursor)
        while True:
            batch = chat.read_after(messages, after=cursor)
            for message in batch:
                cursor = message.pk
                yield _event(message, shape)
            if batch:
                continue
            wait_after = max(wait_after, cursor, woken)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not connection.in_atomic_block:
                connection.close()  # wait without holding one of the database's connections
            woken = chat.wait(after=wait_after, timeout=min(left, HEARTBEAT_SECONDS), **wake)
            if generation != chat.hub_generation():
                return  # the server is stopping
            if not woken:
                if on_wait is not None and deadline - time.monotonic() > 0:
                    on_wait()
                yield b": keep-alive\n\n"

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
