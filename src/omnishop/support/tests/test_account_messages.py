"""The shopper's own conversations in their account: all channels, never the desk's notes, reply and rate."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from omnishop.customers.services import customer_for_user
from omnishop.support import services
from omnishop.support.models import Conversation, Inbox, Message

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}


@pytest.fixture
def ada(settings, web_channel):
    settings.OMNISHOP_WEB_CHANNEL = web_channel.code
    user = get_user_model().objects.create_user("ada", "ada@example.com", "analytical engine 1843")
    customer = customer_for_user(user=user)
    client = Client()
    client.force_login(user)
    return customer, client


@pytest.fixture
def thread(ada, write_in, make_agent, email_inbox, web_channel):
    agent = make_agent("ann", inboxes=[email_inbox])
    first = write_in("My parcel is late", sender="ada@example.com", subject="Late parcel")
    chat = Inbox.objects.create(code="chat", name="Chat", kind=Inbox.Kind.CHAT, channel=web_channel)
    write_in("Also asked on the chat", sender="ada@example.com", inbox=chat, via=Message.Via.CHAT)
    conversation = first.conversation
    services.reply(conversation=conversation, author=agent, body_text="It ships tomorrow.")
    services.reply(conversation=conversation, author=agent, body_text="INTERNAL: she is a VIP", note=True)
    services.record_event(conversation=conversation, text="INTERNAL EVENT: refund considered")
    return Conversation.objects.get(pk=conversation.pk)


def test_the_shopper_lists_and_reads_their_conversations_without_internal_notes(ada, thread):
    _, client = ada
    listing = client.get("/account/messages/")
    assert listing.status_code == 200
    assert thread.number in listing.content.decode() and "Late parcel" in listing.content.decode()
    page = client.get(f"/account/messages/{thread.number}/").content.decode()
    for shown in ("My parcel is late", "Also asked on the chat", "It ships tomorrow."):
        assert shown in page
    assert "INTERNAL" not in page
    assert 'href="/account/messages/"' in client.get("/account/").content.decode()


def test_another_shoppers_conversation_is_not_found(ada, write_in):
    _, client = ada
    bob = write_in("Bob's secret problem", sender="bob@example.com").conversation
    assert client.get(f"/account/messages/{bob.number}/").status_code == 404
    assert client.post(f"/account/messages/{bob.number}/reply", {"message": "hi"}).status_code == 404
    assert client.post(f"/account/messages/{bob.number}/rate", {"rating": "5"}).status_code == 404
    assert bob.number not in client.get("/account/messages/").content.decode()
    assert Message.objects.filter(conversation=bob).count() == 1


def test_a_guest_is_sent_to_sign_in(thread):
    response = Client().get(f"/account/messages/{thread.number}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_shopper_replies_once_per_form(ada, thread):
    _, client = ada
    page = client.get(f"/account/messages/{thread.number}/").content.decode()
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    for _ in range(2):  # a double submit
        response = client.post(
            f"/account/messages/{thread.number}/reply", {"message": "Thank you!", "nonce": nonce}
        )
        assert response.status_code == 302
    replies = Message.objects.filter(conversation=thread, body_text="Thank you!")
    assert replies.count() == 1 and replies.get().via == Message.Via.CONTACT_FORM
    assert replies.get().direction == Message.Direction.INBOUND
    empty = client.post(f"/account/messages/{thread.number}/reply", {"message": "  ", "nonce": "x"})
    assert empty.status_code == 422 and "Write your message." in empty.content.decode()


def test_a_reply_to_a_resolved_conversation_reopens_it(ada, thread):
    _, client = ada
    services.set_status(conversation=thread, status="resolved")
    client.post(f"/account/messages/{thread.number}/reply", {"message": "It did not come", "nonce": "n1"})
    assert Conversation.objects.get(pk=thread.pk).status == "open"


def test_the_shopper_rates_a_resolved_conversation(ada, thread):
    _, client = ada
    page = client.get(f"/account/messages/{thread.number}/").content.decode()
    assert "How did we do?" not in page  # not resolved yet
    refused = client.post(f"/account/messages/{thread.number}/rate", {"rating": "5"}, follow=True)
    assert "Choose from 1" in refused.content.decode()
    services.set_status(conversation=thread, status="resolved")
    assert "How did we do?" in client.get(f"/account/messages/{thread.number}/").content.decode()
    client.post(f"/account/messages/{thread.number}/rate", {"rating": "9"})
    assert Conversation.objects.get(pk=thread.pk).satisfaction is None
    done = client.post(
        f"/account/messages/{thread.number}/rate", {"rating": "4", "comment": "Quick"}, follow=True
    )
    rated = Conversation.objects.get(pk=thread.pk)
    assert (rated.satisfaction, rated.satisfaction_comment) == (4, "Quick")
    assert "You rated this conversation 4 of 5." in done.content.decode()


def test_the_messages_pages_in_chinese(ada, thread):
    _, client = ada
    listing = client.get("/account/messages/", **ZH).content.decode()
    assert "<h1>消息</h1>" in listing
    page = client.get(f"/account/messages/{thread.number}/", **ZH).content.decode()
    assert "客服" in page and "发送回复" in page
