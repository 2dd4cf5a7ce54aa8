"""The transactional outbox: events exist exactly when their change commits, are fanned out once, and are
read in an order in which nothing committed later can be skipped."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from omnishop.core import outbox
from omnishop.core.models import OutboxEvent
from omnishop.testing_workers import SERVE_OPTIONS

SEEN: list[str] = []
FAIL_ON: set[str] = set()


def recording_sink(events):
    for event in events:
        if event.aggregate_id in FAIL_ON:
            raise RuntimeError(f"sink cannot take {event.aggregate_id}")
    SEEN.extend(event.event_id for event in events)


@pytest.fixture
def sink(settings):
    SEEN.clear()
    FAIL_ON.clear()
    settings.OMNISHOP_OUTBOX_SINKS = ["omnishop.core.tests.test_outbox.recording_sink"]
    settings.OMNISHOP_RELAY_WORKERS = []
    return SEEN


def emit(aggregate_id="1", type="product.updated", **payload):
    return outbox.emit(type, aggregate_type="product", aggregate_id=aggregate_id, payload=payload)


@pytest.mark.django_db
def test_an_event_is_written_with_the_change_and_rolled_back_with_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("7", title="gone")
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.exists()
    event = emit("7", title="kept")
    assert event.event_id.startswith("evt_") and len(event.event_id) == 30
    assert event.envelope()["data"] == {"title": "kept"}
    assert event.envelope()["aggregate"] == {"type": "product", "id": "7", "sequence": 1}


@pytest.mark.django_db
def test_sequence_numbers_count_per_aggregate_and_event_ids_sort_by_time():
    events = [emit("a"), emit("b"), emit("a"), emit("a"), emit("b")]
    assert [(e.aggregate_id, e.sequence) for e in events] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
        ("b", 2),
    ]
    later = outbox.new_event_id(timezone.now() + timedelta(milliseconds=5))
    assert all(e.event_id < later for e in events)
    assert len({e.event_id for e in events}) == 5


@pytest.mark.django_db
def test_an_unknown_event_type_is_refused():
    with pytest.raises(outbox.UnknownEventType):
        outbox.emit("order.exploded", aggregate_type="order", aggregate_id="1", payload={})


@pytest.mark.django_db
def test_the_relay_hands_each_event_to_the_sinks_once(sink):
    first = [emit(str(n)) for n in range(3)]
    assert outbox.relay_once() == 3
    assert outbox.relay_once() == 0
    assert sink == [e.event_id for e in first]
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_sink_failing_on_one_event_holds_back_only_that_event(sink):
    good = emit("good")
    emit("poison")
    FAIL_ON.add("poison")
    assert outbox.relay_once() == 1
    assert sink == [good.event_id]
    poisoned = OutboxEvent.objects.get(aggregate_id="poison")
    assert poisoned.dispatched_at is None and poisoned.dispatch_attempts == 1
    assert "sink cannot take poison" in poisoned.dispatch_error
    assert outbox.relay_once() == 0  # waits for its retry time
    FAIL_ON.clear()
    assert outbox.relay_once(now=poisoned.retry_at + timedelta(seconds=1)) == 1
    assert sink == [good.event_id, poisoned.event_id]


@pytest.mark.django_db
def test_an_earlier_event_not_yet_dispatched_holds_back_a_later_one_of_the_same_aggregate(sink):
    first, second = emit("9"), emit("9")
    assert outbox.earlier_undispatched("product", "9", second.sequence)
    assert not outbox.earlier_undispatched("product", "9", first.sequence)
    outbox.relay_once()
    assert not outbox.earlier_undispatched("product", "9", second.sequence)


@pytest.mark.django_db
def test_the_feed_pages_in_commit_order_and_filters_by_type_and_aggregate():
    for n in range(5):
        emit(str(n % 2))
    outbox.emit("customer.created", aggregate_type="customer", aggregate_id="3", payload={})
    first = outbox.read(limit=4)
    assert len(first.events) == 4 and first.has_more
    rest = outbox.read(after=first.next_cursor, limit=4)
    assert [e.type for e in rest.events] == ["product.updated", "customer.created"] and not rest.has_more
    empty = outbox.read(after=rest.next_cursor)
    assert empty.events == [] and empty.next_cursor == rest.next_cursor
    assert [e.aggregate_id for e in outbox.read(types=["customer.*"]).events] == ["3"]
    assert len(outbox.read(aggregate_type="product", aggregate_id="1").events) == 2
    with pytest.raises(Exception) as bad:
        outbox.read(after="not-a-cursor")
    assert getattr(bad.value, "code", "") == "invalid_cursor"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_reader_never_passes_an_event_whose_transaction_commits_later():
    """Ids are drawn at insert, not at commit: paging by id alone would skip the slow transaction's event."""
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel transactions (PostgreSQL)")
    inserted, release = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            emit("slow")  # takes its transaction id and its row id first
            inserted.set()
            release.wait(10)
        connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(10)
    fast = emit("fast")  # commits first, with a higher id
    page = outbox.read()
    assert fast.event_id not in [e.event_id for e in page.events]  # held back while "slow" is open
    release.set()
    writer.join()
    # Transaction ids are cluster-wide: a transaction open in another database of the same server (a second
    # test run beside this one) holds the horizon back too. Held back is right; out of order never is.
    # An older transaction can also sit between the two, releasing "slow" before "fast": read on from the
    # cursor until both arrived, and check the order they arrived in. The other test run may hold a
    # transaction for minutes (the feeds' tens-of-thousands-of-rows test ran 191 s on a loaded machine): wait.
    cursor, seen, deadline = page.next_cursor or None, [], time.monotonic() + 300
    while len(seen) < 2 and time.monotonic() < deadline:
        page = outbox.read(after=cursor)
        seen += [e.aggregate_id for e in page.events]
        cursor = page.next_cursor or None
        if len(seen) < 2:
            time.sleep(0.05)
    assert seen == ["slow", "fast"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_relays_running_at_once_fan_each_event_out_once(sink):
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    ids = {emit(str(n)).event_id for n in range(400)}
    barrier = threading.Barrier(4)

    def relay():
        barrier.wait()
        while outbox.relay_once(limit=25):
            pass
        connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sink) == sorted(ids)  # every event once: no loss, no double fan-out


