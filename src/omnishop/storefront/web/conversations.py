"""The shopper's messages with customer service in their account: every conversation of theirs from every
channel (e-mail, chat, phone, marketplaces), the thread as they see it (never the desk's internal notes or
events), a reply and a rating once a conversation is resolved. Another shopper's conversation is a 404."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from omnishop.core.errors import DomainError
from omnishop.support import services as support
from omnishop.support.models import Conversation, Message

from .catalog import top_categories
from .common import shopper, web_channel

# What the shopper is told of a conversation's status (snoozed is the desk's business: still open to them).
STATUS_TEXT = {
    Conversation.Status.OPEN: gettext_lazy("Open"),
    Conversation.Status.PENDING: gettext_lazy("Waiting for your answer"),
    Conversation.Status.SNOOZED: gettext_lazy("Open"),
    Conversation.Status.RESOLVED: gettext_lazy("Resolved"),
}
SHOWN = (Message.Direction.INBOUND, Message.Direction.OUTBOUND)
MAX_REPLY = 5000


def _own_conversation(request: HttpRequest, number: str) -> Conversation:
    conversation = support.of_customer(shopper(request)).filter(number=number).first()
    if conversation is None:
        raise Http404("No such conversation in your account.")
    return conversation


@never_cache
@login_required
def conversations(request: HttpRequest) -> HttpResponse:
    channel = web_channel()
    rows = [
        {
            "number": c.number,
            "subject": c.subject or _("(no subject)"),
            "status_text": STATUS_TEXT[c.status],
            "last_message_at": c.last_message_at or c.created_at,
            "url": reverse("shop:account_conversation", args=[c.number]),
        }
        for c in support.of_customer(shopper(request))
    ]
    return render(
        request,
        "storefront/account_messages.html",
        {"channel": channel, "conversations": rows, "categories": top_categories(channel)},
    )


@never_cache
@login_required
def conversation(
    request: HttpRequest, number: str, *, reply_error: str = "", reply_text: str = ""
) -> HttpResponse:
    found = _own_conversation(request, number)
    channel = web_channel()
    thread = [
        {
            "mine": m.direction == Message.Direction.INBOUND,
            "who": _("You") if m.direction == Message.Direction.INBOUND else _("Customer service"),
            "when": m.created_at,
            "text": m.body_text,
            "attachments": [a.filename for a in m.attachments.all()],
        }
        for m in found.messages.filter(direction__in=SHOWN).prefetch_related("attachments")
    ]
    return render(
        request,
        "storefront/account_conversation.html",
        {
            "channel": channel,
            "conversation": found,
            "status_text": STATUS_TEXT[found.status],
            "thread": thread,
            "can_rate": found.status == Conversation.Status.RESOLVED and found.satisfaction is None,
            "ratings": range(1, 6),
            "nonce": secrets.token_urlsafe(16),
            "reply_error": reply_error,
            "reply_text": reply_text,
            "categories": top_categories(channel),
        },
        status=422 if reply_error else 200,
    )


@require_POST
@login_required
def reply(request: HttpRequest, number: str) -> HttpResponse:
    found = _own_conversation(request, number)
    text = request.POST.get("message", "").strip()
    if not text:
        return conversation(request, number, reply_error=_("Write your message."))
    if len(text) > MAX_REPLY:
        return conversation(
            request, number, reply_error=_("Keep the message under 5,000 characters."), reply_text=text
        )
    nonce = request.POST.get("nonce", "")[:40]
    support.receive(
        inbox=found.inbox,
        incoming=support.Incoming(
            via=Message.Via.CONTACT_FORM,
            body_text=text,
            customer=found.customer,
            sender_email=found.customer.email,
            reply_token=found.reply_token,
            # The form's one-time value: a double submit (or a reload of the answer) is stored once.
            external_id=f"account:{found.pk}:{nonce}" if nonce else "",
        ),
    )
    messages.success(request, _("Your message is sent. We will answer here and by e-mail."))
    return redirect(reverse("shop:account_conversation", args=[number]))


@require_POST
@login_required
def rate(request: HttpRequest, number: str) -> HttpResponse:
    found = _own_conversation(request, number)
    raw = request.POST.get("rating", "")
    try:
        support.rate(
            conversation=found,
            rating=int(raw) if raw.isdigit() else 0,
            comment=request.POST.get("comment", "").strip(),
        )
    except DomainError:
        messages.error(request, _("Choose from 1 (poor) to 5 (excellent)."))
    else:
        messages.success(request, _("Thank you for your rating."))
    return redirect(reverse("shop:account_conversation", args=[number]))
