"""The webhooks API: staff and channel keys (scope webhooks:manage) manage endpoints; the secret shows once."""

from __future__ import annotations

import pytest

from omnishop.webhooks import services
from omnishop.webhooks.models import WebhookDelivery, WebhookEndpoint

from .receiver import Answer, verify

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/omnishop"


@pytest.fixture
def web_key(api, web_channel, make_key):
    return api.with_key(make_key(web_channel, scopes=["webhooks:manage"]))


def test_staff_create_an_endpoint_and_see_its_secret_only_in_that_answer(staff_api):
    created = staff_api.post(
        "/webhooks/endpoints", {"url": URL, "event_types": ["order.*"], "app_name": "erp"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["state"] == "active" and body["channel"] is None
    assert WebhookEndpoint.objects.get().secret == body["secret"]

    shown = staff_api.get(f"/webhooks/endpoints/{body['id']}").json()
    assert "secret" not in shown and shown["event_types"] == ["order.*"]
    listed = staff_api.get("/webhooks/endpoints").json()
    assert [e["id"] for e in listed["items"]] == [body["id"]] and "secret" not in listed["items"][0]


def test_an_idempotent_replay_of_create_does_not_show_the_secret_again(staff_api):
    body = {"url": URL, "event_types": ["*"], "app_name": "erp"}
    first = staff_api.post("/webhooks/endpoints", body, headers={"Idempotency-Key": "k-1"})
    again = staff_api.post("/webhooks/endpoints", body, headers={"Idempotency-Key": "k-1"})
    assert first.json()["secret"].startswith("whsec_")
    assert again.json()["secret"] == "" and again.json()["id"] == first.json()["id"]
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"url": URL, "event_types": ["order.teleported"], "app_name": "erp"},
            "unknown_event_type",
            "event_types",
        ),
        ({"url": URL, "event_types": ["nothing.*"], "app_name": "erp"}, "unknown_event_type", "event_types"),
        ({"url": "ftp://x.example/", "event_types": ["*"], "app_name": "erp"}, "invalid_webhook_url", "url"),
        (
            {"url": "https://u:p@x.example/", "event_types": ["*"], "app_name": "erp"},
            "invalid_webhook_url",
            "url",
        ),
        ({"url": URL, "event_types": ["*"]}, "webhook_owner_required", "app_name"),
    ],
)
def test_bad_subscriptions_are_refused_with_stable_codes(staff_api, body, code, field):
    answer = staff_api.post("/webhooks/endpoints", body)
    assert answer.status_code == 422
    assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == (code, field)


def test_a_channel_key_manages_only_its_own_channels_endpoints(web_key, api, market_channel, make_key):
    mine = web_key.post("/webhooks/endpoints", {"url": URL, "event_types": ["stock.availability_changed"]})
    assert mine.status_code == 201 and mine.json()["channel"] == "web"
    theirs = services.create_endpoint(url=URL, event_types=["*"], channel=market_channel).endpoint

    assert [e["id"] for e in web_key.get("/webhooks/endpoints").json()["items"]] == [mine.json()["id"]]
    assert (
        web_key.get(f"/webhooks/endpoints/{theirs.pk}").json()["error"]["code"]
        == "webhook_endpoint_not_found"
    )
    assert web_key.delete(f"/webhooks/endpoints/{theirs.pk}").status_code == 404
    refused = web_key.post(
        "/webhooks/endpoints", {"url": URL, "event_types": ["*"], "channel": "marketplace"}
    )
    assert refused.status_code == 403

    no_scope = api.with_key(make_key(market_channel, scopes=["orders:read"]))
    assert no_scope.get("/webhooks/endpoints").status_code == 403