def _await(sink, event, *, seconds: float) -> None:
    """Until the relay thread has handed `event` to the sink, or `seconds` passed (the caller asserts)."""
    deadline = time.monotonic() + seconds
    while event.event_id not in sink and time.monotonic() < deadline:
        threading.Event().wait(0.05)


@pytest.mark.django_db(transaction=True)
def test_the_relay_thread_delivers_after_commit_and_stops(sink, settings):
    thread = outbox.RelayThread(poll=0.05)
    thread.start()
    try:
        with transaction.atomic():
            event = emit("t")
            outbox.wake_on_commit()
        _await(sink, event, seconds=5)
    finally:
        thread.stop()
    assert event.event_id in sink and not thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_a_commit_of_events_wakes_the_relay_thread_without_waiting_for_its_poll(sink, settings):
    thread = outbox.RelayThread(poll=3600)  # a poll that would never come within the test
    thread.start()
    try:
        threading.Event().wait(0.2)  # its first round found nothing: it now waits for the poll or a wake-up
        with transaction.atomic():
            event = emit("t")  # no explicit wake_on_commit: writing the event is enough
        _await(sink, event, seconds=10)
    finally:
        thread.stop()
    assert event.event_id in sink and not thread.is_alive()


def test_serve_runs_the_relay_in_its_workers_in_the_embedded_default(settings):
    from omnishop.core.management.commands.serve import gunicorn_config

    options = SERVE_OPTIONS
    settings.OMNISHOP_SCHEDULER, settings.REDIS_URL = "off", ""
    settings.OMNISHOP_RELAY = "auto"
    assert gunicorn_config(options)["post_worker_init"] is not None
    settings.OMNISHOP_RELAY = "off"
    assert gunicorn_config(options)["post_worker_init"] is None


@pytest.mark.django_db
def test_dispatched_events_are_purged_after_the_retention_and_undispatched_ones_never(sink, settings):
    settings.OMNISHOP_OUTBOX_RETENTION_DAYS = 30
    old, pending = emit("old"), emit("pending")
    OutboxEvent.objects.filter(pk=old.pk).update(dispatched_at=timezone.now() - timedelta(days=31))
    assert outbox.purge_dispatched() == 1
    assert list(OutboxEvent.objects.values_list("aggregate_id", flat=True)) == ["pending"]
    assert outbox.purge_dispatched(now=timezone.now() + timedelta(days=400)) == 0
    assert pending.pk


ROUNDS: list[float] = []


