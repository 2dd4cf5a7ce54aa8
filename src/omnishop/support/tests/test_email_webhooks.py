"""Providers' inbound webhooks (through django-anymail): the payloads Postmark and Mailgun document, checked
as each provider signs them (Postmark: HTTP basic auth; Mailgun: HMAC-SHA256 of timestamp + token)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from omnishop.support.models import Conversation, Message

pytestmark = pytest.mark.django_db
MAIL = Path(__file__).parent / "mail"
SECRET = "postmark-hook:Hx7-long-random-password"
SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK = "/support/email/postmark/inbound/"
MAILGUN = "/support/email/mailgun/inbound/"
MAILGUN_MIME = "/support/email/mailgun/inbound_mime/"


@pytest.fixture(autouse=True)
def providers(settings, email_inbox):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


def basic(credentials: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


def postmark_payload(**overrides) -> dict:
    """Postmark's documented inbound JSON (postmarkapp.com/developer/webhooks/inbound-webhook)."""
    payload = {
        "FromName": "Ada Lovelace",
        "MessageStream": "inbound",
        "From": "ada@example.com",
        "FromFull": {"Email": "ada@example.com", "Name": "Ada Lovelace", "MailboxHash": ""},
        "To": '"Shop Support" <help@shop.example>',
        "ToFull": [{"Email": "help@shop.example", "Name": "Shop Support", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": "help@shop.example",
        "Subject": "Wrong colour",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Tue, 1 Dec 2026 16:45:32 +0000",
        "TextBody": "I ordered blue and got red.\n\nOn Mon, Shop <help@shop.example> wrote:\n> Thanks for your order\n",
        "HtmlBody": "<p>I ordered blue and got red.</p><script>alert(1)</script>",
        "StrippedTextReply": "I ordered blue and got red.",
        "Tag": "",
        "Headers": [
            {"Name": "Return-Path", "Value": "<ada@example.com>"},
            {
                "Name": "X-Spam-Checker-Version",
                "Value": "SpamAssassin 3.3.1 (2010-03-16) onrs-ord-pm-inbound1.wildbit.com",
            },
            {"Name": "X-Spam-Status", "Value": "No"},
            {"Name": "X-Spam-Score", "Value": "-0.1"},
            {
                "Name": "Received-SPF",
                "Value": "Pass (sender SPF authorized) identity=mailfrom; client-ip=209.85.160.180",
            },
            {
                "Name": "Authentication-Results",
                "Value": "inbound.postmarkapp.com; dkim=pass header.d=example.com",
            },
            {"Name": "Message-ID", "Value": "<CAHp1DW7W3aQxX+kTn@mail.example.com>"},
            {"Name": "MIME-Version", "Value": "1.0"},
        ],
        "Attachments": [
            {
                "Name": "photo.png",
                "Content": base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode(),
                "ContentType": "image/png",
                "ContentLength": 12,
                "ContentID": "",
            }
        ],
    }
    payload.update(overrides)
    return payload


def test_postmark_inbound_json_becomes_a_conversation(client):
    response = client.post(
        POSTMARK, json.dumps(postmark_payload()), content_type="application/json", **basic()
    )
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.external_id == "<CAHp1DW7W3aQxX+kTn@mail.example.com>"
    assert message.body_text == "I ordered blue and got red."
    assert "script" not in message.body_html and "I ordered blue" in message.body_html
    assert message.auth_results["spf"] == "pass" and message.auth_results["dkim"] == "pass"
    assert message.auth_results["provider"] == "postmark"
    assert [a.filename for a in message.attachments.all()] == ["photo.png"]
    assert message.conversation.customer.email == "ada@example.com"


def test_postmark_raw_email_and_a_retry_store_it_once(client):
    raw = (MAIL / "foxmail_gbk.eml").read_bytes().decode("ascii")
    payload = postmark_payload(RawEmail=raw, OriginalRecipient="help@shop.example")
    for _ in range(2):  # Postmark retries when it did not see our 200
        assert (
            client.post(POSTMARK, json.dumps(payload), content_type="application/json", **basic()).status_code
            == 200
        )
    message = Message.objects.get()
    assert message.subject == "\u8ba2\u5355\u95ee\u9898\uff1a\u9555\u7684\u676f\u5b50\u574f\u4e86"
    assert message.sender_address == "zhurong@qq.com"


@pytest.mark.parametrize("credentials", [None, "postmark-hook:wrong", "someone:" + SECRET.split(":")[1]])
def test_postmark_without_the_right_basic_auth_is_refused(client, credentials):
    headers = basic(credentials) if credentials else {}
    response = client.post(
        POSTMARK, json.dumps(postmark_payload()), content_type="application/json", **headers
    )
    assert response.status_code == 400
    assert Message.objects.count() == 0


def test_a_provider_without_its_secret_is_not_there(client, settings):
    settings.ANYMAIL = {}
    response = client.post(POSTMARK, json.dumps(postmark_payload()), content_type="application/json")
    assert response.status_code == 404
    assert client.post(MAILGUN, mailgun_fields()).status_code == 404
    assert Message.objects.count() == 0


def sign(fields: dict, key: str = SIGNING_KEY) -> dict:
    timestamp, token = str(int(time.time())), "50f43bb53c2f5a1a13e5d5b0e3d1b5b9b2b6f2a8e2c5fd3a41"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": timestamp, "token": token, "signature": signature}


def mailgun_fields(**overrides) -> dict:
    """Mailgun's documented forward() route payload (parsed fields, multipart/form-data). Anymail also wants
    the shared basic auth in the route's URL (https://user:password@…/mailgun/inbound/) when it is set."""
    headers = [
        ["Received", "from mail-ot1-f41.google.com (mail-ot1-f41.google.com [209.85.210.41])"],
        ["X-Mailgun-Spf", "Pass"],
        ["X-Mailgun-Dkim-Check-Result", "Pass"],
        ["From", "Grace Hopper <grace@example.org>"],
        ["To", "help@shop.example"],
        ["Subject", "Lamp arrived broken"],
        ["Message-Id", "<CAOk3Rz9bS1@mail.example.org>"],
        ["Mime-Version", "1.0"],
        ["Content-Type", 'multipart/mixed; boundary="0000000000001"'],
    ]
    fields = {
        "recipient": "help@shop.example",
        "sender": "grace@example.org",
        "from": "Grace Hopper <grace@example.org>",
        "subject": "Lamp arrived broken",
        "body-plain": "The lamp arrived broken.\r\n\r\nGrace\r\n",
        "stripped-text": "The lamp arrived broken.",
        "stripped-signature": "Grace",
        "body-html": "<div>The lamp arrived broken.</div>",
        "stripped-html": "<div>The lamp arrived broken.</div>",
        "attachment-count": "1",
        "attachment-1": SimpleUploadedFile(
            "receipt.pdf", b"%PDF-1.4 receipt", content_type="application/pdf"
        ),
        "message-headers": json.dumps(headers),
        "content-id-map": "{}",
    }
    fields.update(overrides)
    return sign(fields)


def test_mailgun_parsed_fields_signed_become_a_conversation(client):
    response = client.post(MAILGUN, mailgun_fields(), **basic())
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.external_id == "<CAOk3Rz9bS1@mail.example.org>"
    assert message.body_text == "The lamp arrived broken.\n\nGrace"
    assert message.auth_results == {"spf": "pass", "dkim": "pass", "provider": "mailgun"}
    assert [a.filename for a in message.attachments.all()] == ["receipt.pdf"]


def test_mailgun_raw_mime_threads_by_the_reply_token(client, write_in):
    conversation = write_in("Hi", sender="francoise.dupont@orange.fr").conversation
    raw = (MAIL / "thunderbird_latin1.eml").read_bytes().decode("latin-1")
    raw = raw.replace(
        "To: Shop Support <help@shop.example>", f"To: support+{conversation.reply_token}@shop.example"
    )
    fields = sign({"recipient": f"support+{conversation.reply_token}@shop.example", "body-mime": raw})
    assert client.post(MAILGUN_MIME, fields, **basic()).status_code == 200
    message = Message.objects.get(external_id="<3f8e2a1b-7c6d-4e5f-9a8b-1c2d3e4f5a6b@orange.fr>")
    assert message.conversation_id == conversation.pk
    assert message.subject == "Re: Cr\u00e8me br\u00fbl\u00e9e fondue"
    assert message.body_text.endswith("rembourser ?\n\nFran\u00e7oise")
    assert "la cr\u00e8me br\u00fbl\u00e9e est" in message.body_raw  # the raw MIME Mailgun posted, kept


def test_mailgun_with_a_bad_signature_is_refused(client):
    fields = mailgun_fields()
    fields["signature"] = "0" * 64
    assert client.post(MAILGUN, fields, **basic()).status_code == 400
    forged = sign(
        {k: v for k, v in mailgun_fields().items() if k not in ("timestamp", "token", "signature")},
        key="key-other",
    )
    assert client.post(MAILGUN, forged, **basic()).status_code == 400
    assert Message.objects.count() == 0 and Conversation.objects.count() == 0


def test_mail_for_no_inbox_is_accepted_and_dropped_so_the_provider_stops_retrying(client):
    payload = postmark_payload(
        ToFull=[{"Email": "sales@other.example", "Name": "", "MailboxHash": ""}],
        To="sales@other.example",
        OriginalRecipient="sales@other.example",
    )
    assert (
        client.post(POSTMARK, json.dumps(payload), content_type="application/json", **basic()).status_code
        == 200
    )
    assert Message.objects.count() == 0


def test_a_postmark_mail_without_message_id_is_still_stored_once(client):
    headers = [h for h in postmark_payload()["Headers"] if h["Name"] != "Message-ID"]
    payload = json.dumps(postmark_payload(Headers=headers))
    for _ in range(2):
        assert client.post(POSTMARK, payload, content_type="application/json", **basic()).status_code == 200
    message = Message.objects.get()
    assert message.external_id == "<73e6d360-66eb-11e1-8e72-a8904824019b@inbound.postmarkapp.com>"
