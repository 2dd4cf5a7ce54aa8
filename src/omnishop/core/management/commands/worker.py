"""`omnishop worker`: a Celery worker for background jobs on REDIS_URL (`--beat` adds the scheduler).

Without REDIS_URL jobs already run in-process (eager), so a worker would have nothing to consume: the
command refuses with an explanation instead of silently listening to an in-memory broker.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run a Celery worker for Omnishop's background jobs (needs REDIS_URL)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--beat", action="store_true", help="Also run the periodic scheduler (only one per deployment)."
        )
        parser.add_argument(
            "--concurrency", type=int, default=None, help="Worker processes (default: one per CPU core)."
        )
        parser.add_argument(
            "--queues",
            default=None,
            help="Comma-separated queues to consume: checkout, delivery, imports, training, default "
            "(default: all; one worker per queue in production, ADR 0031).",
        )
        parser.add_argument("--loglevel", default="info")
        parser.add_argument(
            "--pool", default=None, choices=["prefork", "solo", "threads"], help="Celery execution pool."
        )

    def handle(self, *args, **options):
        if not settings.REDIS_URL:
            raise CommandError(
                "REDIS_URL is not set, so background jobs run in-process and a worker has nothing to do. "
                "Set REDIS_URL (e.g. redis://127.0.0.1:6379/0) for the web server and the worker."
            )
        from omnishop.celery import app

        app.worker_main(celery_argv(options))


def celery_argv(options: dict) -> list[str]:
    """The `celery worker` command line for these options (separate so tests can check it)."""
    argv = ["worker", "--loglevel", options["loglevel"]]
    if options.get("beat"):
        schedule = settings.VAR_DIR / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(schedule)]
    if options.get("concurrency"):
        argv += ["--concurrency", str(options["concurrency"])]
    if options.get("queues"):
        argv += ["--queues", options["queues"]]
    if options.get("pool"):
        argv += ["--pool", options["pool"]]
    return argv
