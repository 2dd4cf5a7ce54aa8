"""Data hub operations: start an import (from an upload, a server path or the CLI), run or resume it,
look at and fix its quarantine, read its data-quality report, decide identity-resolution candidates.

Imports are jobs: `start_import` stores the file and creates the job; `run_import` (directly, or through
the Celery task for big files) streams it through its profile. Every count lives on the job row.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from omnishop.core.errors import ValidationFailed

from . import engine
from .errors import (
    FileTooLarge,
    JobNotFound,
    JobNotRunnable,
    PathNotAllowed,
    QuarantineRowClosed,
    QuarantineRowNotFound,
)
from .models import ImportJob, MatchCandidate, QuarantinedRow, QuarantineSighting
from .profiles import get_profile
from .targets import target_for
from .targets.variant_match import check_job_options


def _upload_dir() -> Path:
    path = Path(settings.OMNISHOP_DATAHUB_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store(stream: BinaryIO, name: str) -> tuple[Path, int, str]:
    """Copy an upload to the job store in chunks (never in memory), enforcing the size limit."""
    limit = int(settings.OMNISHOP_DATAHUB_MAX_UPLOAD_BYTES)
    suffix = "".join(Path(name).suffixes)[-20:]
    target = _upload_dir() / f"{uuid.uuid4().hex}{suffix}"
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise FileTooLarge(f"The file is larger than {limit} bytes.", field="file", limit=limit)
            digest.update(chunk)
            out.write(chunk)
    return target, size, digest.hexdigest()


def start_import(
    *,
    profile: str,
    stream: BinaryIO,
    filename: str,
    channel=None,
    user=None,
    api_key=None,
    options: dict | None = None,
) -> ImportJob:
    """Store the file and create a pending job for it (run it with `run_import` or `enqueue_import`)."""
    get_profile(profile)  # unknown profile: fail before storing anything
    path, size, digest = _store(stream, filename)
    return ImportJob.objects.create(
        profile=profile,
        channel=channel,
        source_name=Path(filename).name[:500],
        source_path=str(path),
        source_size=size,
        source_sha256=digest,
        created_by=user if getattr(user, "pk", None) else None,
        api_key=api_key,
        options=_check_options(options or {}),
        format=(options or {}).get("format", "") if options else "",
    )


def _check_options(options: dict) -> dict:
    allowed = {"reader", "target", "format"}
    unknown = set(options) - allowed
    if unknown:
        raise ValidationFailed(f"Unknown import option(s): {', '.join(sorted(unknown))}.", field="options")
    target = options.get("target")
    if target is not None:
        if not isinstance(target, dict):
            raise ValidationFailed("options.target must be a JSON object.", field="options")
        check_job_options(target)  # an inline SKU map, checked now; never a server path
    return options


def start_server_import(
    *, profile: str, path: str, channel=None, user=None, options: dict | None = None
) -> ImportJob:
    """Staff import of a file already on the server, restricted to OMNISHOP_DATAHUB_IMPORT_ROOTS (no path tricks)."""
    real = Path(os.path.realpath(path))
    roots = [Path(os.path.realpath(r)) for r in settings.OMNISHOP_DATAHUB_IMPORT_ROOTS]
    if not any(real == root or root in real.parents for root in roots):
        raise PathNotAllowed(field="path")
    if not real.is_file():
        raise ValidationFailed("There is no file at this path.", field="path")
    with open(real, "rb") as handle:
        return start_import(
            profile=profile, stream=handle, filename=real.name, channel=channel, user=user, options=options
        )


def import_files(
    *,
    profile: str,
    paths: Iterable[str | Path],
    channel=None,
    user=None,
    options: dict | None = None,
    progress=None,
) -> list[ImportJob]:
    """The CLI's path: one job per file, run now, in this process."""
    jobs = []
    for path in paths:
        with open(path, "rb") as handle:
            job = start_import(
                profile=profile,
                stream=handle,
                filename=Path(path).name,
                channel=channel,
                user=user,
                options=options,
            )
        jobs.append(run_import(job=job, progress=progress))
    return jobs


def check_import(
    *, profile: str, path: str | Path, channel=None, limit: int = 10_000, options: dict | None = None
) -> dict:
    """Dry run (`omnishop import check`): how the file would map and what would be quarantined; every
    write is rolled back."""
    from .check import check_file

    if not Path(path).is_file():
        raise ValidationFailed("There is no file at this path.", field="path")
    return check_file(profile=profile, path=path, channel=channel, limit=limit, options=options)


