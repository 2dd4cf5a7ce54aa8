"""`omnishop import PROFILE FILE…`: import files through a profile, with a progress bar (rows/s, ETA).

omnishop import online_retail var/inbox/online_retail_2011-0*.csv.gz --channel web
omnishop import --list                      # the profiles and what they import
omnishop import --rerun 42                  # run job 42's stored file again (finish a killed job)
"""

from __future__ import annotations

import gzip
import os

from django.core.management.base import BaseCommand, CommandError

from omnishop.core.errors import DomainError


def _estimate_rows(path: str) -> int | None:
    """A cheap row estimate for the ETA: file size / average line length of the first 64 KiB."""
    try:
        size = os.path.getsize(path)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            sample = handle.read(65536)
        lines = sample.count(b"\n") or 1
        ratio = 4.0 if path.endswith(".gz") else 1.0  # typical CSV gzip ratio
        return int(size * ratio / (len(sample) / lines)) if sample else None
    except OSError:
        return None


class Command(BaseCommand):
    help = "Import files through a data hub profile (omnishop import --list shows the profiles)."

    def add_arguments(self, parser):
        parser.add_argument("profile", nargs="?")
        parser.add_argument("files", nargs="*")
        parser.add_argument(
            "--channel", help="Channel code the data belongs to (needed for customers and prices)."
        )
        parser.add_argument("--list", action="store_true", help="List the import profiles.")
        parser.add_argument("--rerun", type=int, help="Run the stored file of this job id again.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        from rich.console import Console
        from rich.table import Table

        from omnishop.datahub import services
        from omnishop.datahub.models import ImportJob
        from omnishop.datahub.profiles import list_profiles

        console = Console(stderr=False)
        if options["list"]:
            table = Table("profile", "target", "title")
            for profile in list_profiles():
                table.add_row(profile.name, profile.target, profile.title)
            console.print(table)
            return
        try:
            channel = None
            if options["channel"]:
                from omnishop.channels.services import get_channel

                channel = get_channel(options["channel"])
            if options["rerun"]:
                old = ImportJob.objects.filter(pk=options["rerun"]).first()
                if old is None:
                    raise CommandError(f"No import job {options['rerun']}.")
                jobs = [self._run(services, services.rerun_import(job=old), old.source_path, options)]
            else:
                if not options["profile"] or not options["files"]:
                    raise CommandError("Usage: omnishop import PROFILE FILE… (or --list)")
                jobs = []
                for path in options["files"]:
                    if not os.path.isfile(path):
                        raise CommandError(f"No such file: {path}")
                    with open(path, "rb") as handle:
                        job = services.start_import(
                            profile=options["profile"],
                            stream=handle,
                            filename=os.path.basename(path),
                            channel=channel,
                        )
                    jobs.append(self._run(services, job, path, options))
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        table = Table(
            "job", "file", "status", "read", "imported", "updated", "unchanged", "merged", "quarantined", "s"
        )
        failed = False
        for job in jobs:
            failed |= job.status != ImportJob.Status.SUCCEEDED
            table.add_row(
                str(job.pk),
                job.source_name,
                job.status + (f" ({job.error_code})" if job.error_code else ""),
                *(
                    str(getattr(job, n))
                    for n in ("rows_read", "imported", "updated", "unchanged", "merged", "quarantined")
                ),
                f"{job.duration_seconds or 0:.1f}",
            )
        console.print(table)
        for job in jobs:
            if job.error_message:
                console.print(f"[red]import #{job.pk}: {job.error_code}: {job.error_message}[/red]")
            for entry in (job.quality or {}).get("rejects_by_reason", [])[:10]:
                console.print(
                    f"  #{job.pk} quarantined {entry['count']} × {entry['reason']} (e.g. line {entry['sample_lines'][:3]})"
                )
        if failed:
            raise CommandError("At least one import failed; rows committed before the failure are kept.")

    def _run(self, services, job, path, options):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if options["no_progress"]:
            return services.run_import(job=job)
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} rows/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(os.path.basename(path), total=_estimate_rows(path), rate=0.0)

            def tick(current):
                elapsed = progress.tasks[task].elapsed or 1e-9
                total = progress.tasks[task].total
                if total is not None and current.rows_read > total:
                    total = None
                progress.update(
                    task, completed=current.rows_read, total=total, rate=current.rows_read / elapsed
                )

            job = services.run_import(job=job, progress=tick)
            progress.update(task, completed=job.rows_read, total=job.rows_read)
        return job
