"""`omnishop webhooks` and the back-office screens: secrets shown once, actions call the services."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from omnishop.webhooks import services
from omnishop.webhooks.models import WebhookDelivery, WebhookEndpoint

from .receiver import verify

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("webhooks", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_cli_creates_lists_rotates_pings_and_replays(receiver, web_channel):
    secret = run("create", receiver.url, "--channel", "web", "--type", "order.*").strip()
    endpoint = WebhookEndpoint.objects.get()
    assert secret.startswith("whsec_") and endpoint.channel == web_channel
    listed = run("list")
    assert receiver.url in listed and "active" in listed and secret not in listed

    new = run("rotate", str(endpoint.pk)).strip()
    assert new.startswith("whsec_") and new != secret

    run("ping", str(endpoint.pk))
    assert "1 delivery" in run("deliver")
    got = receiver.received[0]
    verify(new, got.headers, got.body)
    verify(secret, got.headers, got.body)  # the old secret still signs during the grace period

    delivery = WebhookDelivery.objects.get()
    run("replay", "--delivery", str(delivery.pk))
    run("deliver")
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.event_id] * 2
    assert "1 delivery(ies) queued" in run("replay", "--endpoint", str(endpoint.pk), "--since", "2000-01-01")


def test_cli_errors_are_clear(web_channel):
    with pytest.raises(CommandError, match="unknown_event_type"):
        run("create", "https://hooks.example.com/x", "--app", "erp", "--type", "order.teleported")
    with pytest.raises(CommandError, match="webhook_endpoint_not_found"):
        run("ping", "999")


def test_staff_see_paused_endpoints_and_resume_them_in_the_admin(staff_user):
    endpoint = services.create_endpoint(
        url="https://hooks.example.com/x", event_types=["*"], app_name="erp"
    ).endpoint
    services.pause_endpoint(endpoint_id=endpoint.pk, reason="20 failed attempts in a row (last: http_500)")
    services.ping(endpoint=endpoint)
    client = Client()
    client.force_login(staff_user)

    page = client.get("/admin/webhooks/webhookendpoint/", {"state": "attention"})
    assert page.status_code == 200 and b"20 failed attempts in a row" in page.content
    assert (
        endpoint.secret.encode()
        not in client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content
    )

    client.post("/admin/webhooks/webhookendpoint/", {"action": "resume", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.state == "active"

    change = f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/"
    refused = client.post(change, {"url": "ftp://files.example.com/", "description": "", "is_active": "on"})
    assert refused.status_code == 200 and b"http:// or https://" in refused.content
    client.post(change, {"url": "https://hooks.example.com/new", "description": "ERP", "is_active": "on"})
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == ("https://hooks.example.com/new", "ERP")

    delivery = WebhookDelivery.objects.get()
    assert client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").status_code == 200
    WebhookDelivery.objects.update(status="failed")
    client.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]})
    assert WebhookDelivery.objects.get().status == "pending"

    rotated = client.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    assert endpoint.secret.encode() in rotated.content  # shown once, in the message
