"""The per-connection sync log: one row per batch pushed or page pulled, with counts and the first error."""

from __future__ import annotations

from django.utils import timezone

from ..models import SyncLog


def write_log(
    *,
    connection,
    operation: str,
    direction: str,
    started_at,
    ok: int = 0,
    failed: int = 0,
    status: str | None = None,
    error_code: str = "",
    error_message: str = "",
) -> SyncLog:
    if status is None:
        status = SyncLog.Status.OK if not failed else (SyncLog.Status.PARTIAL if ok else SyncLog.Status.ERROR)
    return SyncLog.objects.create(
        connection=connection,
        operation=operation,
        direction=direction,
        status=status,
        count_ok=ok,
        count_failed=failed,
        error_code=error_code[:50],
        error_message=error_message[:2000],
        started_at=started_at,
        finished_at=timezone.now(),
    )
