"""The customers context announces new customers, merges (and their undo) and consent changes — ids only."""

from __future__ import annotations

import pytest

from omnishop.core.models import OutboxEvent
from omnishop.customers import services
from omnishop.customers.models import Customer
from omnishop.customers.preferences import ConsentChange, update_preferences

pytestmark = pytest.mark.django_db


def payloads(type):
    return [e.payload for e in OutboxEvent.objects.filter(type=type).order_by("id")]


def test_every_new_customer_is_announced_without_personal_data(web_channel):
    ada = Customer.objects.create(email="ada@example.com", first_name="Ada")
    resolved = services.resolve_customer(channel=web_channel, email="grace@example.com", first_name="Grace")
    ids = [p["customer_id"] for p in payloads("customer.created")]
    assert ids == [ada.pk, resolved.customer.pk]
    text = str(payloads("customer.created"))
    assert "ada@example.com" not in text and "Grace" not in text


def test_a_merge_and_its_undo_are_announced_on_both_customers():
    survivor = Customer.objects.create(email="ada@example.com")
    twin = Customer.objects.create(email="ada.l@example.com")
    record = services.merge_customers(survivor=survivor, merged=twin, reason="same person")
    merged = OutboxEvent.objects.filter(type="customer.merged").order_by("id")
    assert {e.aggregate_id for e in merged} == {str(survivor.pk), str(twin.pk)}
    assert merged[0].payload == {
        "survivor_id": survivor.pk,
        "merged_id": twin.pk,
        "merge_id": record.pk,
        "undone": False,
    }
    services.undo_merge(record=record)
    assert [p["undone"] for p in payloads("customer.merged")] == [False, False, True, True]


def test_a_consent_change_is_announced_once_per_real_change(web_channel):
    ada = Customer.objects.create(email="ada@example.com")
    update_preferences(customer=ada, consents=[ConsentChange(channel="web", granted=True)])
    update_preferences(customer=ada, consents=[ConsentChange(channel="web", granted=True)])  # no change
    update_preferences(customer=ada, consents=[ConsentChange(channel="web", granted=False)])
    assert [(p["channel"], p["granted"]) for p in payloads("customer.consent_changed")] == [
        ("web", True),
        ("web", False),
    ]
