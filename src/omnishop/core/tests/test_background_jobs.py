"""Background jobs run on a real Celery worker over a real Redis, against the same database as the app."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from omnishop.core.models import IdempotencyRecord

REDIS_URL = os.environ.get("OMNISHOP_TEST_REDIS_URL", "")


def database_url_of_test_db() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{port}/{settings['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db):
    if not REDIS_URL:
        pytest.skip("OMNISHOP_TEST_REDIS_URL is set by scripts/run-tests (make test), which starts Redis")
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": database_url_of_test_db(),
        "SECRET_KEY": "test-worker-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "0",
    }
    env.pop("OMNISHOP_TESTING", None)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "omnishop",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"test-{os.getpid()}@%h",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.mark.redis
def test_nightly_cleanup_runs_on_a_real_worker_over_redis(celery_worker_process):
    now = timezone.now()
    expired = IdempotencyRecord.objects.create(
        scope="user:1", key="old", operation="POST /x", request_hash="h", expires_at=now - timedelta(hours=1)
    )
    kept = IdempotencyRecord.objects.create(
        scope="user:1", key="new", operation="POST /x", request_hash="h", expires_at=now + timedelta(hours=47)
    )
    client = Celery(broker=REDIS_URL, backend=REDIS_URL)
    result = client.send_task("omnishop.core.tasks.purge_expired_idempotency_keys")
    try:
        purged = result.get(timeout=90)
    except Exception:
        celery_worker_process.terminate()
        output = celery_worker_process.communicate(timeout=20)[0].decode(errors="replace")
        raise AssertionError(f"the worker did not run the job; its output:\n{output}") from None
    assert purged == 1
    assert not IdempotencyRecord.objects.filter(pk=expired.pk).exists()
    assert IdempotencyRecord.objects.filter(pk=kept.pk).exists()
