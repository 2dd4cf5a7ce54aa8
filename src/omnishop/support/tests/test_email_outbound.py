"""Agents' e-mail replies go out through Django's SMTP backend to a real SMTP server (aiosmtpd on loopback)
with headers that bring the customer's answer back to the same conversation; a failed send is recorded."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import pytest

from omnishop.support import services
from omnishop.support.models import Conversation, Message
from omnishop.support.services import mime

from .mailservers import free_port, smtp_server_fixture  # noqa: F401  (the smtp_server fixture)

pytestmark = pytest.mark.django_db
S = Conversation.Status


@pytest.fixture
def agent(make_agent, email_inbox):
    return make_agent("sam", inboxes=[email_inbox])


def answer(conversation, agent, text, capture, **kw):
    with capture(execute=True):
        message = services.reply(conversation=conversation, author=agent, body_text=text, **kw)
    message.refresh_from_db()
    return message


def test_a_reply_reaches_the_smtp_server_with_threading_headers(
    write_in, agent, smtp_server, django_capture_on_commit_callbacks
):
    first = write_in(
        "Where is my parcel?",
        sender="ada@example.com",
        subject="Where is my parcel?",
        external_id="<q1@mail.example>",
        references="<q0@mail.example>",
    )
    conversation = first.conversation
    out = answer(conversation, agent, "It left today.", django_capture_on_commit_callbacks)
    assert out.delivery_status == "sent"
    [received] = smtp_server.received
    assert received["Message-ID"] == out.external_id and out.external_id.endswith("@shop.example>")
    assert received["In-Reply-To"] == "<q1@mail.example>"
    assert received["References"] == "<q0@mail.example> <q1@mail.example>"
    assert received["Reply-To"] == f"support+{conversation.reply_token}@shop.example"
    assert received["Subject"] == f"Re: Where is my parcel? [{conversation.number}]"
    assert parseaddr(received["From"])[1] == "help@shop.example"
    assert parseaddr(received["To"])[1] == "ada@example.com"
    assert smtp_server.envelopes == [("help@shop.example", ["ada@example.com"])]
    assert received.get_body(preferencelist=("plain",)).get_content().strip() == "It left today."


def test_the_customers_answer_to_our_reply_threads_back_and_reopens(
    write_in, agent, smtp_server, django_capture_on_commit_callbacks
):
    conversation = write_in(
        "Broken mug", sender="ada@example.com", external_id="<q1@mail.example>"
    ).conversation
    answer(
        conversation,
        agent,
        "Sorry! A new one is on its way.",
        django_capture_on_commit_callbacks,
        then=S.RESOLVED,
    )
    [ours] = smtp_server.received
    # The customer's client answers: To = our Reply-To, In-Reply-To/References = our Message-ID.
    customer_reply = EmailMessage()
    customer_reply["From"] = "Ada <ada@example.com>"
    customer_reply["To"] = ours["Reply-To"]
    customer_reply["Subject"] = "Re: " + ours["Subject"]
    customer_reply["Message-ID"] = make_msgid(domain="mail.example")
    customer_reply["In-Reply-To"] = ours["Message-ID"]
    customer_reply["References"] = f"{ours['References']} {ours['Message-ID']}"
    customer_reply.set_content(
        "It arrived broken too.\n\nOn Tue, Shop wrote:\n> Sorry! A new one is on its way.\n"
    )
    raw = customer_reply.as_bytes()
    outcome = services.receive_email(message=mime.parse(raw), raw=raw)
    conversation.refresh_from_db()
    assert outcome.message.conversation_id == conversation.pk
    assert outcome.message.body_text == "It arrived broken too."
    assert conversation.status == S.OPEN
    assert Conversation.objects.count() == 1


def test_html_replies_carry_a_text_and_an_html_part(
    write_in, agent, smtp_server, django_capture_on_commit_callbacks
):
    conversation = write_in("Hi", sender="ada@example.com").conversation
    with django_capture_on_commit_callbacks(execute=True):
        services.reply(conversation=conversation, author=agent, body_text="Hello", body_html="<p>Hello</p>")
    [received] = smtp_server.received
    assert received.get_body(preferencelist=("html",)).get_content().strip() == "<p>Hello</p>"
    assert received.get_body(preferencelist=("plain",)).get_content().strip() == "Hello"


def test_a_failed_send_is_recorded_and_sent_again_later(
    write_in, agent, settings, smtp_server, django_capture_on_commit_callbacks
):
    conversation = write_in("Hi", sender="ada@example.com").conversation
    settings.EMAIL_PORT = free_port()  # nothing listens there
    out = answer(conversation, agent, "Hello", django_capture_on_commit_callbacks)
    assert out.delivery_status == "failed"
    event = conversation.messages.get(direction=Message.Direction.EVENT, body_text__startswith="The e-mail")
    assert "ConnectionRefusedError" in event.body_text
    settings.EMAIL_PORT = smtp_server.port
    assert services.resend_failed() == 1
    out.refresh_from_db()
    assert out.delivery_status == "sent"
    assert smtp_server.received[0]["Message-ID"] == out.external_id  # the same message, sent once it could


def test_notes_are_never_emailed(write_in, agent, smtp_server, django_capture_on_commit_callbacks):
    conversation = write_in("Hi", sender="ada@example.com").conversation
    answer(conversation, agent, "Customer sounds upset", django_capture_on_commit_callbacks, note=True)
    assert smtp_server.received == []
