"""The chat hub wakes the streams a message is for, and only those: with 100 chats open in a process, one
shopper's message must not wake the other 99 streams (each waking took the hub's lock and the GIL: a
thundering herd per message)."""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from django.db import connection
from django.test import override_settings

from omnishop.support.services import chat_hub
from omnishop.support.services.chat_hub import Arrival, Hub

pytestmark = pytest.mark.django_db(transaction=True)  # the hub's poller reads the message table


@pytest.fixture
def hub():
    with override_settings(OMNISHOP_CHAT_POLL_SECONDS=30, OMNISHOP_CHAT_REDIS_URL="", REDIS_URL=""):
        hub = Hub()
        yield hub
        hub.shutdown()


def waiting(hub: Hub, **wake) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(woken=hub.wait(after=100, timeout=20, **wake)), daemon=True
    )
    thread.start()
    return thread, result


def until_waiting(hub: Hub, count: int) -> None:
    deadline = time.monotonic() + 10
    while hub._waiters < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub._waiters == count


def test_a_message_wakes_its_conversations_stream_and_the_inbox_stream_but_no_other(hub):
    streams = {c: waiting(hub, conversation_ids=[c]) for c in range(1, 101)}
    inbox_list, inbox_result = waiting(hub, inbox_ids=[7])
    other_inbox, other_inbox_result = waiting(hub, inbox_ids=[8])
    until_waiting(hub, 102)

    hub.notify([Arrival(pk=101, conversation_id=42, inbox_id=7)])
    streams[42][0].join(5)
    inbox_list.join(5)
    assert streams[42][1] == {"woken": 101} and inbox_result == {"woken": 101}
    time.sleep(0.2)
    assert hub.wakeups == 2  # not 102
    assert hub._waiters == 100  # the 99 other conversations' streams and the other inbox's still wait
    assert all(not result for c, (_, result) in streams.items() if c != 42) and not other_inbox_result

    hub.shutdown()  # a stopping worker ends every stream at once
    for thread, _ in streams.values():
        thread.join(5)
    other_inbox.join(5)
    assert all(result == {"woken": 0} for c, (_, result) in streams.items() if c != 42)


def test_a_message_announced_just_before_a_stream_waits_is_not_missed(hub):
    hub.notify([Arrival(pk=101, conversation_id=42, inbox_id=7)])
    began = time.monotonic()
    assert hub.wait(conversation_ids=[42], after=100, timeout=10) == 101  # read before it committed
    assert hub.wait(inbox_ids=[7], after=100, timeout=10) == 101
    assert time.monotonic() - began < 5
    assert hub.wait(conversation_ids=[42], after=101, timeout=0.2) == 0  # already read it (or not its to see)


def test_an_older_message_does_not_wake_a_stream_that_has_read_past_it(hub):
    thread, result = waiting(hub, conversation_ids=[42])
    until_waiting(hub, 1)
    hub.notify([Arrival(pk=99, conversation_id=42, inbox_id=7)])
    time.sleep(0.2)
    assert not result and hub._waiters == 1
    hub.notify(
        [Arrival(pk=102, conversation_id=42, inbox_id=7), Arrival(pk=103, conversation_id=42, inbox_id=7)]
    )
    thread.join(5)
    assert result == {"woken": 103}


@override_settings(OMNISHOP_CHAT_PG_NOTIFY=True)  # opt-in (ADR 0039)
def test_on_postgresql_a_notify_from_another_process_wakes_a_waiting_stream(hub):
    if not chat_hub.pg_notify():
        pytest.skip("LISTEN/NOTIFY: PostgreSQL without Redis, not through a pooler in transaction mode")
    import psycopg
    from django.db import connections

    thread, result = waiting(hub, conversation_ids=[424242])
    deadline = time.monotonic() + 10
    while not hub.pg_listening and time.monotonic() < deadline:
        time.sleep(0.02)  # until this process's hub listens
    assert hub.pg_listening
    with psycopg.connect(**connections["default"].get_connection_params(), autocommit=True) as other_worker:
        sent = time.monotonic()
        other_worker.execute(
            "SELECT pg_notify(%s, %s)",
            [
                chat_hub.PG_CHANNEL,
                orjson.dumps({"pk": 10**9, "conversation_id": 424242, "inbox_id": 1}).decode(),
            ],
        )
        thread.join(15)
    assert result == {"woken": 10**9}
    assert time.monotonic() - sent < 2  # the database poll (every 30 s here) could not have woken it


