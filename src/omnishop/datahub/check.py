"""`omnishop import check PROFILE FILE`: a dry run of a file through a profile. It answers what a merchant
asks before importing a file nobody has seen: how do the first rows map, which columns does the profile
not read, which rows would be quarantined and why — and writes nothing.

The file goes through the real engine and target (so a target's own rules — an unknown SKU, a line no
product will come for, a row already waiting in quarantine — are predicted, not guessed) inside one
database transaction that is rolled back at the end, job row included. Only database sequences advance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction

from . import engine
from .errors import SourceError
from .models import ImportJob, QuarantinedRow, QuarantineSighting
from .profiles import get_profile
from .targets import target_for

MAX_LISTED = 50  # quarantined rows listed in the report (all are counted)


def check_file(
    *, profile: str, path: str | Path, channel=None, limit: int = 10_000, options: dict | None = None
) -> dict[str, Any]:
    """Run the first `limit` rows of `path` through `profile` and report, rolling every write back."""
    spec = get_profile(profile, country=channel.country if channel is not None else None)
    path = Path(path)
    with transaction.atomic():
        job = ImportJob.objects.create(
            profile=spec.name,
            channel=channel,
            source_name=path.name[:500],
            source_path=str(path),
            options=options or {},
            status=ImportJob.Status.RUNNING,
        )
        runner = engine.Runner(job, spec, target_for(spec, job))
        error = None
        try:
            runner.run(path, limit=limit)
        except SourceError as exc:
            error = {"code": exc.code, "message": exc.message}
        job.quality = runner.stats.report(job)
        report = _report(job, spec, runner, error)
        transaction.set_rollback(True)
    return report


def _report(job: ImportJob, spec, runner, error: dict | None) -> dict[str, Any]:
    quality = job.quality
    first = []
    for row in runner.first_rows:
        if row.problem is not None:
            data, reasons = {}, [row.problem.as_dict()]
        else:
            data, reasons = spec.apply(row.values)
        first.append(
            {
                "line": row.line,
                "fields": [
                    {
                        "field": field.name,
                        "column": next((c for c in field.columns if c in row.values), ""),
                        "read": _show(next((row.values[c] for c in field.columns if c in row.values), "")),
                        "value": _show(data.get(field.name)),
                    }
                    for field in spec.fields
                ],
                "reasons": reasons,
            }
        )
    opened = QuarantinedRow.objects.filter(job=job).order_by("line", "pk")
    seen = QuarantineSighting.objects.filter(job=job).select_related("row").order_by("line", "pk")
    quarantined = [
        {"line": row.line, "reasons": row.reasons, "already_in_quarantine": None}
        for row in opened[:MAX_LISTED]
    ]
    quarantined += [
        {"line": s.line, "reasons": s.row.reasons, "already_in_quarantine": s.row_id}
        for s in seen[: max(0, MAX_LISTED - len(quarantined))]
    ]
    quarantined.sort(key=lambda entry: entry["line"])
    return {
        "profile": spec.name,
        "target": spec.target,
        "file": job.source_name,
        "format": job.format,
        "encoding": job.encoding,
        "error": error,
        "rows_checked": job.rows_read,
        "stopped_at_limit": runner.stopped_at_limit,
        "would": {name: getattr(job, name) for name in engine.OUTCOMES},
        "unknown_columns": quality.get("unknown_columns", []),
        "missing_optional_columns": quality.get("missing_optional_columns", []),
        "mojibake_repaired": quality.get("mojibake_repaired"),
        "filtered": quality.get("filtered"),  # rows the profile's `filter` leaves out
        "rejects_by_reason": quality.get("rejects_by_reason", []),
        "first_rows": first,
        "quarantined": quarantined,
        # products: which of the channel's SKUs would land on which variant (option values, SKU map)
        "variant_matches": runner.target.report().get("variant_matches", [])[:MAX_LISTED],
    }


def _show(value: Any) -> str:
    if value is None:
        return ""
    text = (
        value if isinstance(value, str) else repr(value) if isinstance(value, set | frozenset) else str(value)
    )
    return text if len(text) <= 120 else text[:117] + "..."
