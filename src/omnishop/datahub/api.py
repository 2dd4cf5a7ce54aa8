"""Data hub API: upload an import (multipart) or import a server file (staff), follow the job, read its
quality report, list/download/fix/re-submit its quarantine, decide identity-resolution candidates, and
export any entity. A channel key (scope imports:write) sees only its own channel's jobs."""

from __future__ import annotations

import hashlib

import orjson
from django.http import HttpRequest, StreamingHttpResponse
from ninja import File, Form, Router
from ninja.files import UploadedFile

from omnishop.auth import channel_key, staff
from omnishop.core.dbrouting import reads_from_replica
from omnishop.core.errors import PermissionDenied, ValidationFailed
from omnishop.core.http import dumps
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent, run_idempotent
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS, Id, Int32

from . import exports, product_merges, services
from .models import ImportJob
from .profiles import list_profiles
from .schemas import (
    DecisionIn,
    JobOut,
    JobPage,
    JobQualityOut,
    MatchOut,
    MatchPage,
    OverallQualityOut,
    ProductMergeOut,
    ProductMergePage,
    ProfileOut,
    QuarantinedRowOut,
    QuarantinePage,
    ResubmitIn,
    ResubmitOut,
    ServerImportIn,
)

router = Router(tags=["datahub"])
WRITE = [channel_key("imports:write"), staff("datahub.add_importjob")]
READ = [channel_key("imports:write"), staff("datahub.view_importjob")]
MERGE_PRODUCT = "datahub.merge_product"


def _channel_for(request: HttpRequest, code: str | None):
    """A channel key imports into its own channel (and may not name another); staff name one or none."""
    principal = request.auth
    if principal.kind == "channel":
        if code and code != principal.channel.code:
            raise PermissionDenied("A channel key imports into its own channel only.", field="channel")
        return principal.channel
    if not code:
        return None
    from omnishop.channels.services import get_channel

    return get_channel(code)


