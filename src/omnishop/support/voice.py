"""Twilio's voice webhooks: a call rings (answered with TwiML), the agents' <Dial> ends, the call's status
changes, a recording is ready. Every request must carry a valid X-Twilio-Signature for the public URL it was
sent to, else it is refused (403) and nothing is stored. Views parse the form and call `services.phone`."""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from omnishop.customers.normalise import InvalidPhone

from .errors import CallNotFound, InboxNotFound, SenderRequired
from .services import phone

logger = logging.getLogger(__name__)

RING_SECONDS = 20
VOICEMAIL_SECONDS = 120
WITHHELD = "Sorry, we cannot take calls from withheld numbers. Please call again showing your number."


def auth_token() -> str:
    return getattr(settings, "OMNISHOP_TWILIO_AUTH_TOKEN", "")


def public_url(request: HttpRequest, path_and_query: str | None = None) -> str:
    """The URL Twilio was given: behind a reverse proxy the public origin (OMNISHOP_PUBLIC_URL) replaces the
    one the app server sees, or the signature (computed over the public URL) cannot match."""
    path_and_query = path_and_query if path_and_query is not None else request.get_full_path()
    origin = getattr(settings, "OMNISHOP_PUBLIC_URL", "").rstrip("/")
    return origin + path_and_query if origin else request.build_absolute_uri(path_and_query)


def twiml(*verbs: str) -> HttpResponse:
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


def _say(text: str) -> str:
    return f"<Say>{escape(text)}</Say>"


def twilio_webhook(view):
    """Refuse anything Twilio did not sign (403, nothing stored)."""

    @csrf_exempt
    @require_POST
    def checked(request: HttpRequest) -> HttpResponse:
        valid = phone.signature_is_valid(
            auth_token=auth_token(),
            url=public_url(request),
            params=phone.form_pairs(request.POST),
            signature=request.headers.get("X-Twilio-Signature", ""),
        )
        if not valid:
            logger.warning("Twilio webhook with a bad signature refused: %s", request.path)
            return HttpResponse("Invalid signature.", status=403, content_type="text/plain")
        return view(request)

    checked.__name__ = view.__name__
    checked.__doc__ = view.__doc__
    return checked


def _voicemail(request: HttpRequest, greeting: str) -> str:
    return _say(greeting) + (
        f'<Record maxLength={quoteattr(str(VOICEMAIL_SECONDS))} playBeep="true"'
        f" action={quoteattr(public_url(request, reverse('support-voice-goodbye')))}"
        f" recordingStatusCallback={quoteattr(public_url(request, reverse('support-voice-recording')))}"
        ' recordingStatusCallbackEvent="completed"/>'
    )


@twilio_webhook
def incoming(request: HttpRequest) -> HttpResponse:
    """A call to one of the shop's numbers: ring the inbox's online agents, or take a voicemail."""
    data = request.POST
    try:
        inbox = phone.inbox_for_number(data.get("To", ""))
    except InboxNotFound:
        return twiml('<Reject reason="rejected"/>')
    try:
        arrival = phone.call_arrived(
            inbox=inbox,
            call_sid=data.get("CallSid", ""),
            from_number=data.get("From", ""),
            to_number=data.get("To", ""),
            caller_name=data.get("CallerName", ""),
        )
    except (InvalidPhone, SenderRequired):
        # A withheld number ("anonymous") has no customer to bind a conversation to: nothing is stored.
        return twiml(_say(WITHHELD), "<Hangup/>")
    if not arrival.agents:
        return twiml(
            _voicemail(
                request,
                f"Thank you for calling {inbox.name}. Nobody can answer just now. "
                "Please leave a message after the tone and we will call you back.",
            )
        )
    clients = "".join(f"<Client>{escape(phone.client_identity(agent))}</Client>" for agent in arrival.agents)
    dial = (
        f"<Dial timeout={quoteattr(str(RING_SECONDS))}"
        f" action={quoteattr(public_url(request, reverse('support-voice-dial')))}>{clients}</Dial>"
    )
    return twiml(_say(f"Thank you for calling {inbox.name}. Connecting you to an agent."), dial)


@twilio_webhook
def dial_result(request: HttpRequest) -> HttpResponse:
    """The <Dial> ended: done if an agent answered, else the caller may leave a voicemail."""
    data = request.POST
    try:
        call = phone.dial_finished(
            call_sid=data.get("CallSid", ""), dial_status=data.get("DialCallStatus", "")
        )
    except CallNotFound:
        return twiml("<Hangup/>")
    if call.outcome == phone.Outcome.ANSWERED:
        return twiml("<Hangup/>")
    return twiml(_voicemail(request, "Sorry, nobody could answer. Please leave a message after the tone."))


@twilio_webhook
def goodbye(request: HttpRequest) -> HttpResponse:
    """After the voicemail (Twilio would otherwise fetch the previous document again and record twice)."""
    return twiml(_say("Thank you. We will call you back."), "<Hangup/>")


@twilio_webhook
def status(request: HttpRequest) -> HttpResponse:
    """The call's status callback: outcome, duration, end time."""
    data = request.POST
    duration = data.get("CallDuration", "")
    try:
        phone.status_changed(
            call_sid=data.get("CallSid", ""),
            status=data.get("CallStatus", ""),
            duration_seconds=int(duration) if duration.isdigit() else None,
        )
    except CallNotFound:
        return HttpResponse(status=404)
    return HttpResponse(status=204)


@twilio_webhook
def recording(request: HttpRequest) -> HttpResponse:
    """The recording status callback: the voicemail's link."""
    data = request.POST
    if data.get("RecordingStatus", "completed") != "completed" or not data.get("RecordingUrl"):
        return HttpResponse(status=204)
    try:
        phone.recording_ready(
            call_sid=data.get("CallSid", ""),
            recording_url=data["RecordingUrl"],
            recording_sid=data.get("RecordingSid", ""),
        )
    except CallNotFound:
        return HttpResponse(status=404)
    return HttpResponse(status=204)


urlpatterns = [
    path("incoming", incoming, name="support-voice-incoming"),
    path("dial", dial_result, name="support-voice-dial"),
    path("goodbye", goodbye, name="support-voice-goodbye"),
    path("status", status, name="support-voice-status"),
    path("recording", recording, name="support-voice-recording"),
]