def test_update_rotate_and_delete(web_key):
    created = web_key.post("/webhooks/endpoints", {"url": URL, "event_types": ["order.paid"]}).json()
    path = f"/webhooks/endpoints/{created['id']}"

    changed = web_key.patch(path, {"event_types": ["order.paid", "order.shipped"], "is_active": False})
    assert changed.status_code == 200
    assert (
        changed.json()["event_types"] == ["order.paid", "order.shipped"]
        and changed.json()["state"] == "inactive"
    )
    assert web_key.patch(path, {"url": None}).json()["error"]["code"] == "validation_error"

    rotated = web_key.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"] and rotated.json()["previous_secret_expires_at"]
    endpoint = WebhookEndpoint.objects.get()
    assert services.signing_secrets(endpoint) == [rotated.json()["secret"], created["secret"]]

    assert web_key.delete(path).status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_ping_deliveries_with_attempts_and_replay_through_the_api(staff_api, receiver):
    created = staff_api.post(
        "/webhooks/endpoints", {"url": receiver.url, "event_types": ["order.paid"], "app_name": "erp"}
    ).json()
    path = f"/webhooks/endpoints/{created['id']}"
    receiver.answer(Answer(status=500, body=b"down for maintenance"))

    pinged = staff_api.post(f"{path}/ping")
    assert pinged.status_code == 202 and pinged.json()["event_type"] == "webhook.ping"
    services.deliver_due()
    WebhookDelivery.objects.update(next_attempt_at=WebhookDelivery.objects.get().created_at)
    services.deliver_due()
    assert (
        verify(created["secret"], receiver.received[-1].headers, receiver.received[-1].body)["type"]
        == "webhook.ping"
    )

    listed = staff_api.get(f"{path}/deliveries").json()["items"]
    assert [(d["status"], d["attempts"]) for d in listed] == [("succeeded", 2)]
    assert [(a["status_code"], a["response_excerpt"]) for a in listed[0]["attempt_log"]] == [
        (500, "down for maintenance"),
        (200, '{"ok": true}'),
    ]
    assert staff_api.get(f"{path}/deliveries", {"status": "failed"}).json()["items"] == []

    replayed = staff_api.post(f"/webhooks/deliveries/{listed[0]['id']}/replay")
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    services.deliver_due()
    assert len(receiver.received) == 3
    assert receiver.received[-1].headers["webhook-id"] == pinged.json()["event_id"]

    ranged = staff_api.post(f"{path}/replay", {"since": "2000-01-01T00:00:00Z", "status": ["succeeded"]})
    assert ranged.json() == {"replayed": 1}
    naive = staff_api.post(f"{path}/replay", {"since": "2000-01-01T00:00:00", "until": "2100-01-01T00:00:00"})
    assert naive.json() == {"replayed": 1}  # times without an offset are UTC
    bad = staff_api.post(f"{path}/replay", {"since": "2100-01-01T00:00:00Z", "until": "2000-01-01T00:00:00Z"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "until"


def test_resume_clears_a_pause(staff_api):
    endpoint = services.create_endpoint(url=URL, event_types=["*"], app_name="erp").endpoint
    services.pause_endpoint(endpoint_id=endpoint.pk, reason="test")
    assert staff_api.get(f"/webhooks/endpoints/{endpoint.pk}").json()["state"] == "paused"
    resumed = staff_api.post(f"/webhooks/endpoints/{endpoint.pk}/resume")
    assert resumed.json()["state"] == "active" and resumed.json()["pause_reason"] == ""


def test_event_types_are_listed(staff_api):
    assert "order.shipped" in staff_api.get("/webhooks/event-types").json()["items"]


def test_a_disabled_endpoint_cannot_be_pinged_until_resumed(staff_api):
    endpoint = services.create_endpoint(url=URL, event_types=["*"], app_name="erp").endpoint
    services.disable_endpoint(endpoint_id=endpoint.pk, reason="410")
    refused = staff_api.post(f"/webhooks/endpoints/{endpoint.pk}/ping")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "webhook_endpoint_disabled"
    staff_api.post(f"/webhooks/endpoints/{endpoint.pk}/resume")
    assert staff_api.post(f"/webhooks/endpoints/{endpoint.pk}/ping").status_code == 202
