"""`omnishop import PROFILE FILE…`: import files through a profile, with a progress bar (rows/s, ETA).

omnishop import online_retail var/inbox/online_retail_2011-0*.csv.gz --channel web
omnishop import --list                      # the profiles and what they import
omnishop import --rerun 42                  # run job 42's stored file again (finish a killed job)
omnishop import woocommerce_products fork.csv --channel fork --sku-map fork-skus.csv
                                            # the channel's SKUs that differ: channel_sku,catalog_sku
omnishop import check shopify_products new-store.csv --channel web   # dry run: mapping, unknown
                                            # columns, rows that would be quarantined; writes nothing
"""

from __future__ import annotations

import gzip
import json
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
        parser.add_argument("--limit", type=int, default=10_000, help="check: rows to try (default 10,000).")
        parser.add_argument("--json", action="store_true", help="check: print the report as JSON.")
        parser.add_argument(
            "--sku-map",
            help="CSV of channel_sku,catalog_sku: the channel's SKUs that name catalogue variants.",
        )

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
            job_options = None
            if options["sku_map"]:
                from pathlib import Path

                from omnishop.datahub.targets.variant_match import read_sku_map_file

                job_options = {"target": {"sku_map": read_sku_map_file(Path(options["sku_map"]))}}
            if options["profile"] == "check":
                if len(options["files"]) != 2:
                    raise CommandError("Usage: omnishop import check PROFILE FILE [--channel CODE]")
                profile, path = options["files"]
                report = services.check_import(
                    profile=profile, path=path, channel=channel, limit=options["limit"], options=job_options
                )
                if options["json"]:
                    self.stdout.write(json.dumps(report, indent=2, default=str))
                else:
                    print_check(console, report)
                return
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
                            options=job_options,
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


def print_check(console, report: dict) -> None:
    """The dry run's report as a person reads it: the mapping of the first rows, then what would happen."""
    from rich.table import Table

    console.print(
        f"[bold]{report['file']}[/bold] through [bold]{report['profile']}[/bold] ({report['target']}): "
        f"{report['format']}, {report['encoding']}, {report['rows_checked']} rows checked"
        + (" (stopped at --limit)" if report["stopped_at_limit"] else "")
        + " — nothing was written."
    )
    if report["error"]:
        console.print(
            f"[red]the import would fail: {report['error']['code']}: {report['error']['message']}[/red]"
        )
    for row in report["first_rows"]:
        table = Table("field", "column", "read", "value", title=f"line {row['line']}", title_justify="left")
        for entry in row["fields"]:
            table.add_row(entry["field"], entry["column"], entry["read"], entry["value"])
        console.print(table)
        for reason in row["reasons"]:
            console.print(
                f"  [yellow]{reason.get('field') or '*'}: {reason['code']}: {reason['message']}[/yellow]"
            )
    would = report["would"]
    console.print("would be: " + ", ".join(f"{name} {count}" for name, count in would.items()))
    if report["unknown_columns"]:
        console.print("columns no field reads (not imported): " + ", ".join(report["unknown_columns"]))
    if report["missing_optional_columns"]:
        console.print("optional columns missing: " + ", ".join(report["missing_optional_columns"]))
    repaired = report["mojibake_repaired"] or {}
    if repaired.get("rows"):
        console.print(f"rows with mojibake repaired: {repaired['rows']}")
    filtered = report.get("filtered") or {}
    if filtered.get("rows"):
        from rich.markup import escape

        console.print(
            f"rows left out by the profile's filter ({escape(filtered['rule'])}): {filtered['rows']}"
        )
    if report.get("variant_matches"):
        table = Table("line", "SKU", "how", "variant", title="variants matched across channels")
        for case in report["variant_matches"]:
            table.add_row(
                str(case["line"]), case["sku"], case["how"], case["variant_sku"] or "(kept its own)"
            )
        console.print(table)
    if report["quarantined"]:
        table = Table("line", "why", "already in quarantine", title="rows that would be quarantined")
        for entry in report["quarantined"]:
            why = "; ".join(f"{r.get('field') or '*'}: {r['code']}: {r['message']}" for r in entry["reasons"])
            seen = f"#{entry['already_in_quarantine']}" if entry["already_in_quarantine"] else ""
            table.add_row(str(entry["line"]) if entry["line"] else "end of run", why, seen)
        console.print(table)
