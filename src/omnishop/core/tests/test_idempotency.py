"""Idempotency-Key: a retried create runs once; a key reused for another request is refused."""

import threading

import pytest
from django.db import connection
from django.test import Client

from omnishop.channels.models import ApiKey, Channel
from omnishop.conftest import ApiClient
from omnishop.core.idempotency import purge_expired
from omnishop.core.models import IdempotencyRecord

CHANNEL = {"code": "app", "name": "App", "kind": "mobile_app", "currency": "GBP"}


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_response(staff_api):
    first = staff_api.post("/channels", CHANNEL, headers={"Idempotency-Key": "k1"})
    second = staff_api.post("/channels", CHANNEL, headers={"Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Channel.objects.filter(code="app").count() == 1


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_a_409(staff_api):
    staff_api.post("/channels", CHANNEL, headers={"Idempotency-Key": "k1"})
    response = staff_api.post("/channels", {**CHANNEL, "name": "Other"}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_key_order_in_the_body_does_not_make_a_different_request(staff_api):
    staff_api.post("/channels", CHANNEL, headers={"Idempotency-Key": "k1"})
    reordered = dict(reversed(list(CHANNEL.items())))
    assert staff_api.post("/channels", reordered, headers={"Idempotency-Key": "k1"}).status_code == 201


@pytest.mark.django_db
def test_a_domain_error_is_replayed_too(staff_api, web_channel):
    body = {**CHANNEL, "code": "web"}
    first = staff_api.post("/channels", body, headers={"Idempotency-Key": "dup"})
    again = staff_api.post("/channels", body, headers={"Idempotency-Key": "dup"})
    assert first.status_code == again.status_code == 409
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_keys_are_scoped_to_the_caller(staff_api, django_user_model):
    other = django_user_model.objects.create_superuser(
        email="o@example.com", username="o", password="pw-123456!"
    )
    other_client = Client()
    other_client.force_login(other)
    staff_api.post("/channels", CHANNEL, headers={"Idempotency-Key": "shared"})
    response = ApiClient(other_client).post(
        "/channels", {**CHANNEL, "code": "app2"}, headers={"Idempotency-Key": "shared"}
    )
    assert response.status_code == 201
    assert Channel.objects.filter(code__in=["app", "app2"]).count() == 2


@pytest.mark.django_db
def test_over_long_key_is_refused(staff_api):
    response = staff_api.post("/channels", CHANNEL, headers={"Idempotency-Key": "k" * 300})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


@pytest.mark.django_db
def test_keys_are_kept_at_least_a_day_then_purged(staff_api):
    from datetime import timedelta

    from django.utils import timezone

    staff_api.post("/channels", CHANNEL, headers={"Idempotency-Key": "k1"})
    record = IdempotencyRecord.objects.get()
    assert record.expires_at - record.created_at >= timedelta(hours=24)
    assert purge_expired(now=timezone.now() + timedelta(hours=23)) == 0
    assert purge_expired(now=record.expires_at + timedelta(seconds=1)) == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_do_not_both_execute(staff_user, web_channel):
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    workers = 8
    barrier = threading.Barrier(workers)
    statuses: list[int] = []

    def send():
        client = Client()
        client.force_login(staff_user)
        barrier.wait()
        response = ApiClient(client).post(
            "/channels/web/api-keys",
            {"name": "sync", "scopes": ["catalog:read"]},
            headers={"Idempotency-Key": "race"},
        )
        statuses.append(response.status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ApiKey.objects.filter(channel=web_channel).count() == 1
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}


@pytest.mark.django_db
def test_a_request_whose_worker_died_is_run_by_a_retry_after_the_configured_time(staff_api, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.OMNISHOP_IDEMPOTENCY_ABANDONED_SECONDS = 30
    body = {**CHANNEL, "code": "app2"}
    staff_api.post("/channels", body, headers={"Idempotency-Key": "probe"})
    probe = IdempotencyRecord.objects.get(key="probe")
    # As a worker killed mid-request leaves it: in progress, no response, no channel written.
    Channel.objects.filter(code="app2").delete()
    IdempotencyRecord.objects.filter(pk=probe.pk).update(
        state=IdempotencyRecord.State.IN_PROGRESS, response_body=None, created_at=timezone.now()
    )
    again = staff_api.post("/channels", body, headers={"Idempotency-Key": "probe"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "idempotency_in_progress")
    IdempotencyRecord.objects.filter(pk=probe.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    retried = staff_api.post("/channels", body, headers={"Idempotency-Key": "probe"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Channel.objects.filter(code="app2").count() == 1
