"""Inbound e-mail under real concurrency: a provider posts its webhooks in parallel, so the e-mails of one
thread can arrive at the same moment, each on its own PostgreSQL connection."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from django.db import connection
from django.test import Client

from omnishop.customers import services as customers
from omnishop.customers.models import Customer
from omnishop.support.models import Conversation, Message

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
SECRET = "postmark-hook:concurrency-secret"
POSTMARK = "/support/email/postmark/inbound/"


@pytest.fixture(autouse=True)
def _postgres_only(settings, email_inbox):
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def postmark(*, sender: str, message_id: str, subject: str, body: str, in_reply_to: str = "") -> str:
    reply = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    raw = (
        "Authentication-Results: mx.shop.example; spf=pass smtp.mailfrom=example.com; dkim=pass\r\n"
        f"From: Pat Doe <{sender}>\r\nTo: Shop Support <help@shop.example>\r\nSubject: {subject}\r\n"
        f"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: {message_id}\r\n{reply}MIME-Version: 1.0\r\n"
        f'Content-Type: text/plain; charset="UTF-8"\r\n\r\n{body}\r\n'
    )
    return json.dumps(
        {
            "From": sender,
            "FromFull": {"Email": sender, "Name": "Pat Doe", "MailboxHash": ""},
            "To": "help@shop.example",
            "ToFull": [{"Email": "help@shop.example", "Name": "", "MailboxHash": ""}],
            "OriginalRecipient": "help@shop.example",
            "Headers": [{"Name": "Return-Path", "Value": f"<{sender}>"}],
            "RawEmail": raw,
        }
    )


def post_at_once(*payloads: str) -> list[int]:
    """POST every payload through the webhook on its own thread (its own connection), released together."""
    statuses: list[int] = [0] * len(payloads)
    barrier = threading.Barrier(len(payloads))
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()

    def post(index: int) -> None:
        try:
            barrier.wait()
            response = Client().post(
                POSTMARK,
                payloads[index],
                content_type="application/json",
                secure=True,
                HTTP_AUTHORIZATION=auth,
            )
            statuses[index] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_a_new_senders_email_and_its_reply_arriving_together_share_one_conversation():
    for n in range(5):  # a race is a matter of chance: several rounds
        sender = f"new{n}@example.net"
        first = f"<first-{n}@mail.example.net>"
        statuses = post_at_once(
            postmark(sender=sender, message_id=first, subject="Do you ship to Wales?", body="Hello?"),
            postmark(
                sender=sender,
                message_id=f"<second-{n}@mail.example.net>",
                subject="Re: Do you ship to Wales?",
                body="And to Cornwall?",
                in_reply_to=first,
            ),
        )
        assert statuses == [200, 200]
        assert Message.objects.filter(sender_address=sender).count() == 2
        assert Conversation.objects.filter(customer__email=sender).count() == 1
        assert Customer.objects.filter(email=sender).count() == 1


def test_a_known_customers_two_emails_arriving_together_share_one_conversation(web_channel):
    for n in range(5):
        sender = f"known{n}@example.com"
        customers.resolve_customer(channel=web_channel, email=sender, first_name="Pat", last_name="Doe")
        statuses = post_at_once(
            *[
                postmark(
                    sender=sender,
                    message_id=f"<known-{n}-{i}@mail.example.com>",
                    subject="Where is my parcel?",
                    body=f"Still nothing ({i}).",
                )
                for i in range(3)
            ]
        )
        assert statuses == [200, 200, 200]
        assert Message.objects.filter(sender_address=sender).count() == 3
        assert Conversation.objects.filter(customer__email=sender).count() == 1


def test_the_same_email_posted_twice_at_once_is_stored_once():
    payload = postmark(
        sender="twice@example.com", message_id="<retry@mail.example.com>", subject="Hi", body="Once only"
    )
    assert post_at_once(payload, payload) == [200, 200]
    assert Message.objects.filter(external_id="<retry@mail.example.com>").count() == 1
