"""What every target shares: the job, profile options, side-effect counters and the ledger of natural
keys → (object id, content hash) that makes re-imports idempotent."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from ..errors import ChannelRequired
from ..models import ImportedRecord

IMPORTED, UPDATED, UNCHANGED, MERGED, QUARANTINED = (
    "imported",
    "updated",
    "unchanged",
    "merged",
    "quarantined",
)
OUTCOMES = (IMPORTED, UPDATED, UNCHANGED, MERGED, QUARANTINED)


@dataclass(slots=True)
class Prepared:
    """A row that passed its profile: cleaned data plus where it came from."""

    line: int
    raw: dict
    data: dict[str, Any]
    resubmitted_from: int | None = None  # QuarantinedRow id when a fixed row is re-submitted
    digest: int | None = None  # the row as read, hashed (`Target.recognises_rows`); None when not taken
    key: str | None = None  # the natural key, when the engine placed the row before writing it


@dataclass(slots=True)
class Result:
    outcome: str
    reasons: list[dict] | None = None


def _default(value):
    if isinstance(value, Decimal):
        # 18, 18.0 and 18.00 are the same amount whether it came from CSV text or an XLSX number.
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    raise TypeError


def content_hash(data: dict) -> str:
    """Stable 128-bit digest of cleaned content: the same data imported again hashes the same."""
    payload = orjson.dumps(data, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


class Target:
    entity = ""
    # The cleaned fields that name a row's business object (an invoice line's document and code, a
    # variant's SKU): a quarantined row is found again by them when a later import brings the fixed row.
    key_fields: tuple[str, ...] = ()

    def __init__(self, *, profile, job) -> None:
        self.profile = profile
        self.job = job
        self.options = {**profile.options, **(job.options.get("target") or {})}
        self.channel = job.channel
        base = self.options.get("source") or profile.source
        # Natural keys are per source *and* channel: the same invoice number or export row from two
        # channels is two things.
        self.source = f"{base}@{self.channel.code}" if self.channel is not None else base
        self.entity_counts: Counter = Counter()
        # Reasons of rows this job counted as written that `finish` found can never be built: the engine
        # moves them from imported to quarantined (the target has filed them).
        self.late_quarantine: list[dict] = []
        # Rows written since the engine last looked whose object went to the review queue (imported rows
        # that look like another channel's object): the engine adds them to the job's queued_for_review.
        self.queued = 0

    def require_channel(self):
        if self.channel is None:
            raise ChannelRequired(
                f"The '{self.profile.name}' profile records channel identities and prices: choose a channel."
            )
        return self.channel

    def quarantine_key(self, data: dict) -> str:
        """The row's natural key from its (possibly partly) cleaned fields, "" when one is missing."""
        values = [data.get(name) for name in self.key_fields]
        if not values or any(value is None or value == "" for value in values):
            return ""
        return ":".join(map(str, values))[:300]

    # A target that keeps each row's raw digest can tell, before cleaning, which rows of a file it already
    # holds exactly as they are (`recognise` + `place_known`): the engine counts those unchanged without
    # cleaning or building them, and hands every other row to `place` in file order.
    recognises_rows = False

    def digest_salt(self) -> bytes:
        """What, besides a row's raw values, decides what the row becomes (profile, options, version)."""
        return b""

    def recognise(self, rows: list[dict], digests: list[int | None]) -> dict[int, list[str]]:
        """digest -> natural keys of the rows held with that raw digest (exact duplicates share one), for
        the batch's `rows` (as read) and their `digests`."""
        return {}

    def place_known(self, keys: list[str]) -> bool:
        """True (and the row takes its place) when a recognised row sits where it sat before."""
        return False

    def place(self, row: Prepared) -> None:
        """Give a row that is to be written its natural key now, in file order (rows `place_known` took
        are interleaved with it)."""

    def write(self, rows: list[Prepared]) -> list[Result]:
        raise NotImplementedError

    def skip(self, rows: list[Prepared]) -> None:
        """Rows a resumed job already committed: keep any per-file state (positions) in step."""

    def finish(self) -> int:
        """After the last batch; returns how many imported rows became merges (identity resolution)."""
        return 0

    def report(self) -> dict:
        """Sections the target adds to the job's quality report (the products target: `variant_matches`)."""
        return {}


class Ledger:
    """Natural key → (object id, content hash) for one (source, entity), loaded per batch."""

    def __init__(self, *, source: str, entity: str, job) -> None:
        self.source = source
        self.entity = entity
        self.job = job

    def load(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        found: dict[str, tuple[int, str]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 2000):
            chunk = unique[start : start + 2000]
            for key, object_id, digest in ImportedRecord.objects.filter(
                source=self.source, entity=self.entity, natural_key__in=chunk
            ).values_list("natural_key", "object_id", "content_hash"):
                found[key] = (object_id, digest)
        return found

    def record(self, entries: dict[str, tuple[int, str]], existing: dict[str, tuple[int, str]]) -> None:
        new = [
            ImportedRecord(
                source=self.source,
                entity=self.entity,
                natural_key=k,
                object_id=o,
                content_hash=h,
                last_job=self.job,
            )
            for k, (o, h) in entries.items()
            if k not in existing
        ]
        ImportedRecord.objects.bulk_create(new, batch_size=1000)
        changed = [(k, o, h) for k, (o, h) in entries.items() if k in existing and existing[k] != (o, h)]
        for key, object_id, digest in changed:
            ImportedRecord.objects.filter(source=self.source, entity=self.entity, natural_key=key).update(
                object_id=object_id, content_hash=digest, last_job=self.job
            )


__all__ = ["ChannelRequired", "Ledger", "Prepared", "Result", "Target", "content_hash"]
