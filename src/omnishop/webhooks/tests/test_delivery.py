"""Deliveries reach a real receiver on loopback, signed as the Standard Webhooks specification says, with
retries, Retry-After, 410, pauses, per-aggregate order, leases and secret rotation.

The receiver and its signature check (receiver.py) are written from the specification:
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from omnishop.webhooks import services
from omnishop.webhooks.models import HELD, WebhookAttempt, WebhookDelivery, WebhookEndpoint

from .receiver import Answer, SignatureInvalid, verify

pytestmark = pytest.mark.django_db


def make_due(**filters) -> None:
    """Time travel: what is waiting for its next attempt is due now."""
    WebhookDelivery.objects.filter(status="pending", **filters).update(next_attempt_at=timezone.now())


def test_a_receiver_written_from_the_spec_verifies_our_signed_delivery(receiver, endpoint_for, publish):
    _endpoint, secret = endpoint_for(receiver.url)
    event_id = publish("order.paid", aggregate=("order", "O-1001"), data={"order": {"number": "O-1001"}})

    assert services.deliver_due() == 1

    [got] = receiver.received
    payload = verify(secret, got.headers, got.body)
    assert got.headers["webhook-id"] == event_id
    assert got.headers["content-type"] == "application/json"
    assert payload["id"] == event_id and payload["type"] == "order.paid"
    assert payload["aggregate"] == {"type": "order", "id": "O-1001", "sequence": 1}
    assert payload["data"] == {"order": {"number": "O-1001"}}
    with pytest.raises(SignatureInvalid):
        verify(services.new_secret(), got.headers, got.body)  # another secret does not verify
    with pytest.raises(SignatureInvalid):
        verify(secret, got.headers, got.body.replace(b"O-1001", b"O-1002"))  # nor a changed body
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.delivered_at is not None
    [attempt] = WebhookAttempt.objects.all()
    assert attempt.status_code == 200 and attempt.response_excerpt == '{"ok": true}'


def test_only_subscribed_types_and_the_own_channels_events_are_delivered(
    receiver, endpoint_for, publish, web_channel, market_channel
):
    orders_only, _ = endpoint_for(receiver.url, event_types=["order.*"])
    web_stock, _ = endpoint_for(receiver.url, event_types=["stock.availability_changed"], channel=web_channel)

    publish("order.shipped", aggregate=("order", "O-1"), channel="web")
    publish("stock.availability_changed", aggregate=("stock", "web:SKU-1"), channel="web")
    publish("stock.availability_changed", aggregate=("stock", "marketplace:SKU-1"), channel="marketplace")
    publish("product.created", aggregate=("product", "7"))

    got = sorted(WebhookDelivery.objects.values_list("endpoint_id", "event_type", "aggregate_id"))
    assert got == sorted(
        [(orders_only.pk, "order.shipped", "O-1"), (web_stock.pk, "stock.availability_changed", "web:SKU-1")]
    )


def test_the_same_events_given_to_the_sink_twice_make_one_delivery_each(receiver, endpoint_for, settings):
    from omnishop.core import outbox

    settings.OMNISHOP_OUTBOX_SINKS = ["omnishop.webhooks.services.sink"]
    endpoint_for(receiver.url)
    events = [
        outbox.emit("order.paid", aggregate_type="order", aggregate_id="O-1", payload={}),
        outbox.emit("order.shipped", aggregate_type="order", aggregate_id="O-1", payload={}),
    ]
    services.sink(events)
    services.sink(events)  # a relay that crashed after the sink and ran the batch again
    assert outbox.relay_once() == 2  # ... and once more through the relay itself

    assert WebhookDelivery.objects.count() == 2
    services.deliver_due()
    services.deliver_due()
    assert [r.headers["webhook-id"] for r in receiver.received] == [e.event_id for e in events]


def test_failures_are_retried_on_the_schedule_with_the_same_webhook_id_then_given_up(
    receiver, endpoint_for, publish, settings
):
    settings.OMNISHOP_WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800]
    endpoint_for(receiver.url)
    receiver.default = Answer(status=500, body=b"boom")
    event_id = publish()

    waits = []
    for _ in range(4):
        before = timezone.now()
        assert services.deliver_due() == 1
        assert services.deliver_due() == 0  # not due again yet
        delivery = WebhookDelivery.objects.get()
        if delivery.status == "pending":
            waits.append((delivery.next_attempt_at - before).total_seconds())
            make_due()

    assert delivery.status == "failed" and delivery.attempts == 4 and delivery.last_error == "http_500"
    # 5 s, 5 min, 30 min, each with up to ±20 % jitter
    for wait, planned in zip(waits, [5, 300, 1800], strict=True):
        assert planned * 0.8 - 1 <= wait <= planned * 1.2 + 1
    assert {r.headers["webhook-id"] for r in receiver.received} == {event_id}
    assert len(receiver.received) == 4
    assert [a.response_excerpt for a in WebhookAttempt.objects.all()] == ["boom"] * 4


def test_the_default_schedule_spreads_retries_over_about_three_days():
    waits = [services.retry_delay(n) for n in range(1, 9)]
    assert services.retry_delay(9) is None
    total = sum((w.total_seconds() for w in waits), 0.0)
    assert 2 * 86400 < total < 3.5 * 86400
    assert 4 <= waits[0].total_seconds() <= 6


def test_retry_after_is_honoured_on_429_and_503(receiver, endpoint_for, publish):
    endpoint_for(receiver.url)
    later = timezone.now() + timedelta(hours=1)
    receiver.answer(
        Answer(status=429, headers={"Retry-After": "120"}),
        Answer(status=503, headers={"Retry-After": later.strftime("%a, %d %b %Y %H:%M:%S GMT")}),
    )
    publish()

    start = timezone.now()
    services.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert 118 <= (delivery.next_attempt_at - start).total_seconds() <= 125
    make_due()
    services.deliver_due()
    delivery.refresh_from_db()
    assert abs((delivery.next_attempt_at - later).total_seconds()) < 5
    assert delivery.last_status_code == 503 and delivery.status == "pending"


def test_410_gone_disables_the_endpoint_and_cancels_what_waits_for_it(receiver, endpoint_for, publish):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.answer(Answer(status=410))
    publish(aggregate=("order", "O-1"))
    publish(aggregate=("order", "O-2"))

    services.deliver_due(limit=1)

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is not None and endpoint.state == "disabled"
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == ["cancelled", "failed"]
    publish(aggregate=("order", "O-3"))  # a disabled endpoint gets no new deliveries
    assert WebhookDelivery.objects.count() == 2
    assert services.deliver_due() == 0 and len(receiver.received) == 1


def test_after_n_failures_in_a_row_the_endpoint_is_paused_staff_alerted_and_nothing_lost(
    receiver, endpoint_for, publish, settings, caplog
):
    settings.OMNISHOP_WEBHOOK_PAUSE_AFTER = 3
    settings.OMNISHOP_WEBHOOK_CONCURRENCY = 1  # one request per round: the pause falls between two rounds
    settings.ADMINS = [("Ops", "ops@example.com")]
    endpoint, _ = endpoint_for(receiver.url)
    receiver.default = Answer(status=500)
    for n in range(4):
        publish(aggregate=("order", f"O-{n}"))

    with caplog.at_level(logging.ERROR, logger="omnishop.webhooks"):
        services.deliver_due()

    endpoint.refresh_from_db()
    assert endpoint.state == "paused" and "3 failed attempts in a row" in endpoint.pause_reason
    assert len(receiver.received) == 3  # the 4th was not sent to a paused endpoint
    assert any("paused" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert len(mail.outbox) == 1 and "paused" in mail.outbox[0].subject
    publish(aggregate=("order", "O-9"))  # a paused endpoint keeps collecting deliveries
    held = WebhookDelivery.objects.filter(status="pending")
    assert held.count() == 5 and set(held.values_list("next_attempt_at", flat=True)) == {HELD}
    assert services.deliver_due() == 0

    receiver.default = Answer(status=204, body=b"")
    services.ping(endpoint=endpoint)  # staff check the receiver is back: a ping goes to a paused endpoint
    assert services.deliver_due() == 1
    assert receiver.received[-1].json["type"] == "webhook.ping"
    endpoint.refresh_from_db()
    assert endpoint.state == "paused"

    services.resume_endpoint(endpoint=endpoint)
    services.deliver_due()
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 6
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_a_later_event_of_an_aggregate_waits_for_an_earlier_one_in_retry(
    receiver, endpoint_for, publish, settings
):
    settings.OMNISHOP_WEBHOOK_CONCURRENCY = 1  # requests in a known order, so the first answer hits `paid`
    endpoint_for(receiver.url)
    receiver.answer(Answer(status=500))
    paid = publish("order.paid", aggregate=("order", "O-1"))
    shipped = publish("order.shipped", aggregate=("order", "O-1"))
    other = publish("order.paid", aggregate=("order", "O-2"))

    services.deliver_due()
    assert [r.headers["webhook-id"] for r in receiver.received] == [paid, other]  # shipped held back
    make_due()
    services.deliver_due()  # paid succeeds in one round, which frees shipped for the next
    assert [r.headers["webhook-id"] for r in receiver.received] == [paid, other, paid, shipped]


def test_a_relay_that_dies_after_claiming_leaves_the_delivery_to_another_once_its_lease_ends(
    receiver, endpoint_for, publish
):
    endpoint_for(receiver.url)
    publish()
    dead_token, claimed = services.claim_due()  # ... and the relay process dies here
    assert len(claimed) == 1

    assert services.deliver_due() == 0  # leased: nobody else sends it
    WebhookDelivery.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert services.deliver_due() == 1
    assert services.send_claimed(claimed, token=dead_token) == 0  # the old claim is worth nothing now
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_after_a_rotation_deliveries_carry_both_signatures_until_the_grace_ends(
    receiver, endpoint_for, publish
):
    endpoint, old = endpoint_for(receiver.url)
    new = services.rotate_secret(endpoint=endpoint).secret
    assert new != old and new.startswith("whsec_")

    publish(aggregate=("order", "O-1"))
    services.deliver_due()
    first = receiver.received[-1]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    verify(old, first.headers, first.body)
    verify(new, first.headers, first.body)

    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    publish(aggregate=("order", "O-2"))
    services.deliver_due()
    second = receiver.received[-1]
    verify(new, second.headers, second.body)
    with pytest.raises(SignatureInvalid):
        verify(old, second.headers, second.body)


def test_a_replayed_delivery_is_sent_again_with_the_same_id_and_body(receiver, endpoint_for, publish):
    endpoint, secret = endpoint_for(receiver.url)
    publish(aggregate=("order", "O-1"))
    publish(aggregate=("order", "O-2"))
    services.deliver_due()
    first = WebhookDelivery.objects.order_by("id").first()

    services.replay_delivery(delivery_id=first.pk)
    services.deliver_due()
    assert len(receiver.received) == 3
    again = receiver.received[-1]
    assert again.headers["webhook-id"] == first.event_id
    [original] = [r for r in receiver.received[:2] if r.headers["webhook-id"] == first.event_id]
    assert verify(secret, again.headers, again.body) == original.json
    assert first.attempt_log.count() == 2

    queued = services.replay_range(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))
    assert queued == 2
    services.deliver_due()
    assert len(receiver.received) == 5


def test_a_ping_reaches_the_endpoint(receiver, endpoint_for):
    endpoint, secret = endpoint_for(receiver.url, event_types=["order.paid"])
    delivery = services.ping(endpoint=endpoint)
    services.deliver_due()
    payload = verify(secret, receiver.received[0].headers, receiver.received[0].body)
    assert payload["type"] == "webhook.ping" and payload["id"] == delivery.event_id


def test_a_slow_receiver_never_slows_the_commit_and_times_out_in_the_relay(
    receiver, endpoint_for, publish, settings
):
    import time

    settings.OMNISHOP_WEBHOOK_TIMEOUT = 1
    endpoint_for(receiver.url)
    receiver.default = Answer(delay=3)

    started = time.monotonic()
    publish()
    assert time.monotonic() - started < 0.5  # commit and fan-out write rows only
    assert receiver.received == []

    services.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_error == "timeout"
    assert WebhookAttempt.objects.get().duration_ms < 2500


def test_an_address_egress_refuses_pauses_the_endpoint_without_connecting(endpoint_for, publish, settings):
    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = False
    endpoint, _ = endpoint_for("http://127.0.0.1:9/hooks")  # nothing listens there: only a refusal is fine
    publish()

    services.deliver_due()

    endpoint.refresh_from_db()
    attempt = WebhookAttempt.objects.get()
    assert attempt.error_code == "loopback" and attempt.status_code is None
    assert endpoint.state == "paused" and "loopback" in endpoint.pause_reason
    assert WebhookDelivery.objects.get().status == "pending"  # waits for staff to fix the URL and resume


def test_a_delivery_waits_for_an_earlier_event_another_relay_has_not_fanned_out_yet(
    receiver, endpoint_for, settings
):
    from omnishop.core import outbox
    from omnishop.core.models import OutboxEvent

    settings.OMNISHOP_OUTBOX_SINKS = ["omnishop.webhooks.services.sink"]
    endpoint_for(receiver.url)
    paid = outbox.emit("order.paid", aggregate_type="order", aggregate_id="O-1", payload={})
    shipped = outbox.emit("order.shipped", aggregate_type="order", aggregate_id="O-1", payload={})
    # A second relay fanned out `shipped` while the first still holds `paid` in its batch.
    services.sink([shipped])
    OutboxEvent.objects.filter(pk=shipped.pk).update(dispatched_at=timezone.now())

    assert services.deliver_due() == 0
    outbox.relay_once()
    services.deliver_due()
    services.deliver_due()
    assert [r.headers["webhook-id"] for r in receiver.received] == [paid.event_id, shipped.event_id]


@pytest.mark.django_db(transaction=True)
def test_four_relays_at_once_send_every_delivery_exactly_once_and_in_order(receiver, endpoint_for, publish):
    import threading
    from collections import Counter

    from django.db import connection

    endpoint_for(receiver.url)
    expected = []
    for n in range(10):
        expected.append(publish("order.paid", aggregate=("order", f"O-{n}")))
        expected.append(publish("order.shipped", aggregate=("order", f"O-{n}")))
    errors = []

    def relay():
        try:
            idle = 0
            while idle < 3:
                idle = idle + 1 if services.deliver_due(limit=3) == 0 else 0
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    sent = [r.headers["webhook-id"] for r in receiver.received]
    assert Counter(sent) == Counter(expected)  # each once
    for paid, shipped in zip(expected[::2], expected[1::2], strict=True):
        assert sent.index(paid) < sent.index(shipped)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_throttling_receiver_is_not_paused_for_it(receiver, endpoint_for, publish, settings):
    settings.OMNISHOP_WEBHOOK_PAUSE_AFTER = 2
    endpoint, _ = endpoint_for(receiver.url)
    receiver.default = Answer(status=429, headers={"Retry-After": "1"})
    for n in range(3):
        publish(aggregate=("order", f"O-{n}"))

    assert services.deliver_due() == 3
    endpoint.refresh_from_db()
    assert endpoint.state == "active" and endpoint.consecutive_failures == 0


def test_an_endpoint_switched_off_keeps_what_waited_and_sends_it_when_switched_on(
    receiver, endpoint_for, publish
):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.answer(Answer(status=500))
    publish(aggregate=("order", "O-1"))
    services.deliver_due()

    services.update_endpoint(endpoint=endpoint, is_active=False)
    publish(aggregate=("order", "O-2"))  # nothing new for a switched-off endpoint
    assert WebhookDelivery.objects.get().next_attempt_at == HELD
    assert services.deliver_due() == 0

    services.update_endpoint(endpoint=endpoint, is_active=True)
    assert services.deliver_due() == 1
    assert WebhookDelivery.objects.get().status == "succeeded"
