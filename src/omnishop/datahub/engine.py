"""The import engine: stream a file through a profile into a target, batch by batch, with the job's
accounting kept exact (read = imported + updated + unchanged + merged + quarantined) and committed with
each batch, so a job that dies halfway has lost nothing it reported and can simply be run again.

One batch = one transaction: the target's writes, the quarantined rows and the job's counters. A
`SourceError` (truncated gzip, zip bomb, unsafe XML) fails the job with a clear code; what earlier
batches committed stays.
"""

from __future__ import annotations

import gc
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from hashlib import blake2b
from itertools import chain, islice, repeat
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from omnishop.core import outbox

from .errors import SourceError
from .models import ImportJob, QuarantinedRow, QuarantineSighting
from .profiles import Profile, get_profile
from .readers import SourceRow, columns_of, open_source
from .targets import target_for
from .targets.base import (  # the row types live with the targets (which never import the engine)
    IMPORTED,
    MERGED,
    OUTCOMES,
    QUARANTINED,
    UNCHANGED,
    UPDATED,
    Prepared,
    content_hash,
)

# --- the runner's lease on its job ------------------------------------------------------------------------


class LeaseLost(Exception):
    """Another runner took the job over (this one's lease ran out unrenewed): stop, writing nothing more."""


def lease_owner() -> str:
    """Who runs a job: host, process and a fresh token (a process that runs the job again is another run)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def lease_deadline(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=settings.OMNISHOP_DATAHUB_LEASE_SECONDS)


# What a batch changes on its job.
_PROGRESS_FIELDS = [*OUTCOMES, "rows_read", "last_line", "entity_counts", "queued_for_review"]


def hold_lease(job: ImportJob) -> None:
    """Renew the runner's lease, first thing in a transaction that writes for the job: the renewal locks the
    job's row until that transaction ends, so a runner that wants to take the job over waits for it and then
    sees the renewed lease. No-op for a job run without a lease (the dry run, direct engine calls)."""
    save_job(job, [])


def save_job(job: ImportJob, fields: list[str], *, release: bool = False) -> None:
    """Save `fields` of the job, renewing the lease (`release`: ending it), as long as the lease is this
    runner's: one UPDATE either way (none for no fields and no lease)."""
    if not job.lease_owner:
        if fields:
            job.save(update_fields=fields)
        return
    job.lease_until = None if release else lease_deadline()
    values = {name: getattr(job, name) for name in fields}
    values["lease_until"] = job.lease_until
    if not ImportJob.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(**values):
        raise LeaseLost(f"Import #{job.pk} was taken over by another runner.")


# Exact-duplicate detection keeps one hash per distinct row (~70 bytes each): exact up to a million rows per
# job, then reported as not exact — a 1M-line file must not cost 350 MB of RSS for one statistic.
MAX_DUPLICATE_TRACKING = 1_000_000
FIRST_ROWS = 5