def run_import(*, job: ImportJob, progress=None, resume: bool = False) -> ImportJob:
    """Run a pending job (or resume a failed/interrupted one after its last committed line).

    The runner takes the job with a lease (`OMNISHOP_DATAHUB_LEASE_SECONDS`) that every batch renews. A
    running job is resumed only once its lease has run out: a second delivery of the job while its first
    runner is alive (a broker's visibility timeout shorter than the import) is refused with
    `import_job_not_runnable` and `retry_after`, instead of importing the file twice at once."""
    now = timezone.now()
    may_claim = Q(status=ImportJob.Status.PENDING)
    if resume:
        may_claim |= Q(status=ImportJob.Status.FAILED) | Q(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now), status=ImportJob.Status.RUNNING
        )
    claimed = ImportJob.objects.filter(may_claim, pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        lease_owner=engine.lease_owner(),
        lease_until=engine.lease_deadline(now),
    )
    job.refresh_from_db()
    if not claimed:
        if job.status == ImportJob.Status.RUNNING and job.lease_until is not None and job.lease_until >= now:
            wait = (job.lease_until - now).total_seconds()
            raise JobNotRunnable(
                f"Import #{job.pk} is running; its runner holds it until {job.lease_until.isoformat()}.",
                status_now=job.status,
                retry_after=max(1, int(wait) + 1),
            )
        raise JobNotRunnable(f"Import #{job.pk} is {job.status}.", status_now=job.status)
    return engine.run_job(job, progress=progress, resume=resume)


def enqueue_import(*, job: ImportJob) -> ImportJob:
    """Hand the job to the background worker (Celery); without Redis it runs at once, in-process. Sent after
    the job's row commits, so a worker never looks for a job it cannot see yet (inside a transaction the job
    stays pending until that transaction commits)."""
    from .tasks import run_import_job

    pk = job.pk
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        run_import_job.delay(pk)  # in this process, on this connection: it sees the row already
    else:
        transaction.on_commit(lambda: run_import_job.delay(pk))  # a worker elsewhere sees committed rows only
    job.refresh_from_db()
    return job


def rerun_import(*, job: ImportJob, user=None) -> ImportJob:
    """A fresh job over the same stored file: safe at any time, natural keys make it a no-op for rows that
    already made it (the way to finish a job that was killed halfway)."""
    if not Path(job.source_path).is_file():
        raise JobNotRunnable("The stored file of this job is gone; upload it again.")
    with open(job.source_path, "rb") as handle:
        return start_import(
            profile=job.profile,
            stream=handle,
            filename=job.source_name,
            channel=job.channel,
            user=user,
            options=job.options,
        )


# --- reading jobs ---------------------------------------------------------------------------------------


def jobs_visible_to(principal) -> QuerySet[ImportJob]:
    qs = ImportJob.objects.select_related("channel")
    if principal.kind == "channel":
        return qs.filter(channel=principal.channel)
    return qs


def get_job(*, principal, job_id: int) -> ImportJob:
    job = jobs_visible_to(principal).filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(field="job_id")
    return job


def quarantine_of(*, job: ImportJob) -> QuerySet[QuarantinedRow]:
    """The quarantined rows a job met: those it opened and those already waiting that it saw again."""
    seen = QuarantineSighting.objects.filter(job=job).values("row_id")
    return QuarantinedRow.objects.filter(Q(job=job) | Q(pk__in=seen)).annotate(
        seen_again=Count("sightings"), last_seen_by_job=Max("sightings__job")
    )


def quality_report(*, job: ImportJob) -> dict:
    """The job's data-quality report: completeness per field, duplicates, rejects by reason, merges."""
    report = dict(job.quality or {})
    report.update(
        {
            "job": job.pk,
            "profile": job.profile,
            "status": job.status,
            "counts": counts_of(job),
            "open_quarantine": quarantine_of(job=job).filter(status=QuarantinedRow.Status.OPEN).count(),
        }
    )
    return report


def counts_of(job: ImportJob) -> dict:
    return {name: getattr(job, name) for name in ("rows_read", *engine.OUTCOMES, "queued_for_review")}


def overall_quality(*, principal) -> dict:
    """All jobs together: totals, rejects by reason across jobs, open quarantine, review queue."""
    from collections import Counter

    jobs = jobs_visible_to(principal)
    totals: Counter = Counter()
    reasons: Counter = Counter()
    for job in jobs.select_related(None).only(
        "rows_read",
        "imported",
        "updated",
        "unchanged",
        "merged",
        "quarantined",
        "queued_for_review",
        "quality",
    ):
        totals.update(counts_of(job))
        for entry in (job.quality or {}).get("rejects_by_reason", []):
            reasons[entry["reason"]] += entry["count"]
    return {
        "jobs": jobs.count(),
        "counts": dict(totals),
        "rejects_by_reason": [{"reason": r, "count": c} for r, c in reasons.most_common()],
        "open_quarantine": QuarantinedRow.objects.filter(
            job__in=jobs, status=QuarantinedRow.Status.OPEN
        ).count(),
        "review_queue": MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN).count(),
    }


# --- quarantine -----------------------------------------------------------------------------------------


def get_quarantined_row(*, principal, row_id: int) -> QuarantinedRow:
    row = (
        QuarantinedRow.objects.filter(pk=row_id, job__in=jobs_visible_to(principal))
        .select_related("job")
        .first()
    )
    if row is None:
        raise QuarantineRowNotFound(field="row_id")
    return row


