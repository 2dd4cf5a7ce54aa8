"""A running import belongs to one runner at a time: the runner holds a lease on the job that every batch
renews; a second delivery of the job (a broker's visibility timeout shorter than the import, a duplicate
message) is refused while the lease lasts and resumes the job once it has run out; a runner whose job was
taken over stops at its next write and leaves the job's row to the new runner."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.db import close_old_connections, connection
from django.utils import timezone

from omnishop.core.models import OutboxEvent
from omnishop.customers.models import ChannelIdentity
from omnishop.datahub import services
from omnishop.datahub.errors import JobNotRunnable
from omnishop.datahub.models import ImportJob
from omnishop.datahub.tasks import run_import_job

from .conftest import assert_balanced, dataset, head_of_gzip

ROWS = 60


def customers_file(rows: int = ROWS) -> io.BytesIO:
    lines = ["id,email,phone,first_name,last_name,address1,city,zip,country"]
    lines += [f"L{n},lease{n}@example.com,,Lease,Number{n},,,," for n in range(rows)]
    return io.BytesIO(("\r\n".join(lines) + "\r\n").encode())


def pending_job(channel) -> ImportJob:
    return services.start_import(
        profile="customers", stream=customers_file(), filename="c.csv", channel=channel
    )


def held_by_another(job: ImportJob, *, seconds: float) -> ImportJob:
    """The job as a live (seconds > 0) or a dead (seconds < 0) runner elsewhere leaves it: running, nothing
    committed yet."""
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        lease_owner="elsewhere:1:token",
        lease_until=timezone.now() + timedelta(seconds=seconds),
    )
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_a_job_whose_runner_holds_it_is_refused_with_the_time_left(datahub_dirs, retail_channel):
    job = held_by_another(pending_job(retail_channel), seconds=60)
    with pytest.raises(JobNotRunnable) as refused:
        services.run_import(job=job, resume=True)
    assert refused.value.code == "import_job_not_runnable"
    assert 55 <= refused.value.details["retry_after"] <= 61
    job.refresh_from_db()
    assert (job.status, job.lease_owner, job.rows_read) == (ImportJob.Status.RUNNING, "elsewhere:1:token", 0)
    assert ChannelIdentity.objects.count() == 0


@pytest.mark.django_db
def test_a_pending_job_is_taken_once(datahub_dirs, retail_channel):
    job = pending_job(retail_channel)
    done = services.run_import(job=job)
    assert done.status == ImportJob.Status.SUCCEEDED and done.imported == ROWS
    # Taken, run and released: the lease names this run and has ended.
    assert done.lease_owner.split(":")[1].isdigit() and done.lease_until is None
    with pytest.raises(JobNotRunnable) as refused:
        services.run_import(job=done)
    assert "retry_after" not in refused.value.details  # finished: nothing to wait for


@pytest.mark.django_db
def test_a_job_whose_lease_ran_out_is_resumed_by_the_next_runner(datahub_dirs, retail_channel):
    job = held_by_another(pending_job(retail_channel), seconds=-1)
    done = services.run_import(job=job, resume=True)
    assert done.status == ImportJob.Status.SUCCEEDED
    assert (done.rows_read, done.imported) == (ROWS, ROWS)
    assert done.lease_owner != "elsewhere:1:token" and done.lease_until is None
    assert_balanced(done)


@pytest.mark.django_db
def test_a_runner_whose_job_was_taken_over_stops_without_writing_more(datahub_dirs, retail_channel, settings):
    settings.OMNISHOP_DATAHUB_BATCH_SIZE = 10
    job = pending_job(retail_channel)
    batches = []

    def taken_over_after_the_first_batch(progress: ImportJob) -> None:
        batches.append(progress.last_line)
        if len(batches) == 1:
            # Another runner took the job over (this one's lease ran out while it stalled).
            ImportJob.objects.filter(pk=job.pk).update(
                lease_owner="elsewhere:2:token", lease_until=timezone.now() + timedelta(seconds=60)
            )

    after = services.run_import(job=job, progress=taken_over_after_the_first_batch)
    assert batches == [11]  # the header is line 1: ten rows committed, then nothing more
    # The job is the new runner's, as it left it: still running, only the first batch counted, no end.
    assert (after.status, after.lease_owner) == (ImportJob.Status.RUNNING, "elsewhere:2:token")
    assert (after.rows_read, after.imported, after.last_line) == (10, 10, 11)
    assert after.finished_at is None
    assert ChannelIdentity.objects.count() == 10
    assert not OutboxEvent.objects.filter(type="import.finished", aggregate_id=str(job.pk)).exists()


@pytest.mark.django_db
def test_the_task_retries_when_the_lease_runs_out_and_skips_a_finished_job(datahub_dirs, retail_channel):
    job = held_by_another(pending_job(retail_channel), seconds=60)
    # Called outside a worker and not eagerly, the task's retry surfaces as Celery's Retry.
    with pytest.raises(Retry):
        run_import_job.run(job.pk)
    # Eagerly (no Redis: this very process runs the job), there is no one to retry later: it leaves the job.
    assert run_import_job.apply(args=[job.pk]).get() == job.pk
    job.refresh_from_db()
    assert (job.status, job.rows_read) == (ImportJob.Status.RUNNING, 0)
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert run_import_job.apply(args=[job.pk]).get() == job.pk
    job.refresh_from_db()
    assert (job.status, job.imported) == (ImportJob.Status.SUCCEEDED, ROWS)
    assert run_import_job.apply(args=[job.pk]).get() == job.pk  # delivered again: nothing happens
    job.refresh_from_db()
    assert (job.rows_read, job.unchanged) == (ROWS, 0)


@pytest.mark.django_db(transaction=True)
def test_two_runners_at_once_take_an_expired_job_once(datahub_dirs, retail_channel):
    if connection.vendor != "postgresql":
        pytest.skip("real parallel connections: PostgreSQL")
    job = held_by_another(pending_job(retail_channel), seconds=-1)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def runner() -> None:
        try:
            barrier.wait()
            services.run_import(job=ImportJob.objects.get(pk=job.pk), resume=True)
            outcomes.append("ran")
        except JobNotRunnable as exc:
            outcomes.append("waits" if "retry_after" in exc.details else "finished")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("ran") == 1, outcomes
    job.refresh_from_db()
    assert (job.status, job.rows_read, job.imported) == (ImportJob.Status.SUCCEEDED, ROWS, ROWS)
    assert ChannelIdentity.objects.count() == ROWS
    assert_balanced(job)


@pytest.mark.django_db
def test_a_re_import_taken_over_between_unchanged_batches_stops_there(datahub_dirs, retail_channel, settings):
    """A batch whose rows were all met again writes only its counts (one UPDATE, no transaction): that
    UPDATE is still the lease check, so a runner taken over stops at its next batch."""
    settings.OMNISHOP_DATAHUB_BATCH_SIZE = 50
    path = datahub_dirs / "retail.csv"
    path.write_bytes(head_of_gzip(dataset("online_retail_uci", "online_retail_2010-12.csv.gz"), 201))
    first = services.import_files(profile="online_retail", paths=[path], channel=retail_channel)[0]
    assert first.status == ImportJob.Status.SUCCEEDED and first.imported + first.quarantined == 200
    again = services.start_import(
        profile="online_retail",
        stream=io.BytesIO(path.read_bytes()),
        filename="retail.csv",
        channel=retail_channel,
    )
    batches = []

    def taken_over_after_the_first_batch(progress: ImportJob) -> None:
        batches.append((progress.last_line, progress.unchanged))
        if len(batches) == 1:
            ImportJob.objects.filter(pk=again.pk).update(
                lease_owner="elsewhere:3:token", lease_until=timezone.now() + timedelta(seconds=60)
            )

    after = services.run_import(job=again, progress=taken_over_after_the_first_batch)
    assert batches == [(51, 50)]  # fifty rows met again, then nothing more
    assert (after.status, after.lease_owner) == (ImportJob.Status.RUNNING, "elsewhere:3:token")
    assert (after.rows_read, after.unchanged, after.imported, after.last_line) == (50, 50, 0, 51)