def counting_worker():
    """A relay worker that only counts the rounds it is called in."""
    ROUNDS.append(time.monotonic())
    return 0


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_idle_relay_listening_for_notify_runs_no_round_until_a_commit_of_events(sink, settings):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    if settings.OMNISHOP_DB_POOLER:
        pytest.skip("behind PgBouncer the relay polls (the next tests); a LISTEN through it hears nothing")
    settings.OMNISHOP_RELAY_WORKERS = ["omnishop.core.tests.test_outbox.counting_worker"]
    settings.OMNISHOP_RELAY_IDLE_POLL = 3600  # a fallback poll that never comes within the test
    settings.OMNISHOP_RELAY_LISTEN_URL = ""
    ROUNDS.clear()
    thread = outbox.RelayThread()
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (thread.waker.listening and ROUNDS) and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        assert thread.waker.listening
        threading.Event().wait(0.3)  # the round after it raised its sleep flag (core 0006) is over by now
        idle = len(ROUNDS)
        threading.Event().wait(0.5)
        assert len(ROUNDS) == idle  # idle: no statement, no round, no 10 ms poll
        with transaction.atomic():
            event = emit("t")  # the NOTIFY of the outbox trigger wakes it; no in-process wake is registered
            assert outbox.wake not in [callback for _, callback, _ in connection.run_on_commit]
        _await(sink, event, seconds=10)
    finally:
        thread.stop()
    assert event.event_id in sink and len(ROUNDS) > idle


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_only_the_first_commit_after_a_relay_fell_asleep_notifies_and_a_rollback_never_does(settings):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    import psycopg

    params = outbox._listen_params()
    if params is None:
        pytest.skip("behind a pooler without OMNISHOP_RELAY_LISTEN_URL: no direct connection to listen on")
    listener = (
        psycopg.connect(**params, autocommit=True)
        if isinstance(params, dict)
        else psycopg.connect(params, autocommit=True)
    )
    waker = outbox.Waker()
    waker.listener = listener  # stands for a relay's own LISTEN connection (mark_sleeping needs one)
    try:
        listener.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
        listener.execute("UPDATE core_relaywake SET sleeping = false")
        emit("nobody sleeps")  # no relay asleep: nobody is told (a notifying commit takes a global lock)
        assert list(listener.notifies(timeout=0.3)) == []
        assert waker.mark_sleeping() is True and waker.mark_sleeping() is False  # raised once
        with pytest.raises(RuntimeError), transaction.atomic():
            emit("gone")
            raise RuntimeError("rolled back")
        assert list(listener.notifies(timeout=0.3)) == []
        with transaction.atomic():  # three events in one transaction: one notification
            outbox.emit_many([outbox.NewEvent("product.updated", "product", str(n), {}) for n in range(3)])
            emit("x")
        got = list(listener.notifies(timeout=2, stop_after=1))
        got += list(listener.notifies(timeout=0.3))
        assert [n.channel for n in got] == [outbox.NOTIFY_CHANNEL]
        emit("after the wake-up")  # the first writer took the flag down: the next one sends nothing
        assert list(listener.notifies(timeout=0.3)) == []
    finally:
        waker.close()


def test_behind_pgbouncer_the_relay_polls_unless_given_a_direct_url_to_listen_on(settings):
    settings.OMNISHOP_DB_POOLER, settings.OMNISHOP_RELAY_LISTEN_URL = "pgbouncer", ""
    assert outbox._listen_params() is None
    settings.OMNISHOP_RELAY_LISTEN_URL = "postgres://relay@db.internal:5432/omnishop"
    assert outbox._listen_params() == "postgres://relay@db.internal:5432/omnishop"
    settings.OMNISHOP_DB_POOLER, settings.OMNISHOP_RELAY_LISTEN_URL = "", ""
    assert (outbox._listen_params() is None) == (connection.vendor != "postgresql")


def test_a_burst_of_wake_ups_is_one_wake_after_the_coalescing_pause(settings):
    settings.OMNISHOP_RELAY_COALESCE = 0.02
    settings.OMNISHOP_DB_POOLER, settings.OMNISHOP_RELAY_LISTEN_URL = "pgbouncer", ""  # no listener
    waker = outbox.Waker()
    try:
        for _ in range(50):
            outbox.wake()
        assert waker.wait(5) is True
        assert waker.wait(0) is False  # the burst was one wake-up
    finally:
        waker.close()
