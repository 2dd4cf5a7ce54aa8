"""Background jobs run on a real Celery worker over a real Redis, against the same database as the app."""

from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.core.models import IdempotencyRecord
from omnishop.testing_workers import REDIS_URL, celery_client, start_worker, stop_worker


@pytest.fixture
def celery_worker_process(transactional_db):
    if not REDIS_URL:
        pytest.skip("OMNISHOP_TEST_REDIS_URL is set by scripts/run-tests (make test), which starts Redis")
    worker = start_worker()
    yield worker
    stop_worker(worker)


@pytest.mark.redis
def test_nightly_cleanup_runs_on_a_real_worker_over_redis(celery_worker_process):
    now = timezone.now()
    expired = IdempotencyRecord.objects.create(
        scope="user:1", key="old", operation="POST /x", request_hash="h", expires_at=now - timedelta(hours=1)
    )
    kept = IdempotencyRecord.objects.create(
        scope="user:1", key="new", operation="POST /x", request_hash="h", expires_at=now + timedelta(hours=47)
    )
    result = celery_client().send_task("omnishop.core.tasks.purge_expired_idempotency_keys")
    try:
        purged = result.get(timeout=90)
    except Exception:
        celery_worker_process.terminate()
        output = celery_worker_process.communicate(timeout=20)[0].decode(errors="replace")
        raise AssertionError(f"the worker did not run the job; its output:\n{output}") from None
    assert purged == 1
    assert not IdempotencyRecord.objects.filter(pk=expired.pk).exists()
    assert IdempotencyRecord.objects.filter(pk=kept.pk).exists()
