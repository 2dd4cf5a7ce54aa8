"""Idempotency-Key handling for every create-style POST.

Same key + same body → the stored response is replayed (header `Idempotent-Replayed: true`); same key +
different body → 409 `idempotency_key_reused`; a duplicate that arrives while the first is still running
→ 409 `idempotency_in_progress` (it never runs twice). Domain errors (4xx) are stored and replayed like
successes, as payment processors do; unexpected failures release the key so the client may retry.
Keys are kept OMNISHOP_IDEMPOTENCY_TTL_HOURS (default 48 h, at least the promised 24 h); a request whose worker
died is taken over after OMNISHOP_IDEMPOTENCY_ABANDONED_SECONDS (default 300).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from datetime import timedelta

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Header

from .errors import DomainError, IdempotencyInProgress, IdempotencyKeyReused, ValidationFailed
from .models import IdempotencyRecord
from .schemas import conform

MAX_KEY_LENGTH = 255

# The header parameter every create-style endpoint declares: `idempotency_key: str | None = IDEMPOTENCY_KEY`.
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key")


class InvalidIdempotencyKey(ValidationFailed):
    code = "invalid_idempotency_key"


def request_fingerprint(request: HttpRequest, operation: str) -> str:
    digest = hashlib.sha256()
    digest.update(operation.encode())
    digest.update(b"\0")
    body = request.body or b""
    # Key order and whitespace do not make a different request.
    with contextlib.suppress(orjson.JSONDecodeError):
        body = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    digest.update(body)
    return digest.hexdigest()


def run_idempotent(
    request: HttpRequest,
    *,
    scope: str,
    key: str | None,
    operation: str,
    work: Callable[[], tuple[int, bytes]],
    redact: Callable[[bytes], bytes] | None = None,
) -> HttpResponse:
    """Run `work` (which returns status and JSON body) at most once per (scope, key)."""
    from omnishop.core.http import error_response

    if key is None:
        try:
            status, body = work()
        except DomainError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.field, **exc.details)
        return HttpResponse(body, status=status, content_type="application/json")

    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", field="Idempotency-Key"
        )
    fingerprint = request_fingerprint(request, operation)
    now = timezone.now()
    record = _claim(scope=scope, key=key, operation=operation, fingerprint=fingerprint, now=now)
    if record.state == IdempotencyRecord.State.DONE:
        response = HttpResponse(
            bytes(record.response_body), status=record.response_status, content_type="application/json"
        )
        response["Idempotent-Replayed"] = "true"
        return response

    try:
        status, body = work()
    except DomainError as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.field, **exc.details)
        status, body = response.status_code, response.content
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS).delete()
        raise
    stored = redact(body) if (redact and status < 300) else body
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE, response_status=status, response_body=stored
    )
    return HttpResponse(body, status=status, content_type="application/json")


def _claim(*, scope: str, key: str, operation: str, fingerprint: str, now) -> IdempotencyRecord:
    expires_at = now + timedelta(hours=settings.OMNISHOP_IDEMPOTENCY_TTL_HOURS)
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                scope=scope, key=key, operation=operation, request_hash=fingerprint, expires_at=expires_at
            )
    except IntegrityError:
        pass
    existing = IdempotencyRecord.objects.get(scope=scope, key=key)
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReused(field="Idempotency-Key", first_operation=existing.operation)
    if existing.state == IdempotencyRecord.State.IN_PROGRESS:
        # A worker that died mid-request leaves its row in progress; after this long the key may be retried.
        if now - existing.created_at < timedelta(seconds=settings.OMNISHOP_IDEMPOTENCY_ABANDONED_SECONDS):
            raise IdempotencyInProgress(field="Idempotency-Key")
        # Taken over from a worker that died: only one retrier wins the conditional update.
        taken = IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).update(
            created_at=now, expires_at=expires_at
        )
        if not taken:
            raise IdempotencyInProgress(field="Idempotency-Key")
        existing.created_at = now
    return existing


def purge_expired(*, now=None) -> int:
    """Delete stored responses whose retention has passed; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted


def idempotent(
    request: HttpRequest,
    key: str | None,
    status: int,
    build: Callable[[], object],
    *,
    schema: object | None = None,
    redact: Callable[[bytes], bytes] | None = None,
) -> HttpResponse:
    """Endpoint helper: run `build` (a service call returning a schema object or dict) once per key.

    A dict is passed through `schema` (the operation's response schema for `status`) before it is stored,
    so the stored and replayed answer is exactly what the OpenAPI document describes."""
    from omnishop.core.http import dumps

    def work() -> tuple[int, bytes]:
        result = build()
        if schema is not None:
            data = conform(schema, result)
        elif hasattr(result, "model_dump"):
            data = result.model_dump(mode="json")
        else:
            raise TypeError("idempotent() needs the response schema a dict answer must conform to")
        return status, dumps(data)

    scope = request.auth.idempotency_scope if getattr(request, "auth", None) else "anonymous"
    return run_idempotent(
        request, scope=scope, key=key, operation=f"{request.method} {request.path}", work=work, redact=redact
    )
