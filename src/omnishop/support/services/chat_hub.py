"""Waking open chat streams when a message arrives, without one database connection per waiting stream.

One hub per server process. Streams wait on it (`wait`) holding no database connection; the hub learns of
new messages in one of two ways and wakes the streams whose conversation or inbox got one:

- embedded default (no REDIS_URL): one poller thread per process reads `Message` rows past a cursor on the
  primary key every OMNISHOP_CHAT_POLL_SECONDS (0.2 s), one small query whatever the number of streams;
- with REDIS_URL: messages written through the chat (a shopper's message, an agent's chat reply) are
  published on a Redis channel after commit and wake streams in every process at once; the database poll
  still runs, slower (1 s), for messages that reach a conversation another way (an e-mail, a desk note).

The poller runs only while some stream waits, so an idle process holds no connection (and a test database
can be dropped).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, connections

from ..models import Message

logger = logging.getLogger(__name__)
CHANNEL = "omnishop:support:messages"
PG_CHANNEL = "omnishop_support_messages"
# A stream re-waits between reads; the sources outlive a moment without waiters rather than restart each time.
IDLE_GRACE_SECONDS = 2.0
_HOST_TOKEN = uuid.uuid4().hex
MEMORY = 2000  # arrivals remembered for streams about to wait


@dataclass(frozen=True)
class Arrival:
    pk: int
    conversation_id: int
    inbox_id: int


def _origin() -> str:
    """This process, on what it publishes (the pid tells forked workers apart, the token machines)."""
    return f"{os.getpid()}:{_HOST_TOKEN}"


# How far behind its cursor the database poll reads again: keys drawn before the cursor whose transactions
# commit after it (concurrent POSTs in other workers) — without it such a message waited for the stream's
# reconnect (up to 25 s): 117 of 1,500 in a support.chat run at 100 chats.
POLL_LOOKBACK = 500


def poll_seconds() -> float:
    default = 1.0 if redis_url() or HUB.pg_listening else 0.2
    return float(getattr(settings, "OMNISHOP_CHAT_POLL_SECONDS", default))


def pg_notify() -> bool:
    """PostgreSQL without Redis, when OMNISHOP_CHAT_PG_NOTIFY is on (off by default: ADR 0039): chat messages
    are announced with NOTIFY and heard by one LISTEN connection per process (never through a pooler in
    transaction mode, where a session does not outlive a transaction)."""
    return (
        bool(getattr(settings, "OMNISHOP_CHAT_PG_NOTIFY", False))
        and not redis_url()
        and connection.vendor == "postgresql"
        and not getattr(settings, "OMNISHOP_DB_POOLER", "")
    )


def redis_url() -> str:
    return str(getattr(settings, "OMNISHOP_CHAT_REDIS_URL", "") or getattr(settings, "REDIS_URL", "") or "")


class _Waiter:
    """One waiting stream: what it waits for, and its own condition on the hub's lock (woken alone)."""

    __slots__ = ("after", "cond", "conversation_ids", "inbox_ids", "woken")

    def __init__(self, lock: threading.Lock, after: int, conversation_ids: set, inbox_ids: set) -> None:
        self.cond = threading.Condition(lock)
        self.after = after
        self.conversation_ids = conversation_ids
        self.inbox_ids = inbox_ids
        self.woken = 0  # the highest message past `after` that arrived for it