def test_a_shoppers_stream_does_not_spin_on_a_message_it_may_not_see(web_channel, make_agent):
    """The chat's start writes an event after the shopper's first message; the shopper's stream does not
    show events, and must not wake for that one again and again until it ends."""
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from omnishop.support import chat as views
    from omnishop.support.models import Inbox, Message
    from omnishop.support.services import chat

    inbox = Inbox.objects.create(code="chat", name="Chat", kind=Inbox.Kind.CHAT, channel=web_channel)
    make_agent("ann", inboxes=[inbox])
    session = chat.start(inbox=inbox, body_text="Hello?", name="Grace", email="grace@example.com")
    event = Message.objects.filter(conversation=session.conversation).latest("pk")
    assert event.direction == Message.Direction.EVENT and event.pk > session.floor
    chat_hub.HUB.notify([Arrival(event.pk, session.conversation.pk, inbox.pk)])  # as the poll announces it
    request = RequestFactory().get(f"/support/chat/stream?token={session.token}")
    request.META["wsgi.multithread"] = True  # a threaded server: the stream waits
    with override_settings(OMNISHOP_CHAT_STREAM_SECONDS=1.5), CaptureQueriesContext(connection) as queries:
        body = b"".join(views.shopper_stream(request).streaming_content)
    assert b'"text":"Hello?"' in body and b"Chat started" not in body
    reads = [q for q in queries.captured_queries if '"support_message"' in q["sql"]]
    assert len(reads) <= 4  # the first message, an empty read, one wake for the event, one empty read


def test_the_poll_announces_a_message_whose_key_is_behind_its_cursor(write_in):
    """Keys are drawn at insert: another worker's message can commit after one with a higher key that the
    poll already passed. The poll reads back behind its cursor, so that message still wakes its stream."""
    if connection.vendor != "postgresql":
        pytest.skip("two writers at once: SQLite has one")
    from django.db import transaction

    drawn, release, done = threading.Event(), threading.Event(), {}

    def slow_worker():
        try:
            with transaction.atomic():
                done["early"] = write_in("first", sender="ada@example.com")  # its key is drawn first…
                drawn.set()
                release.wait(10)  # …and it commits only after the poll has passed a later key
        finally:
            connection.close()

    worker = threading.Thread(target=slow_worker)
    worker.start()
    assert drawn.wait(10)
    early = done["early"]
    late = write_in("second", sender="bob@example.com")
    assert late.pk > early.pk
    with override_settings(OMNISHOP_CHAT_POLL_SECONDS=0.05, OMNISHOP_CHAT_REDIS_URL="", REDIS_URL=""):
        hub = Hub()
        try:
            result: dict = {}
            stream = threading.Thread(
                target=lambda: result.update(
                    woken=hub.wait(conversation_ids=[early.conversation_id], after=early.pk - 1, timeout=10)
                )
            )
            stream.start()
            deadline = time.monotonic() + 10
            while (hub._cursor or 0) < late.pk and time.monotonic() < deadline:
                time.sleep(0.02)
            assert hub._cursor >= late.pk and not result  # the poll passed `late`; `early` is not visible yet
            release.set()
            worker.join(10)
            stream.join(10)
            assert result == {"woken": early.pk}
            # Announced once: a stream that read it is not woken again by the polls that read it back.
            assert hub.wait(conversation_ids=[early.conversation_id], after=early.pk, timeout=0.3) == 0
        finally:
            release.set()
            hub.shutdown()