def raw_json(values: dict) -> dict:
    """The row as read, JSON-safe (XLSX/Parquet cells may be numbers or datetimes)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, datetime | date):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal | float):
            out[key] = str(value)
        elif isinstance(value, str):
            out[key] = value.encode("utf-8", "replace").decode("utf-8")[:10000]
        else:
            out[key] = value
    return out


class QualityStats:
    """Per-job data-quality figures: completeness per field, exact duplicate rows, rejects by reason."""

    def __init__(self, profile: Profile) -> None:
        self.fields = [f.name for f in profile.fields]
        self.shapes: Counter = Counter()
        self.rows = 0
        self.reasons: Counter = Counter()
        self.samples: dict[str, list[int]] = {}
        self.seen: set[int] = set()
        self.duplicates = 0
        self.tracking = True
        self.missing_optional_columns: list[str] = []
        self.unknown_columns: list[str] = []
        self.mojibake_rows = 0
        self.mojibake_examples: list[dict] = []
        self.filter_rule = profile.row_filter.describe() if profile.row_filter else None
        self.filtered = 0  # rows the profile's `filter` left out: not read into the job
        self.recognised = 0  # rows met again as staged before: counted unchanged, not cleaned

    def observe(self, row: SourceRow, data: dict, reasons: list[dict], digest: int | None = None) -> None:
        # Rows of a file share a handful of fill patterns: count the pattern (the cleaned fields, in plan
        # order), and spread it over the fields once, in `report`.
        self.shapes[tuple(data)] += 1
        self.observe_read(row, digest)
        if reasons:
            self.count_reasons(reasons, row.line)

    def observe_known(self, rows: list[SourceRow], digests: list[int]) -> None:
        """Rows met again exactly as they were staged: read (duplicates, mojibake) but not cleaned. Counted a
        batch at a time: their digests are their keys, so a set's growth counts the new ones."""
        count = len(rows)
        self.recognised += count
        seen = self.seen
        if not self.tracking or len(seen) + count > MAX_DUPLICATE_TRACKING:
            for row, digest in zip(rows, digests, strict=True):
                self.observe_read(row, digest)  # where tracking stops, a row at a time
            return
        self.rows += count
        before = len(seen)
        seen.update(digests)
        self.duplicates += count - (len(seen) - before)
        for row in rows:
            if row.repaired is not None:
                self.observe_repaired(row)

    def observe_read(self, row: SourceRow, digest: int | None = None) -> None:
        """`digest`: the row's raw digest when the job computed one (`Runner.digests`: the cells and column
        names, hashed to 64 bits) — equal rows have equal digests, so it serves as their key here too."""
        self.rows += 1
        if self.tracking:
            if digest is not None:
                key = digest
            else:
                values = row.values
                try:
                    key = hash(tuple(values.values()))
                except TypeError:  # JSON records can hold lists
                    key = hash(tuple(map(str, values.values())))
            seen = self.seen
            if key in seen:
                self.duplicates += 1
            else:
                seen.add(key)
                if len(seen) > MAX_DUPLICATE_TRACKING:
                    self.tracking = False
                    seen.clear()
        if row.repaired is not None:
            self.observe_repaired(row)

    def observe_repaired(self, row: SourceRow) -> None:
        self.mojibake_rows += 1
        if len(self.mojibake_examples) < 5:
            self.mojibake_examples.extend(
                {"line": row.line, "column": column, "read": before, "repaired": after}
                for column, before, after in (row.repaired or [])[:2]
            )

    def count_reasons(self, reasons: list[dict], line: int) -> None:
        for reason in reasons:
            label = f"{reason.get('field') or '*'}:{reason['code']}"
            self.reasons[label] += 1
            lines = self.samples.setdefault(label, [])
            if len(lines) < 5:
                lines.append(line)

    @property
    def filled(self) -> Counter:
        """Rows per cleaned field that had a value."""
        filled: Counter = Counter()
        for shape, rows in self.shapes.items():
            for name in shape:
                filled[name] += rows
        return filled

    def report(self, job: ImportJob) -> dict:
        cleaned = self.rows - self.recognised
        filled = self.filled
        return {
            "rows": self.rows,
            # Over the rows cleaned by this job (none when every row was met again unchanged).
            "completeness": {name: round(filled[name] / cleaned, 4) for name in self.fields}
            if cleaned
            else {},
            "recognised_unchanged": self.recognised,
            "duplicate_rows": self.duplicates,
            "duplicates_exact": self.tracking,
            "rejects_by_reason": [
                {"reason": label, "count": count, "sample_lines": self.samples.get(label, [])}
                for label, count in self.reasons.most_common()
            ],
            "missing_optional_columns": self.missing_optional_columns,
            "unknown_columns": self.unknown_columns,  # in the file, read by no field: not imported
            # Rows whose text was UTF-8 read as another encoding (or mojibake already in the file):
            # repaired before cleaning, counted and shown here.
            "mojibake_repaired": {"rows": self.mojibake_rows, "examples": self.mojibake_examples[:5]},
            "filtered": {"rows": self.filtered, "rule": self.filter_rule},
            "merged": job.merged,
            "queued_for_review": job.queued_for_review,
            "entities": job.entity_counts,
        }


Progress = Callable[[ImportJob], None]

# Columns a downloaded quarantine file adds: not part of the row's identity.
_QUARANTINE_COLUMNS = ("_quarantine_id", "_line", "_reasons")
_LANDED = (IMPORTED, UPDATED, MERGED)


def fingerprint(raw: dict) -> str:
    """The row's identity in quarantine: a hash of the row as read (without the quarantine file's own
    columns), so the same bad row from a re-import, a twin file or a re-uploaded download is recognised."""
    return content_hash({k: v for k, v in raw.items() if k not in _QUARANTINE_COLUMNS})