class Hub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Arrivals remembered (a stream that read the database a moment before a message committed, and
        # begins to wait just after it was announced, still sees it): the newest message per conversation
        # and per inbox, forgotten with the oldest arrival once MEMORY of them are kept.
        self._recent: deque[Arrival] = deque()
        self._latest_in_conversation: dict[int, int] = {}
        self._latest_in_inbox: dict[int, int] = {}
        # The waiting streams by what they wait for: an arrival wakes only its conversation's and inbox's.
        self._by_conversation: dict[int, set[_Waiter]] = {}
        self._by_inbox: dict[int, set[_Waiter]] = {}
        self._cursor: int | None = None
        self._polled: set[int] = set()  # keys the poll announced lately (it reads back POLL_LOOKBACK keys)
        self._polled_order: deque[int] = deque()
        self._waiters = 0
        self._poller: threading.Thread | None = None
        self._subscriber: threading.Thread | None = None
        self._pg_listener: threading.Thread | None = None
        self.pg_listening = False  # LISTEN is on: the database poll slows to a backstop
        self._last_waited = 0.0
        self.generation = 0  # moves on shutdown: streams of an earlier generation end
        self.wakeups = 0  # times a waiting stream was woken or timed out (what a message costs the others)

    # --- streams ------------------------------------------------------------------------------------------

    def wait(self, *, conversation_ids=None, inbox_ids=None, after: int, timeout: float) -> int:
        """Block until a message past `after` arrives in one of the conversations (or inboxes), or timeout.
        The highest such message's key when something arrived (the caller reads it from the database; if it
        was not for the caller to see — a desk note, an event — the caller waits after it next time), else 0."""
        conversation_ids = set(conversation_ids or ())
        inbox_ids = set(inbox_ids or ())
        deadline = time.monotonic() + timeout
        with self._lock:
            latest = max(
                (
                    *(self._latest_in_conversation.get(c, 0) for c in conversation_ids),
                    *(self._latest_in_inbox.get(i, 0) for i in inbox_ids),
                ),
                default=0,
            )
            if latest > after:
                return latest
            generation = self.generation
            waiter = _Waiter(self._lock, after, conversation_ids, inbox_ids)
            for key in conversation_ids:
                self._by_conversation.setdefault(key, set()).add(waiter)
            for key in inbox_ids:
                self._by_inbox.setdefault(key, set()).add(waiter)
            self._waiters += 1
            # The poll starts at the oldest cursor a stream waits from: a message committed between the
            # stream's last read and this call is still seen.
            self._cursor = after if self._cursor is None else min(self._cursor, after)
            self._ensure_threads()
            try:
                while not waiter.woken:
                    left = deadline - time.monotonic()
                    if left <= 0 or generation != self.generation:
                        return 0
                    waiter.cond.wait(left)
                    self.wakeups += 1
                return waiter.woken
            finally:
                _discard(self._by_conversation, conversation_ids, waiter)
                _discard(self._by_inbox, inbox_ids, waiter)
                self._waiters -= 1
                self._last_waited = time.monotonic()

    def notify(self, arrivals) -> None:
        """Remember the arrivals and wake the streams waiting for them (and only those)."""
        with self._lock:
            for arrival in arrivals:
                self._remember(arrival)
                waiters = self._by_conversation.get(arrival.conversation_id, set()) | self._by_inbox.get(
                    arrival.inbox_id, set()
                )
                for waiter in waiters:
                    if arrival.pk > max(waiter.after, waiter.woken):
                        if not waiter.woken:
                            waiter.cond.notify()
                        waiter.woken = arrival.pk

    def forget(self) -> None:
        """Drop the remembered arrivals (a test database that reuses keys after a flush: an earlier test's
        message must not stand for this one's)."""
        with self._lock:
            self._recent.clear()
            self._latest_in_conversation.clear()
            self._latest_in_inbox.clear()
            self._polled.clear()
            self._polled_order.clear()

    def _remember(self, arrival: Arrival) -> None:
        """Called holding the lock."""
        if len(self._recent) >= MEMORY:
            old = self._recent.popleft()
            if self._latest_in_conversation.get(old.conversation_id) == old.pk:
                del self._latest_in_conversation[old.conversation_id]
            if self._latest_in_inbox.get(old.inbox_id) == old.pk:
                del self._latest_in_inbox[old.inbox_id]
        self._recent.append(arrival)
        if arrival.pk > self._latest_in_conversation.get(arrival.conversation_id, 0):
            self._latest_in_conversation[arrival.conversation_id] = arrival.pk
        if arrival.pk > self._latest_in_inbox.get(arrival.inbox_id, 0):
            self._latest_in_inbox[arrival.inbox_id] = arrival.pk

    def shutdown(self, timeout: float = 5.0) -> None:
        """End every waiting stream and stop the sources (a worker stopping; a test's end)."""
        with self._lock:
            self.generation += 1
            self._last_waited = 0.0
            for waiters in (*self._by_conversation.values(), *self._by_inbox.values()):
                for waiter in waiters:
                    waiter.cond.notify()
            threads = [t for t in (self._poller, self._subscriber, self._pg_listener) if t is not None]
        for thread in threads:
            thread.join(timeout)

    # --- sources ------------------------------------------------------------------------------------------

    def _ensure_threads(self) -> None:
        """Called holding the lock. A source thread clears its slot under the same lock when it stops."""
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="support-chat-poll", daemon=True)
            self._poller.start()
        if redis_url() and self._subscriber is None:
            self._subscriber = threading.Thread(target=self._listen, name="support-chat-redis", daemon=True)
            self._subscriber.start()
        if self._pg_listener is None and pg_notify():
            self._pg_listener = threading.Thread(
                target=self._listen_pg, name="support-chat-listen", daemon=True
            )
            self._pg_listener.start()

    def _keep_going(self, slot: str, generation: int) -> bool:
        with self._lock:
            if generation == self.generation and (
                self._waiters or time.monotonic() - self._last_waited < IDLE_GRACE_SECONDS
            ):
                return True
            if getattr(self, slot) is threading.current_thread():
                setattr(self, slot, None)
            if slot == "_poller" and self._poller is None:
                self._cursor = None  # the next stream starts the poll from where it stands
            return False

    def _pause(self, seconds: float, generation: int) -> None:
        """Sleep between polls; a shutdown cuts it short."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and generation == self.generation:
            time.sleep(min(0.05, seconds))

    def _poll(self) -> None:
        generation = self.generation  # a shutdown stops this poller, even while streams still end
        try:
            while self._keep_going("_poller", generation):
                with self._lock:
                    cursor = self._cursor or 0
                # Keys are drawn at insert, not at commit: a message of another worker can commit after one
                # with a higher key that this poll already passed. Reading back POLL_LOOKBACK keys behind the
                # cursor sees it; what was announced before is skipped (`_polled`), so nothing wakes twice.
                rows = list(
                    Message.objects.filter(pk__gt=max(cursor - POLL_LOOKBACK, 0))
                    .order_by("pk")
                    .values_list("pk", "conversation_id", "conversation__inbox_id")[: POLL_LOOKBACK + 1000]
                )
                if rows:
                    with self._lock:
                        self._cursor = max(self._cursor or 0, rows[-1][0])
                        fresh = [row for row in rows if row[0] not in self._polled]
                        for row in fresh:
                            self._polled_order.append(row[0])
                            self._polled.add(row[0])
                        while len(self._polled_order) > 4 * POLL_LOOKBACK:
                            self._polled.discard(self._polled_order.popleft())
                    if fresh:
                        self.notify(Arrival(*row) for row in fresh)
                self._pause(poll_seconds(), generation)
        except Exception:  # a broken database must not kill the process; streams fall back to their timeout
            logger.exception("support chat poller stopped")
            with self._lock:
                self._poller = None
        finally:
            connection.close()

    def _listen(self) -> None:
        import redis

        generation = self.generation
        client = redis.Redis.from_url(redis_url())
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(CHANNEL)
            while self._keep_going("_subscriber", generation):
                item = pubsub.get_message(timeout=1.0)
                if item and item.get("type") == "message":
                    data = json.loads(item["data"])
                    if data.get("origin") == _origin():
                        continue  # published here: this process's streams were woken already
                    self.notify([Arrival(data["pk"], data["conversation_id"], data["inbox_id"])])
        except Exception:
            logger.exception("support chat Redis subscriber stopped")
            with self._lock:
                self._subscriber = None
        finally:
            pubsub.close()
            client.close()

    def _listen_pg(self) -> None:
        """LISTEN on a connection of its own (Django's connections belong to their threads and requests)."""
        import psycopg

        generation = self.generation
        listener = None
        try:
            listener = psycopg.connect(**connections["default"].get_connection_params(), autocommit=True)
            listener.execute(f"LISTEN {PG_CHANNEL}")
            with self._lock:
                self.pg_listening = True
            while self._keep_going("_pg_listener", generation):
                arrivals = []
                for note in listener.notifies(timeout=1.0, stop_after=100):
                    data = json.loads(note.payload)
                    if data.get("origin") != _origin():  # published here: woken already
                        arrivals.append(Arrival(data["pk"], data["conversation_id"], data["inbox_id"]))
                if arrivals:
                    self.notify(arrivals)
        except Exception:  # the poll (back at its short interval) delivers; streams never hang on this
            logger.exception("support chat LISTEN stopped")
            with self._lock:
                if self._pg_listener is threading.current_thread():
                    self._pg_listener = None
        finally:
            with self._lock:
                self.pg_listening = False
            if listener is not None:
                listener.close()


def _discard(index: dict[int, set[_Waiter]], keys, waiter: _Waiter) -> None:
    for key in keys:
        waiters = index.get(key)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del index[key]


HUB = Hub()
_clients: dict[str, object] = {}  # one Redis client (a thread-safe connection pool) per URL and process
_clients_lock = threading.Lock()


def _redis_client(url: str):
    """The process's publishing client: its pool keeps connections open for every thread (a client per
    thread opened one Redis connection per server thread); redis-py renews the pool after a fork."""
    import redis

    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(url)
        return client


def publish(message: Message, *, inbox_id: int) -> None:
    """Tell open streams a message was committed: this process at once, every process through Redis."""
    arrival = Arrival(message.pk, message.conversation_id, inbox_id)
    HUB.notify([arrival])
    url = redis_url()
    if not url:
        if pg_notify():
            # Delivered when the caller's transaction commits (at once outside one); one statement.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_notify(%s, %s)",
                    [PG_CHANNEL, json.dumps({**arrival.__dict__, "origin": _origin()})],
                )
        return
    import redis

    try:
        _redis_client(url).publish(CHANNEL, json.dumps({**arrival.__dict__, "origin": _origin()}))
    except redis.RedisError:  # the database poll delivers it a moment later
        logger.warning("support chat: Redis publish failed", exc_info=True)
