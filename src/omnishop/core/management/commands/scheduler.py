"""`omnishop scheduler`: run the periodic jobs (CELERY_BEAT_SCHEDULE) without Celery beat.

`omnishop serve` already does this in its workers when there is no Redis; this command is for a separate
process, or for cron with `--once`. Safe beside any number of other schedulers on the same database.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from omnishop.core import scheduler


class Command(BaseCommand):
    help = "Run the periodic jobs in-process (each due job once across all schedulers on this database)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run the jobs that are due now, then exit.")
        parser.add_argument(
            "--tick", type=float, default=None, help="Seconds between checks (default: setting)."
        )

    def handle(self, *args, **options):
        if options["once"]:
            ran = scheduler.run_due()
            self.stdout.write(f"ran {len(ran)} job(s): {', '.join(ran) or 'none due'}")
            return
        thread = scheduler.SchedulerThread(tick=options["tick"])
        thread.start()
        try:
            thread.join()
        except KeyboardInterrupt:
            thread.stop()
