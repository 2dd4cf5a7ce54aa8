"""A customer's support data on request: exported whole, or erased so that nothing of theirs remains."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models

from omnishop.customers.models import Customer
from omnishop.support import services
from omnishop.support.models import Call, CallbackTask, Conversation, Inbox, Message
from omnishop.support.services import phone, privacy

pytestmark = pytest.mark.django_db
PHONE = "+447911123456"
SECRETS = ["Ada Lovelace", "ada@example.com", "7911123456", "analytical engine", "bernoulli", "hidden-notes"]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def ada_and_bob(write_in, make_agent, email_inbox, web_channel, media):
    agent = make_agent("ann", inboxes=[email_inbox])
    first = write_in(
        "My analytical engine arrived broken",
        sender="ada@example.com",
        sender_name="Ada Lovelace",
        subject="Broken analytical engine",
        external_id="<m1.ada@example.com>",
        attachments=[services.IncomingAttachment("bernoulli.png", "image/png", b"\x89PNG bernoulli")],
    )
    conversation = first.conversation
    services.reply(
        conversation=conversation, author=agent, body_text="Sorry Ada Lovelace, a new engine is on its way"
    )
    services.reply(
        conversation=conversation, author=agent, body_text="hidden-notes: ada@example.com", note=True
    )
    Customer.objects.filter(pk=conversation.customer_id).update(phone=PHONE)
    phone_inbox = Inbox.objects.create(
        code="phone", name="Line", kind=Inbox.Kind.PHONE, channel=web_channel, address="+442079460000"
    )
    call = phone.call_arrived(
        inbox=phone_inbox, call_sid="CA" + "9" * 32, from_number=PHONE, to_number="+442079460000"
    ).call
    phone.recording_ready(call_sid=call.provider_sid, recording_url="https://api.twilio.com/rec/RE1")
    phone.status_changed(call_sid=call.provider_sid, status="completed", duration_seconds=40)
    phone.note_call(call=call, author=agent, notes="hidden-notes about the analytical engine")
    services.set_status(conversation=conversation, status="resolved")
    services.rate(conversation=conversation, rating=2, comment="The analytical engine was late")
    bob = write_in("Where is my bicycle?", sender="bob@example.com", sender_name="Bob Stone").conversation
    return Conversation.objects.get(pk=conversation.pk), bob


def test_the_export_holds_every_conversation_message_call_and_attachment_checksum(ada_and_bob):
    ada, _bob = ada_and_bob
    exported = privacy.export_customer(customer=ada.customer)
    json.dumps(exported)  # one JSON document
    assert [c["number"] for c in exported["conversations"]] == [ada.number]
    conversation = exported["conversations"][0]
    texts = [m["body_text"] for m in conversation["messages"]]
    assert "My analytical engine arrived broken" in texts and "hidden-notes: ada@example.com" in texts
    [attachment] = [a for m in conversation["messages"] for a in m["attachments"]]
    import hashlib

    assert attachment == {
        "filename": "bernoulli.png",
        "content_type": "image/png",
        "size": len(b"\x89PNG bernoulli"),
        "sha256": hashlib.sha256(b"\x89PNG bernoulli").hexdigest(),
    }
    [call] = conversation["calls"]
    assert call["from"] == PHONE and call["recording_url"].endswith("RE1") and call["duration_seconds"] == 40
    assert conversation["satisfaction"] == 2
    assert "Bob" not in json.dumps(exported)


def _text_columns():
    for model in apps.get_app_config("support").get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField | models.JSONField | models.FileField):
                yield model, field


def _remaining(secret: str) -> list[str]:
    found = []
    for model, field in _text_columns():
        for pk, value in model.objects.values_list("pk", field.attname):
            if secret.lower() in json.dumps(value, default=str).lower():
                found.append(f"{model.__name__}.{field.name}#{pk}")
    return found


def test_after_erasure_nothing_of_the_customer_remains_in_any_text_column(
    ada_and_bob, media, django_capture_on_commit_callbacks
):
    ada, bob = ada_and_bob
    files = [p for p in Path(media).rglob("*") if p.is_file()]
    assert files and all(_remaining(secret) for secret in SECRETS)  # the search finds them before
    before = (Message.objects.filter(conversation=ada).count(), Call.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        done = privacy.erase_customer(customer=ada.customer)
    assert done.conversations == 1 and done.attachments == 1 and done.calls == 1
    assert {secret: _remaining(secret) for secret in SECRETS} == {secret: [] for secret in SECRETS}
    assert not [p for p in Path(media).rglob("*") if p.is_file()]  # the attachment's file is gone
    # The shell keeps the figures: counts, status, rating, times, the callback task.
    shell = Conversation.objects.get(pk=ada.pk)
    assert (Message.objects.filter(conversation=shell).count(), Call.objects.count()) == before
    assert shell.status == "resolved" and shell.satisfaction == 2 and shell.resolved_at is not None
    assert CallbackTask.objects.filter(conversation=shell).exists()
    # Bob's conversation is untouched.
    assert Message.objects.get(conversation=bob, direction="inbound").body_text == "Where is my bicycle?"
    assert (
        Conversation.objects.get(pk=bob.pk).messages.get(direction="inbound").sender_address
        == "bob@example.com"
    )


def test_an_old_reply_address_no_longer_reaches_the_erased_shell(ada_and_bob, write_in):
    ada, _ = ada_and_bob
    token = ada.reply_token
    privacy.erase_customer(customer=ada.customer)
    again = write_in("hello again", sender="ada@example.com", reply_token=token)
    assert again.conversation_id != ada.pk


def test_the_command_exports_and_erases(ada_and_bob):
    ada, _ = ada_and_bob
    out = StringIO()
    call_command("support", "export", "--customer", str(ada.customer_id), stdout=out)
    assert json.loads(out.getvalue())["conversations"][0]["number"] == ada.number
    dry = StringIO()
    call_command("support", "erase", "--customer", str(ada.customer_id), stdout=dry)
    assert "Would erase 1 conversation" in dry.getvalue() and _remaining("analytical engine")
    out = StringIO()
    call_command("support", "erase", "--customer", str(ada.customer_id), "--yes", stdout=out)
    assert "1 conversation(s)" in out.getvalue() and not _remaining("analytical engine")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="customer_not_found"):
        call_command("support", "export", "--customer", "999999")
