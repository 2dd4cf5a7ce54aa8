"""Fixtures of the webhook tests: a live receiver on loopback, endpoints, and events through the outbox."""

from __future__ import annotations

import pytest

from .receiver import Receiver


@pytest.fixture
def receiver(settings):
    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True
    with Receiver() as running:
        yield running


@pytest.fixture
def endpoint_for(db):
    from omnishop.webhooks import services

    def make(url: str, *, event_types=("*",), channel=None, app_name="erp"):
        issued = services.create_endpoint(
            url=url, event_types=list(event_types), channel=channel, app_name="" if channel else app_name
        )
        return issued.endpoint, issued.secret

    return make


@pytest.fixture
def publish(db, settings):
    """Emit one event as a service does (in its transaction) and run the outbox relay's fan-out, which hands
    it to the webhook sink; returns the event's id (the webhook-id)."""
    settings.OMNISHOP_OUTBOX_SINKS = ["omnishop.webhooks.services.sink"]
    settings.OMNISHOP_RELAY_WORKERS = []

    def emit(event_type="order.paid", *, aggregate=("order", "O-1"), channel="", data=None) -> str:
        from django.db import transaction

        from omnishop.core import outbox

        with transaction.atomic():
            event = outbox.emit(
                event_type,
                aggregate_type=aggregate[0],
                aggregate_id=aggregate[1],
                payload=data or {"n": 1},
                channel=channel,
            )
        outbox.relay_once()
        return event.event_id

    return emit
