"""A relay loop schedules deliveries per endpoint: a slow endpoint (requests held open up to the 15 s limit)
does not hold the round for the others, and never takes more than its share of the relay's threads."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction

from omnishop.core import outbox
from omnishop.webhooks.models import WebhookDelivery

from .receiver import Receiver


def _until(condition, *, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    return condition()


def _emit(event_type: str, aggregate_id: str, n: int = 1) -> None:
    with transaction.atomic():
        outbox.emit(event_type, aggregate_type="order", aggregate_id=aggregate_id, payload={"n": n})


@pytest.mark.django_db(transaction=True)
def test_a_fast_endpoint_receives_all_its_events_while_a_slow_ones_requests_are_held_open(
    endpoint_for, settings
):
    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True
    settings.OMNISHOP_OUTBOX_SINKS = ["omnishop.webhooks.services.sink"]
    settings.OMNISHOP_RELAY_WORKERS = ["omnishop.webhooks.services.deliver_due"]
    settings.OMNISHOP_WEBHOOK_CONCURRENCY, settings.OMNISHOP_WEBHOOK_PER_ENDPOINT = 4, 2
    settings.OMNISHOP_WEBHOOK_TIMEOUT = 30  # the slow receiver's requests stay open until the test lets go
    with Receiver() as slow, Receiver() as fast:
        slow.hold = threading.Event()
        slow_endpoint, _ = endpoint_for(slow.url, event_types=["order.paid"])
        fast_endpoint, _ = endpoint_for(fast.url, event_types=["order.shipped"])
        thread = outbox.RelayThread(poll=0.05)
        thread.start()
        try:
            for n in range(
                3
            ):  # three aggregates: without a share the slow endpoint would take 3 of 4 threads
                _emit("order.paid", f"S-{n}")
            assert _until(lambda: len(slow.received) == 2), "the slow endpoint's requests did not arrive"
            # The slow requests are open now. Events for the fast endpoint, committed after that:
            for n in range(1, 6):
                _emit("order.shipped", "F-1", n)  # one aggregate: must arrive in its order
            _emit("order.shipped", "F-2")
            assert _until(
                lambda: (
                    WebhookDelivery.objects.filter(
                        endpoint=fast_endpoint, status=WebhookDelivery.Status.SUCCEEDED
                    ).count()
                    == 6
                )
            ), "the fast endpoint's deliveries waited for the slow one"
            assert not slow.hold.is_set()
            assert len(slow.received) == 2  # its share (2) in flight, the third waits for a free slot
            assert (
                WebhookDelivery.objects.filter(
                    endpoint=slow_endpoint, status=WebhookDelivery.Status.DELIVERING
                ).count()
                == 2
            )
            f1 = [r.json["data"]["n"] for r in fast.received if r.json["aggregate"]["id"] == "F-1"]
        finally:
            slow.hold.set()
            try:
                assert _until(
                    lambda: (
                        WebhookDelivery.objects.filter(
                            endpoint=slow_endpoint, status=WebhookDelivery.Status.SUCCEEDED
                        ).count()
                        == 3
                    )
                ), "the slow endpoint's deliveries did not complete once it answered"
            finally:
                thread.stop(timeout=30)
    assert len(fast.received) == 6 and len(slow.received) == 3  # each delivery sent once
    assert f1 == [1, 2, 3, 4, 5]
    assert not thread.is_alive()


@pytest.mark.django_db
def test_a_claim_reads_nothing_of_an_endpoint_at_its_cap_however_long_its_queue(endpoint_for, settings):
    """PostgreSQL: a claim walks each endpoint's own due index for at most its room. It used to walk the
    global due index leaving the full endpoint out, which read (and probed the order of) every one of that
    endpoint's pending deliveries to find none — each round of a relay behind a backlog (events.delivery)."""
    from django.db import connection

    from omnishop.webhooks.services import delivery

    if connection.vendor != "postgresql":
        pytest.skip("the per-endpoint claim and the statistics it is checked with are PostgreSQL's")
    settings.OMNISHOP_OUTBOX_SINKS = ["omnishop.webhooks.services.sink"]
    settings.OMNISHOP_RELAY_WORKERS = []
    settings.OMNISHOP_WEBHOOK_CONCURRENCY, settings.OMNISHOP_WEBHOOK_PER_ENDPOINT = 8, 4
    busy, _ = endpoint_for("http://127.0.0.1:9/busy", event_types=["order.paid"])
    other, _ = endpoint_for("http://127.0.0.1:9/other", event_types=["order.shipped"])
    for n in range(300):
        _emit("order.paid", f"B-{n}")
    _emit("order.shipped", "O-1")
    outbox.relay_once()

    def read() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(idx_tup_fetch, 0) + COALESCE(seq_tup_read, 0) FROM pg_stat_xact_user_tables "
                "WHERE relname = 'webhooks_webhookdelivery'"
            )
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:  # statistics, as autovacuum keeps them for a queue this long
        cursor.execute("ANALYZE webhooks_webhookdelivery")
    before = read()
    _, claimed = delivery.claim_due(limit=8, room={busy.pk: 0})
    touched = read() - before
    assert [d.endpoint_id for d in claimed] == [other.pk]
    assert touched < 20, f"the claim read {touched} delivery rows for one delivery"

    # With room again, the busy endpoint gets exactly its share, oldest first, one per aggregate.
    _, claimed = delivery.claim_due(limit=8, room={busy.pk: 3})
    assert [d.aggregate_id for d in claimed] == ["B-0", "B-1", "B-2"]
