"""Phone calls as the voice provider (Twilio) reports them: a call joins the caller's conversation as a message,
its outcome, duration and recording follow from the provider's callbacks, and a missed call becomes a task to
call back within the inbox's first-response target. Provider callbacks are retried: each is applied once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from django.db import transaction
from django.utils import timezone, translation

from ..errors import CallNotFound, InboxNotFound, InvalidCallOutcome
from ..models import Call, CallbackTask, Inbox, Message
from . import assignment, sla
from .conversations import Incoming, receive, record_event

Outcome = Call.Outcome

# Twilio's final CallStatus values of the caller's leg. Our TwiML answers every call itself (to ring the agents
# or take a voicemail), so "completed" only means the line was closed: whether an agent talked to the caller is
# told by the <Dial> result (`dial_finished`). A call no agent answered is missed, voicemail or not.
FINAL_STATUSES = {
    "completed": Outcome.MISSED,
    "no-answer": Outcome.MISSED,
    "busy": Outcome.MISSED,
    "canceled": Outcome.MISSED,
    "failed": Outcome.FAILED,
}
# Without an SLA policy a missed call is due back within this many minutes.
DEFAULT_CALLBACK_MINUTES = 60


# --- Signatures --------------------------------------------------------------------------------------------


def twilio_signature(*, auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature as Twilio computes it: HMAC-SHA1 with the auth token over the full URL followed by
    every POST parameter's name and value, sorted by name (a repeated name: its values sorted), base64."""
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    payload = url + "".join(name + value for name in sorted(by_name) for value in sorted(by_name[name]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as signed, with and without the scheme's default port (Twilio signs whichever it used)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    without = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    return list(dict.fromkeys([url, without, with_port]))


def signature_is_valid(
    *, auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str
) -> bool:
    if not auth_token or not signature:
        return False
    params = list(params)
    return any(
        hmac.compare_digest(twilio_signature(auth_token=auth_token, url=variant, params=params), signature)
        for variant in _url_variants(url)
    )


# --- Calls -------------------------------------------------------------------------------------------------


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number or "")


def inbox_for_number(number: str) -> Inbox:
    """The phone inbox whose number was called (numbers compared by their digits: '+44 20 7946 0000')."""
    wanted = _digits(number)
    if wanted:
        for inbox in Inbox.objects.filter(kind=Inbox.Kind.PHONE, is_active=True).exclude(address=""):
            if _digits(inbox.address) == wanted:
                return inbox
    raise InboxNotFound(f"No phone inbox answers {number or 'an unknown number'}.", field="To")


@dataclass(frozen=True)
class CallArrival:
    call: Call
    agents: list  # online agents of the inbox to ring; empty: the caller is offered voicemail


def call_arrived(
    *, inbox: Inbox, call_sid: str, from_number: str, to_number: str, caller_name: str = "", at=None
) -> CallArrival:
    """A call rings: the caller's customer is found by their number, the call joins their open conversation
    (or starts one) as a message, and the inbox's online agents are the ones to ring."""
    now = at or timezone.now()
    existing = Call.objects.filter(provider_sid=call_sid).select_related("conversation").first()
    if existing is None:
        message = receive(
            inbox=inbox,
            incoming=Incoming(
                via=Message.Via.PHONE,
                body_text=_describe(from_number, None, Outcome.RINGING),
                sender_phone=from_number,
                sender_name=caller_name,
                external_id=call_sid,
                received_at=now,
            ),
        )
        with transaction.atomic():
            existing, _ = Call.objects.get_or_create(
                provider_sid=call_sid,
                defaults={
                    "conversation": message.conversation,
                    "from_number": from_number[:32],
                    "to_number": to_number[:32],
                    "provider_status": "ringing",
                    "agent": message.conversation.assignee,
                    "started_at": now,
                },
            )
    agents = list(assignment.online_agents(inbox).order_by("pk"))
    return CallArrival(call=existing, agents=agents)


def dial_finished(*, call_sid: str, dial_status: str, dial_seconds: int | None = None) -> Call:
    """The agents were rung: someone answered (completed) or nobody did (the caller goes to voicemail)."""
    with transaction.atomic():
        call = _locked(call_sid)
        if call.outcome == Outcome.RINGING:
            call.outcome = Outcome.ANSWERED if dial_status == "completed" else Outcome.MISSED
            call.save(update_fields=["outcome"])
    return call


def status_changed(
    *, call_sid: str, status: str, duration_seconds: int | None = None, at: datetime | None = None
) -> Call:
    """The provider's status callback: a final status ends the call (outcome, duration, end time); a missed
    call gets a task to call back. The same callback twice changes nothing the second time."""
    now = at or timezone.now()
    with transaction.atomic():
        call = _locked(call_sid)
        if status not in FINAL_STATUSES:
            if call.ended_at is None and call.provider_status != status:
                call.provider_status = status[:20]
                call.save(update_fields=["provider_status"])
            return call
        if call.ended_at is not None:
            return call  # a retried or late final callback: the call is already told
        call.provider_status = status[:20]
        if call.outcome == Outcome.RINGING or status == "failed":
            call.outcome = FINAL_STATUSES[status]
        call.duration_seconds = duration_seconds
        call.ended_at = now
        call.save()
        if call.outcome in (Outcome.MISSED, Outcome.VOICEMAIL):
            _callback_task(call, now)
        _retell(call)
    return call


def recording_ready(*, call_sid: str, recording_url: str, recording_sid: str = "") -> Call:
    """A voicemail (or call recording) is stored at the provider: its link goes on the call."""
    with transaction.atomic():
        call = _locked(call_sid)
        if call.recording_url == recording_url:
            return call
        call.recording_url = recording_url[:500]
        if call.outcome in (Outcome.RINGING, Outcome.MISSED):
            call.outcome = Outcome.VOICEMAIL  # the caller left a message: still a call to return
        call.save(update_fields=["recording_url", "outcome"])
        if call.ended_at is not None:
            if call.outcome == Outcome.VOICEMAIL:
                _callback_task(call, call.ended_at)
            _retell(call)
    return call


def note_call(*, call: Call, author, notes: str = "", outcome: str | None = None) -> Call:
    """The agent's notes on a call and, when the provider could not tell, its outcome."""
    if outcome is not None and outcome not in (
        Outcome.ANSWERED,
        Outcome.MISSED,
        Outcome.VOICEMAIL,
        Outcome.FAILED,
    ):
        raise InvalidCallOutcome(f"Unknown call outcome '{outcome}'.", field="outcome")
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call.pk)
        if notes.strip():
            call.notes = notes.strip()
        if outcome is not None:
            call.outcome = outcome
        if call.agent_id is None and author is not None:
            call.agent = author
        call.save()
        if outcome is not None and call.ended_at is not None:
            _retell(call)
        record_event(
            conversation=call.conversation,
            text=f"Call {call.provider_sid}: {_english(Outcome(call.outcome).label).lower()}."
            + (f" Notes: {call.notes}" if notes.strip() else ""),
            author=author,
        )
    return call


