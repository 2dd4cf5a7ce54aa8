"""The embedded default's scheduler: each due job runs once, in one process, whatever the number of them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from omnishop.core import scheduler
from omnishop.core.management.commands.serve import gunicorn_config
from omnishop.core.models import ScheduledJob
from omnishop.testing_workers import SERVE_OPTIONS

RUNS: list[str] = []
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
EVERY_MINUTE = {"tick": {"task": "omnishop.core.tests.test_scheduler.record_tick", "schedule": 60.0}}


def record_tick() -> None:
    RUNS.append("tick")


def explode() -> None:
    raise RuntimeError("the carrier's API is down")


@pytest.fixture(autouse=True)
def fresh_runs():
    RUNS.clear()
    yield
    RUNS.clear()


@pytest.mark.django_db
def test_a_new_job_first_runs_one_interval_later_then_once_per_interval():
    assert scheduler.run_due(now=T0, schedule=EVERY_MINUTE) == []
    assert scheduler.run_due(now=T0 + timedelta(seconds=59), schedule=EVERY_MINUTE) == []
    assert scheduler.run_due(now=T0 + timedelta(seconds=60), schedule=EVERY_MINUTE, owner="a:1") == ["tick"]
    assert scheduler.run_due(now=T0 + timedelta(seconds=61), schedule=EVERY_MINUTE) == []
    assert scheduler.run_due(now=T0 + timedelta(seconds=120), schedule=EVERY_MINUTE) == ["tick"]
    assert RUNS == ["tick", "tick"]
    job = ScheduledJob.objects.get(name="tick")
    assert (job.runs, job.failures, job.next_run_at, job.last_error) == (
        2,
        0,
        T0 + timedelta(seconds=180),
        "",
    )
    assert job.last_started_at == T0 + timedelta(seconds=120) and job.last_finished_at is not None


@pytest.mark.django_db
def test_a_failing_job_is_recorded_and_does_not_stop_the_others():
    schedule = {
        "broken": {"task": "omnishop.core.tests.test_scheduler.explode", "schedule": 30},
        **EVERY_MINUTE,
    }
    ScheduledJob.objects.create(name="broken", task="x", next_run_at=T0)
    ScheduledJob.objects.create(name="tick", task="x", next_run_at=T0)
    assert scheduler.run_due(now=T0, schedule=schedule) == ["broken", "tick"]
    broken = ScheduledJob.objects.get(name="broken")
    assert (broken.runs, broken.failures, broken.task) == (0, 1, "omnishop.core.tests.test_scheduler.explode")
    assert "the carrier's API is down" in broken.last_error and broken.next_run_at == T0 + timedelta(
        seconds=30
    )
    assert RUNS == ["tick"]


def test_intervals_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        scheduler.jobs_from({"never": {"task": "x.y", "schedule": 0}})
    assert scheduler.jobs_from({"j": {"task": "x.y", "schedule": timedelta(minutes=2)}})[
        0
    ].every == timedelta(minutes=2)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_eight_schedulers_ticking_at_the_same_moment_run_a_due_job_once():
    if connection.vendor != "postgresql":
        pytest.skip("real parallel connections need PostgreSQL")
    ScheduledJob.objects.create(name="tick", task="x", next_run_at=T0)
    start = threading.Barrier(8)
    ran: list[list[str]] = []

    def tick(owner: str) -> None:
        try:
            start.wait()
            ran.append(scheduler.run_due(now=T0 + timedelta(seconds=1), schedule=EVERY_MINUTE, owner=owner))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick, args=(f"worker-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(map(len, ran)) == [0] * 7 + [1] and RUNS == ["tick"]
    assert ScheduledJob.objects.get(name="tick").runs == 1


@pytest.mark.django_db
def test_the_default_schedule_names_real_jobs(settings):
    for job in scheduler.jobs_from(settings.CELERY_BEAT_SCHEDULE):
        assert callable(scheduler.resolve(job.task)), job.name
    names = set(settings.CELERY_BEAT_SCHEDULE)
    assert {
        "inventory-expire-reservations",
        "orders-allocate-backorders",
        "purge-expired-idempotency-keys",
    } <= names


@pytest.mark.parametrize(
    ("mode", "redis_url", "runs_in_workers"),
    [
        ("auto", "", True),
        ("auto", "redis://127.0.0.1:6379/0", False),
        ("on", "redis://x", True),
        ("off", "", False),
    ],
)
def test_serve_runs_the_scheduler_in_its_workers_only_in_the_embedded_default(
    mode, redis_url, runs_in_workers
):
    options = SERVE_OPTIONS
    with override_settings(OMNISHOP_SCHEDULER=mode, REDIS_URL=redis_url, OMNISHOP_RELAY="off"):
        hook = gunicorn_config(options)["post_worker_init"]
    assert (hook is not None) is runs_in_workers


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_thread_runs_due_jobs_until_stopped():
    ScheduledJob.objects.create(name="tick", task="x", next_run_at=timezone.now() - timedelta(seconds=1))
    thread = scheduler.SchedulerThread(tick=0.05, schedule=EVERY_MINUTE)
    thread.start()
    try:
        for _ in range(200):
            if RUNS:
                break
            threading.Event().wait(0.05)
    finally:
        thread.stop()
    assert not thread.is_alive() and RUNS == ["tick"]