def resubmit_quarantined(
    *, row: QuarantinedRow, values: dict | None = None, user=None
) -> tuple[QuarantinedRow, ImportJob]:
    """Re-run one quarantined row, as is or with `values` fixed (column -> text), through its profile in a
    small job of its own. If it imports, the quarantined row is resolved; if not, the new reasons are
    returned on a new quarantined row of the small job, and the original stays open."""
    if row.status != QuarantinedRow.Status.OPEN:
        raise QuarantineRowClosed(field="row_id")
    raw = {**row.raw, **{str(k): ("" if v is None else str(v)) for k, v in (values or {}).items()}}
    raw.pop("_raw", None) if values else None
    origin = row.job
    job = ImportJob.objects.create(
        profile=origin.profile,
        channel=origin.channel,
        source_name=f"resubmit of row {row.line} of import #{origin.pk}",
        created_by=user if getattr(user, "pk", None) else None,
        options=origin.options,
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
    )
    profile = get_profile(
        origin.profile, country=origin.channel.country if origin.channel is not None else None
    )
    runner = engine.Runner(job, profile, target_for(profile, job))
    data: dict[str, Any]
    if "_raw" in raw:
        data, reasons = {}, list(row.reasons)
    else:
        data, reasons = profile.apply(raw)
    with transaction.atomic():
        if reasons:
            runner.write(
                [],
                [QuarantinedRow(job=job, line=row.line, raw=raw, reasons=reasons)],
                read=1,
                last_line=row.line,
            )
        else:
            prepared = engine.Prepared(row.line, raw, data, resubmitted_from=row.pk)
            runner.write([prepared], [], read=1, last_line=row.line)
        runner.target.finish()
        job.refresh_from_db()
        job.status = ImportJob.Status.SUCCEEDED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        if job.quarantined == 0:
            row.status = QuarantinedRow.Status.RESOLVED
            row.resolved_by_job = job
            row.raw = raw
            row.save(update_fields=["status", "resolved_by_job", "raw"])
    return row, job


def discard_quarantined(*, row: QuarantinedRow) -> QuarantinedRow:
    if row.status != QuarantinedRow.Status.OPEN:
        raise QuarantineRowClosed(field="row_id")
    row.status = QuarantinedRow.Status.DISCARDED
    row.save(update_fields=["status"])
    return row


# --- identity-resolution review queue -------------------------------------------------------------------


def match_candidates(*, entity: str | None = None, status: str = MatchCandidate.Status.OPEN):
    """The review queue (or its decided part), best score first."""
    qs = MatchCandidate.objects.filter(status=status)
    return qs.filter(entity=entity) if entity else qs


def get_match_candidate(*, candidate_id: int) -> MatchCandidate:
    candidate = MatchCandidate.objects.filter(pk=candidate_id).first()
    if candidate is None:
        raise ValidationFailed("No such candidate.", field="candidate_id")
    return candidate


def decide_match(*, candidate: MatchCandidate, merge: bool, user=None) -> MatchCandidate:
    """Staff decision on a look-alike pair: merge (customers through the customers merge service, products
    through `product_merges.merge_products`, undoable) or keep apart (never proposed again)."""
    if candidate.status != MatchCandidate.Status.OPEN:
        raise QuarantineRowClosed("This candidate was already decided.", field="candidate_id")
    with transaction.atomic():
        if merge and candidate.entity == "customer":
            from omnishop.customers.models import Customer
            from omnishop.customers.services import merge_customers

            merge_customers(
                survivor=Customer.objects.get(pk=candidate.left_id),
                merged=Customer.objects.get(pk=candidate.right_id),
                actor=user if getattr(user, "pk", None) else None,
                actor_label="datahub review",
                reason="; ".join(candidate.reasons)[:500],
                score=candidate.score,
            )
        if merge and candidate.entity == "product":
            from omnishop.catalog.models import Product

            from .product_merges import merge_products

            products = Product.objects.in_bulk([candidate.left_id, candidate.right_id])
            if len(products) != 2:
                raise ValidationFailed("One of the two products no longer exists.", field="candidate_id")
            merge_products(
                keep=products[candidate.left_id],
                merged=products[candidate.right_id],
                score=candidate.score,
                reasons=candidate.reasons,
                candidate=candidate,
                user=user,
            )
        candidate.status = MatchCandidate.Status.MERGED if merge else MatchCandidate.Status.REJECTED
        candidate.decided_by = user if getattr(user, "pk", None) else None
        candidate.decided_at = timezone.now()
        candidate.save(update_fields=["status", "decided_by", "decided_at"])
    return candidate


def write_temp_copy(data: bytes, suffix: str) -> Path:
    """For tests and the API: a bytes payload as a file in the upload folder."""
    handle = tempfile.NamedTemporaryFile(dir=_upload_dir(), suffix=suffix, delete=False)  # noqa: SIM115
    with handle:
        handle.write(data)
    return Path(handle.name)


__all__ = [
    "check_import",
    "decide_match",
    "discard_quarantined",
    "enqueue_import",
    "get_job",
    "get_match_candidate",
    "import_files",
    "match_candidates",
    "quality_report",
    "rerun_import",
    "resubmit_quarantined",
    "run_import",
    "start_import",
    "start_server_import",
]