def _quarantine_id(values: dict) -> int | None:
    raw = values.get("_quarantine_id")
    if raw is None:
        return None
    text = str(raw).strip()
    return int(text) if text.isdigit() else None


class Runner:
    def __init__(self, job: ImportJob, profile: Profile, target, *, progress: Progress | None = None) -> None:
        self.job = job
        self.profile = profile
        self.progress = progress
        self.batch_size = int(getattr(settings, "OMNISHOP_DATAHUB_BATCH_SIZE", 5000))
        self.target = target  # the engine is handed its target; targets never import the engine
        self.stats = QualityStats(profile)
        self.scope = f"{target.source}/{profile.target}"[:200]
        self.claimed: set[int] = set()  # open entries this job has seen again (each at most once)
        self.open_keys: set[str] | None = None  # natural keys waiting in quarantine when the job began
        self.first_rows: list[SourceRow] = []  # kept to show how a file maps (`check`)
        self.recognising = target.recognises_rows and settings.OMNISHOP_DATAHUB_RECOGNISE_ROWS
        self.salt = blake2b(target.digest_salt(), digest_size=16).digest() if self.recognising else b""
        self.hashers: dict[tuple, object] = {}  # header → salted hasher, copied per row
        self.stopped_at_limit = False

    # -- one batch ------------------------------------------------------------------------------------
    def commit(self, batch: list[SourceRow], *, skip_through: int = 0) -> None:
        digests: list[int | None] | None = None
        if self.recognising and not skip_through:
            digests = self.digests(batch)
            known = self.target.recognise([row.values for row in batch], digests)
            if known:
                self.commit_recognised(batch, digests, known)
                return
        good: list[Prepared] = []
        bad: list[QuarantinedRow] = []
        skipped: list[Prepared] = []
        observe = self.stats.observe
        cleaned = iter(self.profile.apply_many([row.values for row in batch if row.problem is None]))
        for row, digest in zip(batch, digests or repeat(None), strict=False):
            values = row.values
            if row.problem is not None:
                data, reasons = {}, [row.problem.as_dict()]
            else:
                data, reasons = next(cleaned)
            if row.line <= skip_through:
                if not reasons:
                    skipped.append(Prepared(row.line, values, data))
                continue
            observe(row, data, reasons, digest)
            if reasons:
                bad.append(self.quarantined(row, data, reasons))
            elif "_quarantine_id" in values:
                good.append(
                    Prepared(row.line, values, data, resubmitted_from=_quarantine_id(values), digest=digest)
                )
            else:
                good.append(Prepared(row.line, values, data, digest=digest))
        if skipped:
            self.target.skip(skipped)
        if not good and not bad:
            return
        self.write(good, bad, read=len(good) + len(bad), last_line=batch[-1].line)

    def commit_recognised(
        self, batch: list[SourceRow], digests: list[int | None], known: dict[int, list[str]]
    ) -> None:
        """A batch some of whose rows the target holds already: a row met again where it was (its raw
        digest known, its place the same) is counted unchanged and neither cleaned nor built; every other
        row is cleaned, placed in file order between them, and written as usual."""
        target, stats = self.target, self.stats
        unknown = [
            i
            for i, (row, d) in enumerate(zip(batch, digests, strict=True))
            if d not in known and not row.problem
        ]
        cleaned = dict(zip(unknown, self.profile.apply_many([batch[i].values for i in unknown]), strict=True))
        good: list[Prepared] = []
        bad: list[QuarantinedRow] = []
        met: list[SourceRow] = []
        met_digests: list[int] = []
        place_known = target.place_known
        for index, (row, digest) in enumerate(zip(batch, digests, strict=True)):
            keys = known.get(digest)
            if keys is not None and place_known(keys):
                met.append(row)
                met_digests.append(digest)  # type: ignore[arg-type]  # known digests are never None
                continue
            values = row.values
            if row.problem is not None:
                data, reasons = {}, [row.problem.as_dict()]
            elif keys is not None:
                data, reasons = self.profile.apply(values)  # met again out of its place: a row like any other
            else:
                data, reasons = cleaned[index]
            stats.observe(row, data, reasons, digest)
            if reasons:
                bad.append(self.quarantined(row, data, reasons))
                continue
            resubmitted = _quarantine_id(values) if "_quarantine_id" in values else None
            prepared = Prepared(row.line, values, data, resubmitted_from=resubmitted, digest=digest)
            target.place(prepared)
            good.append(prepared)
        unchanged = len(met)
        stats.observe_known(met, met_digests)
        self.write(
            good, bad, read=len(good) + len(bad) + unchanged, last_line=batch[-1].line, unchanged=unchanged
        )

    def digests(self, batch: list[SourceRow]) -> list[int | None]:
        """Each row as read, hashed to 64 bits with its column names and the target's salt (None for a row
        the reader could not read). Text cells are joined as they are; a typed cell (XLSX, JSON) by type and
        repr."""
        out: list[int | None] = []
        append, from_bytes = out.append, int.from_bytes
        columns, base = None, None
        for row in batch:
            if row.problem is not None:
                append(None)
                continue
            text = row.joined
            if text is not None:
                # The reader joined the cells already and gives the file's one tuple of column names.
                if row.columns is not columns:
                    columns = row.columns
                    base = self.hasher(columns)  # type: ignore[arg-type]  # set with joined
            else:
                values = row.values
                columns, base = None, self.hasher(tuple(values))
                try:
                    text = "\x1f".join(values.values())
                except TypeError:
                    text = "\x1f".join(
                        value if type(value) is str else f"\x02{type(value).__name__}\x03{value!r}"
                        for value in values.values()
                    )
            digest = base.copy()  # type: ignore[union-attr]
            digest.update(text.encode("utf-8", "surrogatepass"))
            append(from_bytes(digest.digest(), "big", signed=True))
        return out

    def hasher(self, columns: tuple[str, ...]):
        """The salted hasher of rows with these column names, to be copied per row."""
        hashers = self.hashers
        base = hashers.get(columns)
        if base is None:
            if len(hashers) > 1000:  # JSON/XML records vary in their keys: keep the memo small
                hashers.clear()
            base = hashers[columns] = blake2b(
                self.salt + "\x1e".join(columns).encode("utf-8", "surrogatepass") + b"\x1d", digest_size=8
            )
        return base

    def quarantined(self, row: SourceRow, data: dict, reasons: list[dict]) -> QuarantinedRow:
        return QuarantinedRow(
            job=self.job,
            line=row.line,
            raw=raw_json(row.values),
            reasons=reasons,
            row_key=self.target.quarantine_key(data),
        )

    def write(
        self,
        good: list[Prepared],
        bad: list[QuarantinedRow],
        *,
        read: int,
        last_line: int,
        unchanged: int = 0,
    ) -> None:
        job = self.job
        counts: Counter = Counter({UNCHANGED: unchanged})
        if not good and not bad:
            # Rows met again unchanged, nothing else: the job's counts are the only write, and one UPDATE
            # both renews the lease and fails if another runner took the job over (no transaction around it).
            self.count(counts, read, last_line)
            save_job(job, _PROGRESS_FIELDS)
            if self.progress:
                self.progress(job)
            return
        with transaction.atomic():
            hold_lease(job)
            if self.open_keys is None:
                self.open_keys = set(
                    QuarantinedRow.objects.filter(scope=self.scope, status=QuarantinedRow.Status.OPEN)
                    .exclude(row_key="")
                    .values_list("row_key", flat=True)
                )
            results = self.target.write(good) if good else []
            landed: list[str] = []
            for prepared, result in zip(good, results, strict=True):
                counts[result.outcome] += 1
                if result.outcome == QUARANTINED:
                    bad.append(
                        QuarantinedRow(
                            job=job,
                            line=prepared.line,
                            raw=raw_json(prepared.raw),
                            reasons=result.reasons,
                            row_key=self.target.quarantine_key(prepared.data),
                        )
                    )
                    self.stats.count_reasons(result.reasons or [], prepared.line)
                elif self.open_keys and result.outcome in _LANDED:
                    landed.append(self.target.quarantine_key(prepared.data))
            counts[QUARANTINED] = len(bad)
            QuarantinedRow.objects.bulk_create(self.seen_before(bad), batch_size=1000)
            if landed:
                self.resolve_landed(landed)
            fixed = [
                p.resubmitted_from
                for p, r in zip(good, results, strict=True)
                if p.resubmitted_from and r.outcome != QUARANTINED
            ]
            if fixed:
                # Rows of a downloaded quarantine file, fixed and uploaded again: their originals are done.
                QuarantinedRow.objects.filter(
                    pk__in=fixed, status=QuarantinedRow.Status.OPEN, job__profile=job.profile
                ).update(status=QuarantinedRow.Status.RESOLVED, resolved_by_job=job)
            self.count(counts, read, last_line)
            job.save(update_fields=_PROGRESS_FIELDS)
        if self.progress:
            self.progress(job)

    def count(self, counts: Counter, read: int, last_line: int) -> None:
        """Add a batch's outcomes to the job (saved by the caller)."""
        job = self.job
        job.rows_read += read
        for outcome in OUTCOMES:
            setattr(job, outcome, getattr(job, outcome) + counts[outcome])
        job.last_line = max(job.last_line, last_line)
        job.queued_for_review += self.target.queued  # imported rows whose object awaits review
        self.target.queued = 0
        job.entity_counts = dict(self.target.entity_counts)

    def seen_before(self, bad: list[QuarantinedRow]) -> list[QuarantinedRow]:
        """The rows of `bad` that are new to the quarantine. A row already waiting there (same scope, same
        content, open, not yet met by this job) is recorded as seen again by this job instead; identical
        bad rows pair off one to one, so importing a file again leaves exactly the open entries it had."""
        for row in bad:
            row.scope = self.scope
            row.fingerprint = fingerprint(row.raw)
        waiting: dict[str, list[int]] = {}
        prints = list({row.fingerprint for row in bad})
        for start in range(0, len(prints), 2000):
            found = (
                QuarantinedRow.objects.filter(
                    scope=self.scope,
                    status=QuarantinedRow.Status.OPEN,
                    fingerprint__in=prints[start : start + 2000],
                )
                .exclude(job=self.job)
                .order_by("id")
                .values_list("fingerprint", "id")
            )
            for digest, pk in found:
                if pk not in self.claimed:
                    waiting.setdefault(digest, []).append(pk)
        if not waiting:
            return bad
        new, sightings = [], []
        for row in bad:
            candidates = waiting.get(row.fingerprint)
            if candidates:
                pk = candidates.pop(0)
                self.claimed.add(pk)
                sightings.append(QuarantineSighting(row_id=pk, job=self.job, line=row.line))
            else:
                new.append(row)
        QuarantineSighting.objects.bulk_create(sightings, batch_size=1000)
        return new

    def resolve_landed(self, keys: list[str]) -> None:
        """Rows that imported now and name an object whose earlier row waits in quarantine: that entry is
        done (the fixed row arrived), unless this job itself met the bad row again."""
        open_keys = self.open_keys or set()
        matched = list({key for key in keys if key in open_keys})
        for start in range(0, len(matched), 2000):
            chunk = matched[start : start + 2000]
            QuarantinedRow.objects.filter(
                scope=self.scope, status=QuarantinedRow.Status.OPEN, row_key__in=chunk
            ).exclude(job=self.job).exclude(pk__in=self.claimed).update(
                status=QuarantinedRow.Status.RESOLVED, resolved_by_job=self.job
            )
        open_keys.difference_update(matched)

    # -- whole file -----------------------------------------------------------------------------------
    def kept(self, rows: Iterator[SourceRow]) -> Iterator[SourceRow]:
        """The rows the profile's `filter` keeps (all, without one); the others are only counted. A row the
        reader could not read (`problem`) is kept, so it is quarantined rather than silently dropped."""
        row_filter = self.profile.row_filter
        if row_filter is None:
            return rows
        return self.filtered(rows, row_filter.accepts)

    def filtered(self, rows: Iterator[SourceRow], accepts) -> Iterator[SourceRow]:
        for row in rows:
            if row.problem is None and not accepts(row.values):
                self.stats.filtered += 1
                continue
            yield row

    def run(self, path: Path, *, resume: bool = False, limit: int | None = None) -> ImportJob:
        """Stream the file through the profile into the target; `limit` stops after that many rows (the
        dry run of `check`)."""
        job, profile = self.job, self.profile
        skip_through = job.last_line if resume else 0
        reader_options = {
            **profile.reader,
            **(job.options.get("reader") or {}),
            "used_columns": profile.used_columns(),
        }
        with open_source(
            path, format=job.format or reader_options.get("format"), options=reader_options
        ) as source:
            source_rows = self.kept(source.rows)
            first = next(source_rows, None)
            header = columns_of(source, first)
            self.stats.missing_optional_columns = profile.check_columns(header) if first or header else []
            self.stats.unknown_columns = profile.unknown_columns(header)[:200]
            job.format, job.encoding = source.format, source.encoding
            save_job(job, ["format", "encoding"])
            rows: Iterator[SourceRow] = chain([first], source_rows) if first else iter(())
            if limit is not None:
                rows = islice(rows, limit + 1)  # one more than the limit: was the file longer?
            size, taken = self.batch_size, 0
            while batch := list(islice(rows, size)):
                if limit is not None and taken + len(batch) > limit:
                    self.stopped_at_limit = True
                    del batch[limit - taken :]
                if taken < FIRST_ROWS:
                    self.first_rows.extend(batch[: FIRST_ROWS - taken])
                taken += len(batch)
                if batch:
                    self.commit(batch, skip_through=skip_through)
        with transaction.atomic():
            hold_lease(job)
            moved = self.target.finish()
            if moved:
                # Identity resolution turned some newly imported rows into merges after the fact.
                job.imported -= moved
                job.merged += moved
            late = self.target.late_quarantine
            if late:
                # Rows written this job that the end of the import found can never be built.
                from_imported = min(len(late), job.imported)
                job.imported -= from_imported
                job.updated -= len(late) - from_imported
                job.quarantined += len(late)
                self.stats.count_reasons(late, 0)
            job.entity_counts = dict(self.target.entity_counts)
            job.save(update_fields=["imported", "updated", "merged", "quarantined", "entity_counts"])
        return job


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Keep the objects that exist before an import out of the garbage collector's full passes while it
    runs. An import allocates millions of short-lived containers, which triggers a full collection every
    batch or so; each one walked the whole process heap (Django, libraries, caches) and cost a third of
    the import's CPU. `gc.freeze` moves them to the permanent generation (nothing is copied), `unfreeze`
    gives them back at the end; garbage made during the import is collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_job(job: ImportJob, *, progress: Progress | None = None, resume: bool = False) -> ImportJob:
    """Run a pending (or, with resume, an interrupted) job to the end; the job row tells how it went. A runner
    that loses its lease (another took the job over) stops at its next write and leaves the job to the other:
    it returns the job as the database has it."""
    profile = get_profile(job.profile, country=job.channel.country if job.channel_id else None)
    job.status = ImportJob.Status.RUNNING
    job.started_at = job.started_at if resume and job.started_at else timezone.now()
    job.error_code = job.error_message = ""
    save_job(job, ["status", "started_at", "error_code", "error_message"])
    started = time.perf_counter()
    runner = None
    taken_over = False
    try:
        runner = Runner(job, profile, target_for(profile, job), progress=progress)
        with heap_frozen():
            runner.run(Path(job.source_path), resume=resume)
        job.status = ImportJob.Status.SUCCEEDED
    except SourceError as exc:
        job.status = ImportJob.Status.FAILED
        job.error_code = exc.code
        job.error_message = exc.message
    except LeaseLost:
        taken_over = True
    finally:
        if not taken_over:
            job.finished_at = timezone.now()
            if runner is not None:
                job.quality = {**runner.stats.report(job), **runner.target.report()}
                job.quality["seconds"] = round(time.perf_counter() - started, 3)
            if job.status == ImportJob.Status.RUNNING:  # an unexpected exception is propagating
                job.status = ImportJob.Status.FAILED
                job.error_code = job.error_code or "internal_error"
                job.error_message = (
                    job.error_message or "The import stopped on an unexpected error; see the logs."
                )
            try:
                save_job(
                    job, ["status", "finished_at", "quality", "error_code", "error_message"], release=True
                )
            except LeaseLost:
                taken_over = True
            else:
                announce_finished(job)
    if taken_over:
        job.refresh_from_db()
    return job


def announce_finished(job: ImportJob) -> None:
    """import.finished: bulk changes are announced once per job, not per row (an import writes listings and
    stock in bulk); connectors answer it with a full sync of the channel, webhooks let integrators re-read."""
    outbox.emit(
        "import.finished",
        aggregate_type="import",
        aggregate_id=job.pk,
        channel=job.channel.code if job.channel_id else "",
        payload={
            "job_id": job.pk,
            "profile": job.profile,
            "channel": job.channel.code if job.channel_id else "",
            "status": job.status,
            "rows_read": job.rows_read,
            "imported": job.imported,
            "updated": job.updated,
            "unchanged": job.unchanged,
            "merged": job.merged,
            "quarantined": job.quarantined,
            "queued_for_review": job.queued_for_review,
            "error_code": job.error_code,
        },
    )