def complete_callback(*, task: CallbackTask, actor=None) -> CallbackTask:
    """The caller was called back."""
    if task.done_at is None:
        task.done_at = timezone.now()
        task.save(update_fields=["done_at"])
        record_event(
            conversation=task.conversation, text=f"Called {task.call.from_number} back.", author=actor
        )
    return task


def open_callbacks(*, inbox: Inbox | None = None):
    qs = CallbackTask.objects.filter(done_at__isnull=True).select_related("call", "conversation")
    if inbox is not None:
        qs = qs.filter(conversation__inbox=inbox)
    return qs.order_by("due_at", "pk")


def _locked(call_sid: str) -> Call:
    call = Call.objects.select_for_update().filter(provider_sid=call_sid).first()
    if call is None:
        raise CallNotFound(f"No call {call_sid}.", field="CallSid")
    return call


def _callback_task(call: Call, now: datetime) -> CallbackTask:
    policy = call.conversation.inbox.sla_policy
    minutes = policy.first_response_minutes if policy is not None else DEFAULT_CALLBACK_MINUTES
    due = (
        sla.add_business_minutes(policy, now, minutes)
        if policy is not None
        else now + timedelta(minutes=minutes)
    )
    task, _ = CallbackTask.objects.get_or_create(
        call=call,
        defaults={"conversation": call.conversation, "due_at": due, "assignee": call.conversation.assignee},
    )
    return task


def _retell(call: Call) -> None:
    """The call's message in the thread says how it went."""
    Message.objects.filter(via=Message.Via.PHONE, external_id=call.provider_sid).update(
        body_text=_describe(call.from_number, call.duration_seconds, call.outcome)
    )


def _describe(number: str, seconds: int | None, outcome: str) -> str:
    label = _english(Outcome(outcome).label).lower()
    if seconds is None:
        return f"Call from {number}, {label}"
    minutes, rest = divmod(int(seconds), 60)
    length = f"{minutes} min {rest} s" if minutes else f"{rest} s"
    return f"Call from {number}, {length}, {label}"


def form_pairs(data: Mapping) -> list[tuple[str, str]]:
    """Every (name, value) of a posted form, repeated names included (a QueryDict's lists)."""
    if hasattr(data, "lists"):
        return [(name, value) for name, values in data.lists() for value in values]
    return [(str(k), str(v)) for k, v in data.items()]


def client_identity(agent) -> str:
    """The agent's Twilio Client identity (the desk's softphone registers with it)."""
    return f"agent_{agent.pk}"


def _english(label) -> str:
    """A choice's label as stored in the timeline: English, whatever language the request was in."""
    with translation.override("en"):
        return str(label)
