"""The embedded default's scheduler: CELERY_BEAT_SCHEDULE run in-process when there is no Redis.

With REDIS_URL, Celery beat sends the schedule to the workers. Without it nothing periodic would run:
reservations would never expire, backorders would wait for a manual call, stored idempotency keys would
never be purged. So `omnishop serve` starts a `SchedulerThread` in each server worker (settings:
OMNISHOP_SCHEDULER = auto | on | off, OMNISHOP_SCHEDULER_TICK seconds), and `omnishop scheduler` runs the
same loop on its own (or once, from cron).

Every process may tick; a job runs only in the process whose compare-and-set UPDATE moves its
`next_run_at` forward (one row per job in core_scheduledjob), so several workers, or several machines on
one database, run each due job once per interval. As under Celery beat, a job first runs one interval after
the first scheduler started. A job's failure is logged and recorded on its row; it
does not stop the others, and the job runs again at its next interval.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.db.models import F
from django.utils import timezone

from .models import ScheduledJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    task: str  # dotted path of a callable (a Celery task runs in-process when called)
    every: timedelta


def jobs_from(schedule: Mapping[str, Mapping]) -> list[Job]:
    """The jobs of a CELERY_BEAT_SCHEDULE-shaped table (intervals in seconds or timedelta)."""
    jobs = []
    for name, entry in schedule.items():
        every = entry["schedule"]
        if not isinstance(every, timedelta):
            every = timedelta(seconds=float(every))
        if every <= timedelta(0):
            raise ValueError(f"Scheduled job {name!r}: the interval must be positive.")
        jobs.append(Job(name=name, task=entry["task"], every=every))
    return jobs


def enabled() -> bool:
    """Whether `omnishop serve` runs the scheduler in its workers."""
    mode = settings.OMNISHOP_SCHEDULER
    return mode == "on" or (mode == "auto" and not settings.REDIS_URL)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def resolve(task: str):
    module, _, attribute = task.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def claim(job: Job, *, now: datetime, owner: str) -> bool:
    """Take the job's run due at `now` for this process, or learn that it is not due or taken."""
    try:
        with transaction.atomic():
            # A job seen for the first time runs one interval from now, as under Celery beat.
            ScheduledJob.objects.get_or_create(
                name=job.name, defaults={"task": job.task, "next_run_at": now + job.every}
            )
    except IntegrityError:  # another process created the row at the same moment
        pass
    taken = ScheduledJob.objects.filter(name=job.name, next_run_at__lte=now).update(
        next_run_at=now + job.every, last_started_at=now, last_owner=owner, task=job.task
    )
    return taken == 1


def run_due(
    *, now: datetime | None = None, schedule: Mapping[str, Mapping] | None = None, owner: str | None = None
) -> list[str]:
    """Run every job that is due and that no other process has claimed; returns the names run here."""
    now = now or timezone.now()
    owner = owner or owner_name()
    ran = []
    for job in jobs_from(settings.CELERY_BEAT_SCHEDULE if schedule is None else schedule):
        if not claim(job, now=now, owner=owner):
            continue
        ran.append(job.name)
        error = ""
        try:
            resolve(job.task)()
        except Exception:
            error = traceback.format_exc(limit=20)
            log.exception("Scheduled job %s failed; it runs again at its next interval.", job.name)
        counter = "failures" if error else "runs"
        ScheduledJob.objects.filter(name=job.name).update(
            last_finished_at=timezone.now(), last_error=error, **{counter: F(counter) + 1}
        )
    return ran


class SchedulerThread(threading.Thread):
    """Ticks run_due every `tick` seconds until stopped; its own database connection, closed each tick."""

    def __init__(self, *, tick: float | None = None, schedule: Mapping[str, Mapping] | None = None) -> None:
        super().__init__(name="omnishop-scheduler", daemon=True)
        self.tick = settings.OMNISHOP_SCHEDULER_TICK if tick is None else tick
        self.schedule = schedule
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                close_old_connections()
                run_due(schedule=self.schedule)
            except Exception:  # the database is away, say: try again at the next tick
                log.exception("Scheduler tick failed.")
            finally:
                connections.close_all()
            self.stopped.wait(self.tick)

    def stop(self, timeout: float | None = 10) -> None:
        self.stopped.set()
        self.join(timeout)
