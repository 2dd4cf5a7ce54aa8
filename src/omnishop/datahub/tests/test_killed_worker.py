"""An import whose worker is killed (SIGKILL) halfway is finished by another worker, each row exactly once:
late acknowledgement leaves the job in Redis, the second worker takes it after the visibility timeout and,
once the dead runner's lease on the job has run out, resumes after the last committed line (ADR 0031). A job
whose runner still holds it is not run twice: the worker retries when the lease would run out. Real Redis, real
worker processes, on the `imports` queue."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from omnishop.customers.models import ChannelIdentity
from omnishop.datahub import services
from omnishop.datahub.models import ImportJob
from omnishop.testing_workers import REDIS_URL, celery_client, start_worker, stop_worker

from .conftest import assert_balanced

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROWS = 600
BATCH = 20


def customers_file(rows: int) -> bytes:
    lines = ["id,email,phone,first_name,last_name,address1,city,zip,country"]
    lines += [f"K{n},buyer{n}@example.com,,Buyer,Number{n},,,," for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def wait_for(condition, *, worker, seconds: float, what: str) -> ImportJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = condition()
        if job is not None:
            return job
        if worker.poll() is not None:
            raise AssertionError(f"the worker stopped before {what}:\n{stop_worker(worker)}")
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {seconds} s; the worker's output:\n{stop_worker(worker)}")


def finished(job: ImportJob) -> ImportJob | None:
    """The job once it has stopped running, else None (for wait_for)."""
    job.refresh_from_db()
    return job if job.status != ImportJob.Status.RUNNING else None


def test_an_import_killed_with_its_worker_is_finished_by_another_worker_each_row_once(
    datahub_dirs, retail_channel
):
    if not REDIS_URL:
        pytest.skip("OMNISHOP_TEST_REDIS_URL is set by scripts/run-tests (make test), which starts Redis")
    if connection.vendor == "postgresql":
        # Two worker start-ups and a Redis restore cycle (~30 s) on the suite that is the long pole of
        # `make test`; the redelivery does not depend on the database, and resuming after the last committed
        # line runs on both databases in test_online_retail.py.
        pytest.skip("runs in the SQLite suite only (test-time budget)")
    job = services.start_import(
        profile="customers", stream=io.BytesIO(customers_file(ROWS)), filename="c.csv", channel=retail_channel
    )
    # A short lease, so that the second worker need not wait the production five minutes after the kill.
    env = {"OMNISHOP_DATAHUB_BATCH_SIZE": str(BATCH), "OMNISHOP_DATAHUB_LEASE_SECONDS": "2"}
    first = start_worker(queues="imports", env=env)
    try:
        celery_client().send_task("omnishop.datahub.tasks.run_import_job", args=[job.pk])

        def halfway() -> ImportJob | None:
            job.refresh_from_db()
            return job if job.status == ImportJob.Status.RUNNING and job.last_line > 2 * BATCH else None

        wait_for(halfway, worker=first, seconds=90, what="import halfway")
        first.kill()  # SIGKILL: no clean-up, no acknowledgement
        first.wait(timeout=20)
    finally:
        stop_worker(first)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING and 0 < job.last_line < ROWS, (job.status, job.last_line)
    committed = ChannelIdentity.objects.count()
    assert 0 < committed < ROWS

    # A short visibility timeout, so this test need not wait the production hour for the job to come back.
    second = start_worker(queues="imports", env={**env, "OMNISHOP_CELERY_VISIBILITY_TIMEOUT": "1"})
    try:
        wait_for(lambda: finished(job), worker=second, seconds=90, what="finished import")
    finally:
        output = stop_worker(second)
    assert job.status == ImportJob.Status.SUCCEEDED, output
    # Every row read once and imported once: a row read twice would count as read twice ("unchanged").
    assert (job.rows_read, job.imported, job.unchanged, job.quarantined) == (ROWS, ROWS, 0, 0)
    assert_balanced(job)
    external_ids = list(ChannelIdentity.objects.values_list("external_id", flat=True))
    assert sorted(external_ids) == sorted(f"K{n}" for n in range(ROWS))


def test_a_job_whose_runner_still_holds_it_is_retried_when_the_lease_runs_out(datahub_dirs, retail_channel):
    if not REDIS_URL:
        pytest.skip("OMNISHOP_TEST_REDIS_URL is set by scripts/run-tests (make test), which starts Redis")
    if connection.vendor == "postgresql":
        pytest.skip(
            "runs in the SQLite suite only (test-time budget); the lease is tested on both in test_lease.py"
        )
    job = services.start_import(
        profile="customers",
        stream=io.BytesIO(customers_file(BATCH)),
        filename="c.csv",
        channel=retail_channel,
    )
    # As a runner elsewhere leaves it, for a few seconds more: running, nothing committed.
    held_until = timezone.now() + timedelta(seconds=3)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, lease_owner="elsewhere:1:token", lease_until=held_until
    )
    worker = start_worker(queues="imports")
    try:
        celery_client().send_task("omnishop.datahub.tasks.run_import_job", args=[job.pk])
        wait_for(lambda: finished(job), worker=worker, seconds=90, what="finished import")
    finally:
        output = stop_worker(worker)
    assert job.status == ImportJob.Status.SUCCEEDED, output
    # Not started while the other runner held it; started by this worker's process, once.
    assert job.started_at >= held_until, (job.started_at, held_until)
    assert job.lease_owner != "elsewhere:1:token" and job.lease_until is None
    assert (job.rows_read, job.imported) == (BATCH, BATCH)
    assert_balanced(job)