def _options(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationFailed("options must be a JSON object.", field="options") from None
    if not isinstance(value, dict):
        raise ValidationFailed("options must be a JSON object.", field="options")
    return value


@router.get("/profiles", response={200: list[ProfileOut], **ERRORS}, auth=READ)
def profiles(request: HttpRequest):
    return [p.describe() for p in list_profiles()]


@router.post("/imports", response={202: JobOut, **ERRORS}, auth=WRITE)
def upload_import(
    request: HttpRequest,
    file: UploadedFile = File(...),
    profile: str = Form(...),
    channel: str | None = Form(None),
    options: str | None = Form(None),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """Upload a file (multipart field `file`) for `profile`; the job runs in the background (at once
    without Redis) and is returned with 202 — follow it at GET /imports/{id}."""

    def build():
        principal = request.auth
        job = services.start_import(
            profile=profile,
            stream=file.file,
            filename=file.name or "upload",
            channel=_channel_for(request, channel),
            user=principal.user,
            api_key=principal.api_key,
            options=_options(options),
        )
        return JobOut.from_orm(services.enqueue_import(job=job))

    if idempotency_key is None:
        return idempotent(request, None, 202, build)
    # A multipart body cannot be re-read for the fingerprint: hash what defines the upload instead.
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    digest.update(orjson.dumps([profile, channel, options, file.name]))
    return run_idempotent(
        _Fingerprint(request, digest.hexdigest()),
        scope=request.auth.idempotency_scope,
        key=idempotency_key,
        operation=f"{request.method} {request.path}",
        work=lambda: (202, dumps(build().model_dump(mode="json"))),
    )


class _Fingerprint:
    """What core.idempotency fingerprints (method, path, body), with the body replaced by a digest."""

    def __init__(self, request: HttpRequest, digest: str) -> None:
        self.method, self.path, self.body = request.method, request.path, digest.encode()


@router.post("/imports/server", response={202: JobOut, **ERRORS}, auth=[staff("datahub.add_importjob")])
def server_import(
    request: HttpRequest,
    body: ServerImportIn,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """Staff: import a file already on the server, under OMNISHOP_DATAHUB_IMPORT_ROOTS."""

    def build():
        job = services.start_server_import(
            profile=body.profile,
            path=body.path,
            channel=_channel_for(request, body.channel),
            user=request.auth.user,
            options=body.options,
        )
        return JobOut.from_orm(services.enqueue_import(job=job))

    return idempotent(request, idempotency_key, 202, build)


@router.get("/imports", response={200: JobPage, **ERRORS}, auth=READ)
def list_imports(
    request: HttpRequest,
    status: str | None = None,
    profile: str | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
    ordering: str = "-created_at",
):
    qs = services.jobs_visible_to(request.auth).select_related("created_by", "api_key")
    if status:
        qs = qs.filter(status=status)
    if profile:
        qs = qs.filter(profile=profile)
    page = paginate(
        qs, cursor=cursor, limit=limit, ordering=ordering, allowed=["created_at", "id", "rows_read"]
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/imports/{job_id}", response={200: JobOut, **ERRORS}, auth=READ)
def get_import(request: HttpRequest, job_id: Id):
    """The job's status and counts; poll it to follow a background import."""
    return services.get_job(principal=request.auth, job_id=job_id)


@router.post("/imports/{job_id}/rerun", response={202: JobOut, **ERRORS}, auth=WRITE)
def rerun_import(request: HttpRequest, job_id: Id, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Run the same stored file again as a new job (finishes a job that died halfway; a no-op otherwise)."""

    def build():
        job = services.get_job(principal=request.auth, job_id=job_id)
        new = services.rerun_import(job=job, user=request.auth.user)
        return JobOut.from_orm(services.enqueue_import(job=new))

    return idempotent(request, idempotency_key, 202, build)


@router.get("/imports/{job_id}/quality", response={200: JobQualityOut, **ERRORS}, auth=READ)
def job_quality(request: HttpRequest, job_id: Id):
    with reads_from_replica():  # a report may lag the primary by the allowed replica lag (ADR 0030)
        return services.quality_report(job=services.get_job(principal=request.auth, job_id=job_id))


@router.get("/quality", response={200: OverallQualityOut, **ERRORS}, auth=READ)
def overall_quality(request: HttpRequest):
    with reads_from_replica():
        return services.overall_quality(principal=request.auth)


@router.get("/imports/{job_id}/quarantine", response={200: QuarantinePage, **ERRORS}, auth=READ)
def list_quarantine(
    request: HttpRequest,
    job_id: Id,
    status: str | None = "open",
    reason: str | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
):
    job = services.get_job(principal=request.auth, job_id=job_id)
    qs = services.quarantine_of(job=job)
    if status:
        qs = qs.filter(status=status)
    if reason:
        qs = qs.filter(reasons__icontains=reason)
    page = paginate(qs, cursor=cursor, limit=limit, ordering="line", allowed=["line", "id"])
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/imports/{job_id}/quarantine/download", auth=READ, response={200: None, **ERRORS})
def download_quarantine(request: HttpRequest, job_id: Id, format: str = "csv"):
    """The open quarantined rows as CSV or XLSX, in their original columns plus _quarantine_id, _line and
    _reasons; fix them and upload the file to the same profile."""
    job = services.get_job(principal=request.auth, job_id=job_id)
    body, content_type, name = exports.quarantine_file(job=job, fmt=format)
    return _download(body, content_type, name)


@router.post("/quarantine/{row_id}/resubmit", response={200: ResubmitOut, **ERRORS}, auth=WRITE)
def resubmit(request: HttpRequest, row_id: Id, body: ResubmitIn):
    """Re-run one quarantined row with some cells fixed (`values`: column -> text)."""
    row = services.get_quarantined_row(principal=request.auth, row_id=row_id)
    row, job = services.resubmit_quarantined(row=row, values=body.values, user=request.auth.user)
    return {"row": row, "job": job}


@router.post("/quarantine/{row_id}/discard", response={200: QuarantinedRowOut, **ERRORS}, auth=WRITE)
def discard(request: HttpRequest, row_id: Id):
    row = services.get_quarantined_row(principal=request.auth, row_id=row_id)
    return services.discard_quarantined(row=row)


@router.get("/matches", response={200: MatchPage, **ERRORS}, auth=[staff("datahub.view_importjob")])
def list_matches(request: HttpRequest, status: str = "open", cursor: str | None = None, limit: Int32 = 50):
    """The identity-resolution review queue: look-alike pairs below the auto-merge score."""
    qs = services.match_candidates(status=status)
    page = paginate(qs, cursor=cursor, limit=limit, ordering="-score", allowed=["score", "id"])
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/matches/{candidate_id}/decision",
    response={200: MatchOut, **ERRORS},
    auth=[staff()],  # which permission depends on what the pair is: checked below
)
def decide(request: HttpRequest, candidate_id: Id, body: DecisionIn):
    """Merge or keep apart: customers need `customers.merge_customer`, products `datahub.merge_product`."""
    candidate = services.get_match_candidate(candidate_id=candidate_id)
    needed = MERGE_PRODUCT if candidate.entity == "product" else "customers.merge_customer"
    if not request.auth.user.has_perm(needed):
        raise PermissionDenied(f"Staff permission needed: {needed}.", field="candidate_id")
    return services.decide_match(candidate=candidate, merge=body.merge, user=request.auth.user)


@router.get(
    "/product-merges", response={200: ProductMergePage, **ERRORS}, auth=[staff("datahub.view_importjob")]
)
def list_product_merges(
    request: HttpRequest,
    product: Id | None = None,
    undone: bool | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
):
    """Every product merge (at import time or accepted from the review queue), newest first."""
    qs = product_merges.product_merges(product_id=product, undone=undone).select_related("channel")
    page = paginate(qs, cursor=cursor, limit=limit, ordering="-id", allowed=["id"])
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/product-merges/{merge_id}",
    response={200: ProductMergeOut, **ERRORS},
    auth=[staff("datahub.view_importjob")],
)
def get_product_merge(request: HttpRequest, merge_id: Id):
    return product_merges.get_product_merge(merge_id=merge_id)


@router.post(
    "/product-merges/{merge_id}/undo",
    response={200: ProductMergeOut, **ERRORS},
    auth=[staff("datahub.view_importjob", MERGE_PRODUCT)],
)
def undo_product_merge(request: HttpRequest, merge_id: Id):
    """Undo a product merge exactly (409 merge_already_undone / merge_not_undoable)."""
    merge = product_merges.get_product_merge(merge_id=merge_id)
    return product_merges.undo_product_merge(merge=merge, user=request.auth.user)


@router.get("/exports/{entity}", auth=[staff("datahub.view_importjob")], response={200: None, **ERRORS})
def export(request: HttpRequest, entity: str, format: str = "csv"):
    """Any entity as CSV, XLSX, JSON Lines or Parquet, streamed; formula-like text cells neutralised."""
    body, content_type, name = exports.export(name=entity, fmt=format, principal=request.auth)
    return _download(body, content_type, name)


def _download(body, content_type: str, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


__all__ = ["ImportJob", "router"]
