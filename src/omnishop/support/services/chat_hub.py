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

import itertools
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from ..models import Message

logger = logging.getLogger(__name__)
CHANNEL = "omnishop:support:messages"
# A stream re-waits between reads; the sources outlive a moment without waiters rather than restart each time.
IDLE_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Arrival:
    pk: int
    conversation_id: int
    inbox_id: int


def poll_seconds() -> float:
    default = 1.0 if redis_url() else 0.2
    return float(getattr(settings, "OMNISHOP_CHAT_POLL_SECONDS", default))


def redis_url() -> str:
    return str(getattr(settings, "OMNISHOP_CHAT_REDIS_URL", "") or getattr(settings, "REDIS_URL", "") or "")


class Hub:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._recent: deque[Arrival] = deque(maxlen=2000)
        self._cursor: int | None = None
        self._waiters = 0
        self._poller: threading.Thread | None = None
        self._subscriber: threading.Thread | None = None
        self._last_waited = 0.0
        self._seq = 0  # arrivals ever added: a waiter checks only those it has not seen
        self.generation = 0  # moves on shutdown: streams of an earlier generation end

    # --- streams ------------------------------------------------------------------------------------------

    def wait(self, *, conversation_ids=None, inbox_ids=None, after: int, timeout: float) -> bool:
        """Block until a message past `after` arrives in one of the conversations (or inboxes), or timeout.
        True when something arrived (the caller reads it from the database)."""
        conversation_ids = set(conversation_ids or ())
        inbox_ids = set(inbox_ids or ())
        deadline = time.monotonic() + timeout
        with self._cond:
            generation = self.generation
            self._waiters += 1
            # The poll starts at the oldest cursor a stream waits from: a message committed between the
            # stream's last read and this call is still seen.
            self._cursor = after if self._cursor is None else min(self._cursor, after)
            self._ensure_threads()
            checked = self._seq - len(self._recent)  # everything still remembered is checked once
            try:
                while True:
                    new = self._seq - checked
                    if new:
                        for arrival in itertools.islice(reversed(self._recent), new):
                            if arrival.pk > after and (
                                arrival.conversation_id in conversation_ids or arrival.inbox_id in inbox_ids
                            ):
                                return True
                        checked = self._seq
                    left = deadline - time.monotonic()
                    if left <= 0 or generation != self.generation:
                        return False
                    self._cond.wait(left)
            finally:
                self._waiters -= 1
                self._last_waited = time.monotonic()

    def notify(self, arrivals) -> None:
        with self._cond:
            items = list(arrivals)
            self._recent.extend(items)
            self._seq += len(items)
            self._cond.notify_all()

    def shutdown(self, timeout: float = 5.0) -> None:
        """End every waiting stream and stop the sources (a worker stopping; a test's end)."""
        with self._cond:
            self.generation += 1
            self._last_waited = 0.0
            self._cond.notify_all()
            threads = [t for t in (self._poller, self._subscriber) if t is not None]
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

    def _keep_going(self, slot: str) -> bool:
        with self._cond:
            if self._waiters or time.monotonic() - self._last_waited < IDLE_GRACE_SECONDS:
                return True
            setattr(self, slot, None)
            if slot == "_poller":
                self._cursor = None  # the next stream starts the poll from where it stands
            return False

    def _pause(self, seconds: float) -> None:
        """Sleep between polls; a shutdown cuts it short."""
        with self._cond:
            generation = self.generation
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and generation == self.generation:
            time.sleep(min(0.05, seconds))

    def _poll(self) -> None:
        try:
            while self._keep_going("_poller"):
                with self._cond:
                    cursor = self._cursor or 0
                rows = list(
                    Message.objects.filter(pk__gt=cursor)
                    .order_by("pk")
                    .values_list("pk", "conversation_id", "conversation__inbox_id")[:1000]
                )
                if rows:
                    with self._cond:
                        self._cursor = max(self._cursor or 0, rows[-1][0])
                    self.notify(Arrival(*row) for row in rows)
                self._pause(poll_seconds())
        except Exception:  # a broken database must not kill the process; streams fall back to their timeout
            logger.exception("support chat poller stopped")
            with self._cond:
                self._poller = None
        finally:
            connection.close()

    def _listen(self) -> None:
        import redis

        client = redis.Redis.from_url(redis_url())
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(CHANNEL)
            while self._keep_going("_subscriber"):
                item = pubsub.get_message(timeout=1.0)
                if item and item.get("type") == "message":
                    data = json.loads(item["data"])
                    self.notify([Arrival(data["pk"], data["conversation_id"], data["inbox_id"])])
        except Exception:
            logger.exception("support chat Redis subscriber stopped")
            with self._cond:
                self._subscriber = None
        finally:
            pubsub.close()
            client.close()


HUB = Hub()
_publisher = threading.local()


def publish(message: Message, *, inbox_id: int) -> None:
    """Tell open streams a message was committed: this process at once, every process through Redis."""
    arrival = Arrival(message.pk, message.conversation_id, inbox_id)
    HUB.notify([arrival])
    url = redis_url()
    if not url:
        return
    import redis

    client = getattr(_publisher, "client", None)
    if client is None:
        client = _publisher.client = redis.Redis.from_url(url)
    try:
        client.publish(CHANNEL, json.dumps(arrival.__dict__))
    except redis.RedisError:  # the database poll delivers it a moment later
        logger.warning("support chat: Redis publish failed", exc_info=True)
