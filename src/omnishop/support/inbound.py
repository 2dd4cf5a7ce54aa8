"""Providers' inbound e-mail webhooks, through django-anymail: Postmark (HTTP basic auth, the only check
Postmark offers) and Mailgun (its HMAC-SHA256 signature of timestamp + token). Anymail checks the request and
parses the provider's payload into an `AnymailInboundMessage` (a stdlib `EmailMessage`); its `inbound` signal
hands it to `receive_inbound`, which passes it to the e-mail service. A provider with no secret configured
answers 404: an inbound URL without a check would let anyone write in as any customer.

Mounted at /support/email/ (urls.py): postmark/inbound/, mailgun/inbound/ and mailgun/inbound_mime/."""

from __future__ import annotations

import logging

from anymail import inbound as anymail_inbound
from anymail.signals import AnymailInboundEvent, inbound
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.conf import settings
from django.http import Http404
from django.urls import path, re_path

from .errors import EmptyMessage, InboxNotFound, SenderRequired
from .services import email_in, mime

log = logging.getLogger(__name__)


def _anymail(name: str) -> str:
    return str((getattr(settings, "ANYMAIL", None) or {}).get(name) or "")


def _guarded(view_class, *required: str):
    """The provider's view, or 404 while its secret is not configured."""
    view = view_class.as_view()

    def guarded(request, *args, **kwargs):
        if not all(_anymail(name) for name in required):
            raise Http404("This e-mail provider is not configured.")
        return view(request, *args, **kwargs)

    guarded.csrf_exempt = True  # type: ignore[attr-defined]
    return guarded


def receive_inbound(sender, event: AnymailInboundEvent, esp_name: str, **kwargs) -> None:
    """anymail's inbound signal: one e-mail a provider received for us."""
    message = event.message
    if message is None:
        return
    recipients = [str(message.envelope_recipient)] if message.envelope_recipient else []
    if "Message-ID" not in message and esp_name == "Postmark" and event.event_id:
        # Postmark's own id is stable across its retries: it keeps a mail without Message-ID stored once.
        message["Message-ID"] = f"<{event.event_id}@inbound.postmarkapp.com>"
    try:
        outcome = email_in.receive_email(
            message=message, raw=_raw_of(event), recipients=recipients, provider=esp_name.lower()
        )
    except (InboxNotFound, EmptyMessage, SenderRequired) as refusal:
        # Answering an error would make the provider retry a message we will never take; it is logged.
        log.warning("support: %s inbound e-mail refused: %s", esp_name, refusal)
        return
    if outcome.action == "dropped":
        log.info("support: %s inbound e-mail dropped: %s", esp_name, outcome.reason)


def _raw_of(event: AnymailInboundEvent) -> bytes:
    """The message as the provider received it when it sent the raw MIME (Postmark's RawEmail, Mailgun's
    body-mime), else anymail's rebuild of it from the parsed fields."""
    esp = event.esp_event
    raw = esp.get("RawEmail") if isinstance(esp, dict) else getattr(esp, "POST", {}).get("body-mime")
    if isinstance(raw, str) and raw:
        return raw.encode("utf-8", "surrogateescape")
    assert event.message is not None
    return event.message.as_bytes()


inbound.connect(receive_inbound, dispatch_uid="omnishop.support.inbound")
# anymail parses a provider's raw MIME with policy.default; ours is the same policy remembering the headers it
# parsed (mime.POLICY), which takes about a fifth off each e-mail's CPU time.
anymail_inbound.default_policy = mime.POLICY

urlpatterns = [
    path(
        "postmark/inbound/",
        _guarded(PostmarkInboundWebhookView, "WEBHOOK_SECRET"),
        name="support_postmark_inbound",
    ),
    re_path(
        # Mailgun posts the raw MIME when the URL contains "mime", its parsed fields otherwise.
        r"^mailgun/inbound(_mime)?/$",
        _guarded(MailgunInboundWebhookView, "MAILGUN_WEBHOOK_SIGNING_KEY"),
        name="support_mailgun_inbound",
    ),
]
