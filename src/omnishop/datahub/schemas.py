"""Request and response shapes of the data hub API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from omnishop.core.schemas import InputSchema


class ProfileOut(Schema):
    name: str
    title: str
    description: str
    target: str
    source: str
    format: str | None
    fields: list[dict]


class JobOut(Schema):
    id: int
    profile: str
    channel: str | None
    source_name: str
    source_size: int
    format: str
    encoding: str
    status: str
    rows_read: int
    imported: int
    updated: int
    unchanged: int
    merged: int
    quarantined: int
    queued_for_review: int = Field(
        0, description="Imported rows whose product looks like another channel's: a review candidate opened."
    )
    entity_counts: dict
    error_code: str
    error_message: str
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None

    @staticmethod
    def resolve_channel(obj) -> str | None:
        return obj.channel.code if obj.channel_id else None

    @staticmethod
    def resolve_created_by(obj) -> str | None:
        if obj.created_by_id:
            return obj.created_by.get_username()
        if obj.api_key_id:
            return f"api key {obj.api_key.prefix}"
        return None


class JobPage(Schema):
    items: list[JobOut]
    next_cursor: str | None


class ServerImportIn(InputSchema):
    profile: str
    path: str
    channel: str | None = None
    options: dict[str, Any] | None = None


class QuarantinedRowOut(Schema):
    id: int
    job: int
    line: int
    raw: dict
    reasons: list[dict]
    status: str
    resolved_by_job: int | None
    seen_again: int = Field(0, description="Later imports that met the same row while it was open.")
    last_seen_by_job: int | None = Field(None, description="The last import that met it again.")
    created_at: datetime

    @staticmethod
    def resolve_job(obj) -> int:
        return obj.job_id

    @staticmethod
    def resolve_seen_again(obj) -> int:
        seen = getattr(obj, "seen_again", None)  # annotated by the list endpoint (one query per page)
        return obj.sightings.count() if seen is None else seen

    @staticmethod
    def resolve_last_seen_by_job(obj) -> int | None:
        if hasattr(obj, "last_seen_by_job"):
            return obj.last_seen_by_job
        return obj.sightings.order_by("-id").values_list("job_id", flat=True).first()

    @staticmethod
    def resolve_resolved_by_job(obj) -> int | None:
        return obj.resolved_by_job_id


class QuarantinePage(Schema):
    items: list[QuarantinedRowOut]
    next_cursor: str | None


class ResubmitIn(InputSchema):
    values: dict[str, str | None] = {}


class ResubmitOut(Schema):
    row: QuarantinedRowOut
    job: JobOut


class MatchOut(Schema):
    id: int
    entity: str
    left_id: int
    right_id: int
    score: float
    reasons: list
    status: str
    created_at: datetime


class MatchPage(Schema):
    items: list[MatchOut]
    next_cursor: str | None


class ProductMergeOut(Schema):
    id: int
    kind: str = Field(description="import: matched while importing; review: accepted from the review queue.")
    product_id: int | None = Field(description="The kept product.")
    merged_product_id: int | None = Field(
        description="review: the product folded in; import, once undone: the source's product given back."
    )
    sources: list[str]
    channel: str | None
    job: int | None
    candidate: int | None
    score: float
    reasons: list
    filled: dict = Field(description="Field -> {before, after} of what the merge filled on the kept product.")
    moved: dict = Field(
        description="Ids of the variants and images (and ledger entries) it moved or added; `option_matches`: "
        "the source's variants matched or folded by option values (undo gives them back)."
    )
    variant_conflicts: list = Field(
        description="Variants kept side by side with the same option values (folding was unsafe: `reason`)."
    )
    created_at: datetime
    undone_at: datetime | None

    @staticmethod
    def resolve_channel(obj) -> str | None:
        return obj.channel.code if obj.channel_id else None

    @staticmethod
    def resolve_job(obj) -> int | None:
        return obj.job_id

    @staticmethod
    def resolve_candidate(obj) -> int | None:
        return obj.candidate_id


class ProductMergePage(Schema):
    items: list[ProductMergeOut]
    next_cursor: str | None


class DecisionIn(InputSchema):
    merge: bool


class OutcomeCountsOut(Schema):
    rows_read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    quarantined: int = 0
    queued_for_review: int = 0


class RejectReasonOut(Schema):
    reason: str = Field(description="'<field>:<code>', '*' when the row as a whole was refused.")
    count: int
    sample_lines: list[int] = Field([], description="Up to five source lines with this reason.")


class MojibakeExampleOut(Schema):
    line: int
    column: str
    read: str = Field(description="The cell as the file's encoding read it.")
    repaired: str


class MojibakeOut(Schema):
    rows: int = Field(description="Rows whose text was repaired (UTF-8 read as another encoding).")
    examples: list[MojibakeExampleOut]


class VariantMatchOut(Schema):
    line: int = Field(description="Source line of the row.")
    sku: str = Field(description="The channel's SKU on the row.")
    how: str = Field(
        description="option_values (same options inside the matched product), sku_map (the SKU map), or "
        "ambiguous (several variants of other sources have these options: the row kept its own variant)."
    )
    variant: int | None = Field(
        None, description="The catalogue variant the SKU now names (none if ambiguous)."
    )
    variant_sku: str | None = None
    product: int | None = None
    candidates: list[int] = Field([], description="ambiguous: the variants that had the row's options.")


class JobQualityOut(Schema):
    """A job's data-quality report; the figures after `open_quarantine` exist once the job has run."""

    job: int
    profile: str
    status: str
    counts: OutcomeCountsOut
    open_quarantine: int
    rows: int | None = None
    completeness: dict[str, float] | None = Field(None, description="Share of rows with a value, per field.")
    recognised_unchanged: int | None = Field(
        None,
        description="Rows met again exactly as an earlier import staged them (same raw row, same profile, "
        "same place): counted unchanged without being cleaned again; completeness covers the other rows.",
    )
    duplicate_rows: int | None = None
    duplicates_exact: bool | None = Field(None, description="False when the file was too big to count all.")
    rejects_by_reason: list[RejectReasonOut] = []
    missing_optional_columns: list[str] = []
    unknown_columns: list[str] = Field([], description="Columns of the file no field reads: not imported.")
    mojibake_repaired: MojibakeOut | None = None
    merged: int | None = None
    queued_for_review: int | None = None
    entities: dict[str, Any] | None = Field(None, description="Side effects, e.g. variants created.")
    variant_matches: list[VariantMatchOut] = Field(
        [], description="Products: rows whose SKU was matched to another channel's variant, and why."
    )
    seconds: float | None = None


class OverallQualityOut(Schema):
    jobs: int
    counts: OutcomeCountsOut
    rejects_by_reason: list[RejectReasonOut]
    open_quarantine: int
    review_queue: int = Field(description="Identity-resolution candidates waiting for a decision.")
