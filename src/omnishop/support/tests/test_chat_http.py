"""Live chat over real HTTP: a live server on loopback, the streams read with httpx as a browser's
EventSource reads them — the shopper's message arrives on the agent's open stream, the agent's answer on
the shopper's, and each side reads only what is theirs."""

from __future__ import annotations

import os
import threading
import time

import httpx
import orjson
import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from omnishop.support import services
from omnishop.support.models import Inbox, Message
from omnishop.support.services import chat_hub

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def short_streams():
    cache.clear()
    with override_settings(OMNISHOP_CHAT_STREAM_SECONDS=8, OMNISHOP_CHAT_POLL_SECONDS=0.1):
        yield
        chat_hub.HUB.shutdown()  # streams still open on the live server end now, not after the test
    cache.clear()


@pytest.fixture
def chat_inbox(web_channel):
    return Inbox.objects.create(code="chat", name="Chat", kind=Inbox.Kind.CHAT, channel=web_channel)


@pytest.fixture
def agent(make_agent, chat_inbox):
    return make_agent("ann", inboxes=[chat_inbox])


def shopper(base_url: str) -> httpx.Client:
    """A browser on the shop: it fetched the widget's state, so it holds the CSRF cookie and token."""
    client = httpx.Client(base_url=base_url, timeout=30)
    state = client.get("/support/chat/").raise_for_status().json()
    client.headers["X-CSRFToken"] = state["csrf_token"]
    return client


def signed_in(base_url: str, user) -> httpx.Client:
    django_client = Client()
    django_client.force_login(user)
    client = httpx.Client(base_url=base_url, timeout=30)
    client.cookies.set("sessionid", django_client.cookies["sessionid"].value)
    return client


