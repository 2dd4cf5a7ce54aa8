"""Live chat, as a service: sessions for guests and signed-in shoppers, what each side may read, offline
hand-over to e-mail, transcripts and rate limits."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import override_settings

from omnishop.core import ratelimit
from omnishop.core.errors import RateLimited
from omnishop.customers.models import Customer
from omnishop.support import services
from omnishop.support.errors import (
    ChatEmailRequired,
    ChatNotFound,
    ConversationNotFound,
    EmptyMessage,
    SenderRequired,
)
from omnishop.support.models import Conversation, Inbox, Message

pytestmark = pytest.mark.django_db
chat = services.chat


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # rate-limit counters and shopper presence live in the shared cache
    yield
    cache.clear()


@pytest.fixture
def chat_inbox(web_channel):
    return Inbox.objects.create(code="chat", name="Chat", kind=Inbox.Kind.CHAT, channel=web_channel)


@pytest.fixture
def agent(make_agent, chat_inbox):
    return make_agent("ann", inboxes=[chat_inbox])


def start_guest(inbox, text="Hi, is the blue mug dishwasher safe?", **kw):
    kw.setdefault("name", "Grace Hopper")
    kw.setdefault("email", "grace@example.com")
    kw.setdefault("page_url", "/p/blue-mug")
    return chat.start(inbox=inbox, body_text=text, **kw)


def test_a_guest_starts_a_chat_that_becomes_a_conversation_of_their_customer(chat_inbox, agent):
    session = start_guest(chat_inbox)
    conversation = session.conversation
    assert not session.offline
    assert conversation.inbox == chat_inbox
    assert conversation.customer.email == "grace@example.com"
    first = conversation.messages.get(direction=Message.Direction.INBOUND)
    assert (first.via, first.body_text) == ("chat", "Hi, is the blue mug dishwasher safe?")
    assert first.pk == session.floor
    started = conversation.messages.get(direction=Message.Direction.EVENT)
    assert started.body_text == "Chat started on /p/blue-mug."  # the page the shopper was on


def test_a_signed_in_shopper_chats_as_their_customer(chat_inbox, agent):
    ada = Customer.objects.create(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    session = chat.start(inbox=chat_inbox, body_text="Hello", customer=ada)
    assert session.conversation.customer == ada
    assert session.conversation.messages.first().sender_name == "Ada Lovelace"


def test_a_guest_must_say_who_they_are(chat_inbox, agent):
    with pytest.raises(SenderRequired):
        start_guest(chat_inbox, name="")
    with pytest.raises(ChatEmailRequired):
        start_guest(chat_inbox, email="")
    with pytest.raises(ChatEmailRequired):
        start_guest(chat_inbox, email="not an address")
    with pytest.raises(EmptyMessage):
        start_guest(chat_inbox, text="   ")
    assert not Conversation.objects.exists()


def test_with_nobody_online_the_shopper_is_told_and_must_leave_an_email(chat_inbox, make_agent):
    make_agent("away", inboxes=[chat_inbox], online=False)
    ada = Customer.objects.create(first_name="Ada")  # signed in, but no e-mail on file
    with pytest.raises(ChatEmailRequired):
        chat.start(inbox=chat_inbox, body_text="Anyone there?", customer=ada)
    session = start_guest(chat_inbox)
    assert session.offline
    note = session.conversation.messages.get(direction=Message.Direction.EVENT).body_text
    assert "No agent was online: answer by e-mail to grace@example.com." in note


def test_the_shoppers_next_messages_join_their_conversation_through_the_session_token(chat_inbox, agent):
    session = start_guest(chat_inbox)
    again = chat.session(session.token)
    message = chat.post(chat=again, body_text="It's the 350 ml one")
    assert message.conversation == session.conversation
    assert message.via == "chat"
    assert Conversation.objects.count() == 1


def test_a_double_submit_with_the_same_client_id_is_stored_once(chat_inbox, agent):
    session = start_guest(chat_inbox)
    first = chat.post(chat=session, body_text="Thanks", client_id="c-1")
    second = chat.post(chat=session, body_text="Thanks", client_id="c-1")
    assert first.pk == second.pk


def test_an_altered_or_made_up_token_opens_no_chat(chat_inbox, agent):
    session = start_guest(chat_inbox)
    for token in ("", "nonsense", session.token[:-2] + "xx"):
        with pytest.raises(ChatNotFound):
            chat.session(token)


def test_the_shopper_sees_their_session_and_answers_never_notes_or_older_history(
    chat_inbox, agent, write_in, email_inbox
):
    email_inbox.members.add(agent)
    earlier = write_in("A private question about my account", sender="grace@example.com")
    session = start_guest(chat_inbox)
    assert session.conversation == earlier.conversation  # the customer's open conversation, across channels
    services.reply(conversation=session.conversation, author=agent, body_text="Internal: VIP", note=True)
    answer = services.reply(conversation=session.conversation, author=agent, body_text="Yes, it is.")
    seen = [m.body_text for m in chat.shopper_messages(session).order_by("pk")]
    assert seen == ["Hi, is the blue mug dishwasher safe?", "Yes, it is."]
    assert earlier.body_text not in seen
    agent_sees = chat.read_after(chat.agent_messages(user=agent, number=session.conversation.number), after=0)
    assert {m.pk for m in agent_sees} >= {earlier.pk, answer.pk}


def test_agents_read_only_conversations_of_their_inboxes(chat_inbox, agent, make_agent, email_inbox):
    session = start_guest(chat_inbox)
    stranger = make_agent("bob", inboxes=[email_inbox])
    with pytest.raises(ConversationNotFound):
        chat.agent_messages(user=stranger, number=session.conversation.number)
    assert not chat.inbox_messages(user=stranger).exists()
    assert chat.inbox_messages(user=agent).filter(conversation=session.conversation).exists()


def test_an_answer_goes_onto_the_open_chat(chat_inbox, agent, django_capture_on_commit_callbacks):
    session = start_guest(chat_inbox)
    with django_capture_on_commit_callbacks(execute=True):
        answer = services.reply(conversation=session.conversation, author=agent, body_text="Yes!")
    answer.refresh_from_db()
    assert (answer.via, answer.delivery_status) == ("chat", "sent")


def test_an_answer_after_the_shopper_left_goes_by_email(
    chat_inbox, agent, django_capture_on_commit_callbacks
):
    emailed = []
    previous = services.sender_for("email")
    services.register_sender("email", emailed.append)
    try:
        session = start_guest(chat_inbox)
        ratelimit.unmark(f"support:chat:present:{session.conversation.pk}")  # their stream closed a while ago
        with django_capture_on_commit_callbacks(execute=True):
            answer = services.reply(conversation=session.conversation, author=agent, body_text="Yes!")
    finally:
        if previous is None:
            services.conversations._SENDERS.pop("email", None)
        else:
            services.register_sender("email", previous)
    answer.refresh_from_db()
    assert answer.via == "email"
    assert [m.pk for m in emailed] == [answer.pk]


def test_the_transcript_is_emailed_to_the_shopper(chat_inbox, agent):
    session = start_guest(chat_inbox)
    services.reply(conversation=session.conversation, author=agent, body_text="Yes, up to 65 °C.")
    assert chat.email_transcript(chat=session) == "grace@example.com"
    [sent] = mail.outbox
    assert sent.to == ["grace@example.com"]
    assert session.conversation.number in sent.subject
    assert "You: Hi, is the blue mug dishwasher safe?" in sent.body
    assert "ann: Yes, up to 65 °C." in sent.body


@override_settings(OMNISHOP_CHAT_LIMITS={"session": 3, "address": 100})
def test_a_shopper_sending_too_fast_is_told_to_slow_down(chat_inbox, agent):
    session = start_guest(chat_inbox)
    for n in range(3):
        chat.post(chat=session, body_text=f"message {n}", address="10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        chat.post(chat=session, body_text="one too many", address="10.0.0.1")
    assert refused.value.details["retry_after"] == 60
    assert session.conversation.messages.filter(body_text="one too many").count() == 0


@override_settings(OMNISHOP_CHAT_LIMITS={"session": 100, "address": 2})
def test_one_address_is_limited_across_its_chats(chat_inbox, agent):
    one = start_guest(chat_inbox, email="one@example.com")
    two = start_guest(chat_inbox, email="two@example.com")
    chat.post(chat=one, body_text="a", address="10.0.0.9")
    chat.post(chat=two, body_text="b", address="10.0.0.9")
    with pytest.raises(RateLimited):
        chat.post(chat=two, body_text="c", address="10.0.0.9")
    chat.post(chat=two, body_text="d", address="10.0.0.10")  # another address is not held back