class StreamReader(threading.Thread):
    """Reads one server-sent-event stream in the background, as EventSource would, collecting its events."""

    def __init__(self, client: httpx.Client, url: str, headers: dict | None = None) -> None:
        super().__init__(daemon=True)
        self.client, self.url, self.headers = client, url, headers or {}
        self.events: list[dict] = []
        self.opened = threading.Event()
        self.status = 0
        self.content_type = ""

    def run(self) -> None:
        with self.client.stream("GET", self.url, headers=self.headers) as response:
            self.status = response.status_code
            self.content_type = response.headers.get("content-type", "")
            self.opened.set()
            event: dict = {}
            for line in response.iter_lines():
                if line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("data: "):
                    event["data"] = orjson.loads(line[6:])
                elif line == "":
                    if "data" in event:  # an id-only block moves the cursor, it is not an event
                        self.events.append(event)
                    event = {}

    def wait_for(self, text: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("data", {}).get("text") == text:
                    return event
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never arrived; got {[e.get('data') for e in self.events]}")


def test_a_shoppers_message_arrives_on_the_agents_open_stream(live_server, chat_inbox, agent):
    browser = shopper(live_server.url)
    started = browser.post(
        "/support/chat/start",
        json={"name": "Grace", "email": "grace@example.com", "message": "Hello?", "page": "/p/mug"},
    )
    assert started.status_code == 201, started.text
    number, token = started.json()["number"], started.json()["token"]

    desk = signed_in(live_server.url, agent)
    inbox_stream = StreamReader(desk, reverse("support:agent-inbox-stream"))
    conversation_stream = StreamReader(desk, reverse("support:agent-stream", kwargs={"number": number}))
    inbox_stream.start()
    conversation_stream.start()
    assert conversation_stream.opened.wait(10) and inbox_stream.opened.wait(10)
    assert conversation_stream.status == 200
    assert conversation_stream.content_type.startswith("text/event-stream")
    time.sleep(0.3)  # both are waiting now

    sent = time.monotonic()
    posted = browser.post(
        "/support/chat/messages", json={"message": "It's about order 42"}, headers={"X-Chat-Token": token}
    )
    assert posted.status_code == 201, posted.text
    event = conversation_stream.wait_for("It's about order 42")
    latency = time.monotonic() - sent
    assert event["id"] == posted.json()["id"]
    assert event["data"]["direction"] == "inbound" and event["data"]["conversation"] == number
    assert inbox_stream.wait_for("It's about order 42")["data"]["conversation"] == number
    assert latency < 5  # live, not on the stream's next reconnect


def test_an_agents_answer_arrives_on_the_shoppers_open_stream(live_server, chat_inbox, agent):
    browser = shopper(live_server.url)
    started = browser.post(
        "/support/chat/start", json={"name": "Grace", "email": "grace@example.com", "message": "Hello?"}
    ).json()
    stream = StreamReader(browser, f"/support/chat/stream?token={started['token']}")
    stream.start()
    assert stream.opened.wait(10)
    assert stream.wait_for("Hello?")["data"]["from"] == "you"  # the session so far, then live

    conversation = services.get_for_agent(user=agent, number=started["number"])
    services.reply(conversation=conversation, author=agent, body_text="Internal only", note=True)
    answer = services.reply(conversation=conversation, author=agent, body_text="Hi Grace, how can I help?")
    event = stream.wait_for("Hi Grace, how can I help?")
    assert event["data"]["from"] == "agent" and event["data"]["author"] == "ann"
    assert all(e["data"]["text"] != "Internal only" for e in stream.events)
    answer.refresh_from_db()
    assert (answer.via, answer.delivery_status) == ("chat", "sent")


def test_a_reconnecting_stream_resumes_after_the_last_event_it_saw(live_server, chat_inbox, agent):
    browser = shopper(live_server.url)
    started = browser.post(
        "/support/chat/start", json={"name": "Grace", "email": "grace@example.com", "message": "One"}
    ).json()
    headers = {"X-Chat-Token": started["token"]}
    second = browser.post("/support/chat/messages", json={"message": "Two"}, headers=headers).json()
    browser.post("/support/chat/messages", json={"message": "Three"}, headers=headers)
    stream = StreamReader(
        browser,
        f"/support/chat/stream?token={started['token']}",
        headers={"Last-Event-ID": str(second["id"])},
    )
    stream.start()
    stream.wait_for("Three")
    assert [e["data"]["text"] for e in stream.events] == ["Three"]


def test_a_stream_names_its_cursor_first_so_an_early_reconnect_misses_nothing(live_server, chat_inbox, agent):
    browser = shopper(live_server.url)
    started = browser.post(
        "/support/chat/start", json={"name": "Grace", "email": "grace@example.com", "message": "Hello?"}
    ).json()
    desk = signed_in(live_server.url, agent)
    url = reverse("support:agent-stream", kwargs={"number": started["number"]})
    with desk.stream("GET", url) as response:
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if line == "":
                break
    cursor = int(next(line for line in lines if line.startswith("id: "))[4:])
    assert cursor == Message.objects.filter(conversation__number=started["number"]).latest("pk").pk
    # the agent's browser reconnects after a message was posted, before any event reached it
    browser.post("/support/chat/messages", json={"message": "In between", "token": started["token"]})
    stream = StreamReader(desk, url, headers={"Last-Event-ID": str(cursor)})
    stream.start()
    stream.wait_for("In between")


def test_streams_are_refused_to_strangers(live_server, chat_inbox, agent, make_agent, email_inbox):
    browser = shopper(live_server.url)
    started = browser.post(
        "/support/chat/start", json={"name": "Grace", "email": "grace@example.com", "message": "Hello?"}
    ).json()
    forged = browser.get("/support/chat/stream?token=" + started["token"][:-3] + "abc")
    assert forged.status_code == 404 and forged.json()["error"]["code"] == "chat_not_found"
    other_agent = signed_in(live_server.url, make_agent("bob", inboxes=[email_inbox]))
    url = reverse("support:agent-stream", kwargs={"number": started["number"]})
    refused = other_agent.get(url)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "conversation_not_found"
    assert browser.get(url, follow_redirects=False).status_code == 302  # a shopper is sent to the log-in


def test_posting_without_the_csrf_token_is_refused(live_server, chat_inbox, agent):
    bare = httpx.Client(base_url=live_server.url, timeout=30)
    response = bare.post("/support/chat/start", json={"name": "G", "email": "g@example.com", "message": "Hi"})
    assert response.status_code == 403
    assert not Message.objects.exists()


@override_settings(OMNISHOP_CHAT_LIMITS={"session": 2})
def test_too_many_messages_are_answered_429_with_retry_after(live_server, chat_inbox, agent):
    browser = shopper(live_server.url)
    token = browser.post(
        "/support/chat/start", json={"name": "Grace", "email": "grace@example.com", "message": "Hi"}
    ).json()["token"]
    for text in ("a", "b"):
        assert (
            browser.post("/support/chat/messages", json={"message": text, "token": token}).status_code == 201
        )
    refused = browser.post("/support/chat/messages", json={"message": "c", "token": token})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.json()["error"]["code"] == "rate_limited"


def test_on_a_sync_worker_the_stream_answers_at_once_and_asks_the_browser_to_come_back(
    chat_inbox, agent, client
):
    # Django's test client calls the application like a sync worker does (wsgi.multithread is false).
    state = client.get("/support/chat/").json()
    started = client.post(
        "/support/chat/start",
        data={"name": "Grace", "email": "grace@example.com", "message": "Hello?"},
        content_type="application/json",
        headers={"X-CSRFToken": state["csrf_token"]},
    ).json()
    began = time.monotonic()
    response = client.get(f"/support/chat/stream?token={started['token']}")
    body = b"".join(response.streaming_content).decode()
    assert time.monotonic() - began < 2
    assert body.startswith("retry: 1000\n")  # the browser comes back in a second
    assert '"text":"Hello?"' in body


REDIS_URL = os.environ.get("OMNISHOP_TEST_REDIS_URL", "")


def test_with_redis_a_message_published_by_another_process_wakes_a_waiting_stream():
    if not REDIS_URL:
        pytest.skip("OMNISHOP_TEST_REDIS_URL is set by scripts/run-tests (make test), which starts Redis")
    import redis

    hub = chat_hub.Hub()  # this process's hub; the publisher below stands for another worker
    woken: dict = {}
    with override_settings(OMNISHOP_CHAT_REDIS_URL=REDIS_URL, OMNISHOP_CHAT_POLL_SECONDS=30):
        waiter = threading.Thread(
            target=lambda: woken.update(
                result=hub.wait(conversation_ids=[424242], after=10**9, timeout=15), at=time.monotonic()
            )
        )
        waiter.start()
        other_worker = redis.Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 10
        while other_worker.pubsub_numsub(chat_hub.CHANNEL)[0][1] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # until this process's hub listens
        sent = time.monotonic()
        other_worker.publish(
            chat_hub.CHANNEL, orjson.dumps({"pk": 10**9 + 1, "conversation_id": 424242, "inbox_id": 1})
        )
        waiter.join(15)
        hub.shutdown()
        other_worker.close()
    assert woken["result"] == 10**9 + 1
    assert woken["at"] - sent < 2  # the database poll (every 30 s here) could not have woken it
