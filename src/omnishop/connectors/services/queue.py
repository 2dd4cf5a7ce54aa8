"""The connector task queue: enqueue with coalescing, claim with a lease, finish, retry with backoff.

Claims are compare-and-set UPDATEs on single rows (status + lease in the WHERE clause), so any number of
workers on any number of machines never run the same task at once; a worker that dies leaves its lease to
expire and the task is claimed again. Stock and listing tasks coalesce: a newer change of the same SKU
replaces the payload of the pending task (the partial unique index `connector_task_one_pending` keeps it
to one pending row), so only the latest figure is pushed.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..models import ChannelConnection, ConnectorTask


def enqueue(
    *, connection: ChannelConnection, operation: str, key: str = "", payload: dict | None = None
) -> ConnectorTask:
    """Owe the channel one change. Coalescing operations replace the pending task of the same key."""
    now = timezone.now()
    payload = payload or {}
    if operation in ConnectorTask.COALESCING:
        for _ in range(3):
            pending = ConnectorTask.objects.filter(
                connection=connection, operation=operation, key=key, status=ConnectorTask.Status.PENDING
            )
            if pending.update(payload=payload, updated_at=now):
                return pending.first() or ConnectorTask.objects.get(
                    connection=connection, operation=operation, key=key, status="pending"
                )
            try:
                with transaction.atomic():
                    return ConnectorTask.objects.create(
                        connection=connection,
                        operation=operation,
                        key=key,
                        payload=payload,
                        next_attempt_at=now,
                    )
            except IntegrityError:
                continue  # another writer created the pending row a moment ago: update that one
    return ConnectorTask.objects.create(
        connection=connection, operation=operation, key=key, payload=payload, next_attempt_at=now
    )


def _due(now) -> Q:
    return Q(status=ConnectorTask.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=ConnectorTask.Status.RUNNING, locked_until__lt=now
    )


def claim(*, connection: ChannelConnection, limit: int) -> list[ConnectorTask]:
    """Claim up to `limit` due tasks of one connection, oldest first, each with a lease."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.OMNISHOP_CONNECTOR_LEASE_SECONDS)
    ids = list(
        ConnectorTask.objects.filter(_due(now), connection=connection)
        .order_by("pk")
        .values_list("pk", flat=True)[: limit * 2]
    )
    claimed = []
    for pk in ids:
        got = ConnectorTask.objects.filter(_due(now), pk=pk).update(
            status=ConnectorTask.Status.RUNNING,
            locked_until=lease,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        if got:
            claimed.append(pk)
        if len(claimed) >= limit:
            break
    return list(ConnectorTask.objects.filter(pk__in=claimed).order_by("pk"))


def done(task: ConnectorTask, *, note: str = "") -> None:
    ConnectorTask.objects.filter(pk=task.pk, status=ConnectorTask.Status.RUNNING).update(
        status=ConnectorTask.Status.DONE,
        locked_until=None,
        done_at=timezone.now(),
        error_code=note,
        error_message="",
        updated_at=timezone.now(),
    )


def failed(task: ConnectorTask, *, code: str, message: str) -> None:
    """The channel refused it for good (or we did): kept, visible in admin, retried only by a person."""
    ConnectorTask.objects.filter(pk=task.pk).update(
        status=ConnectorTask.Status.FAILED,
        locked_until=None,
        error_code=code[:50],
        error_message=message[:2000],
        updated_at=timezone.now(),
    )


def backoff_seconds(attempts: int) -> float:
    base = settings.OMNISHOP_CONNECTOR_BACKOFF_SECONDS
    delay = min(base * (2 ** max(attempts - 1, 0)), settings.OMNISHOP_CONNECTOR_BACKOFF_MAX)
    return delay * random.uniform(0.8, 1.2)


def retry(
    task: ConnectorTask, *, code: str, message: str, after: float | None = None, count: bool = True
) -> None:
    """Back to pending, due after `after` seconds (else exponential backoff with jitter).

    `count=False` hands back an attempt that never reached the channel (rate limit). Past the maximum of
    attempts the task fails and waits for a person. When a newer change of the same key is already pending
    (coalescing), this one is superseded by it.
    """
    attempts = task.attempts - (0 if count else 1)
    if count and attempts >= settings.OMNISHOP_CONNECTOR_MAX_ATTEMPTS:
        failed(task, code=code, message=f"Gave up after {attempts} attempts: {message}")
        return
    wait = backoff_seconds(attempts) if after is None else after
    fields = {
        "status": ConnectorTask.Status.PENDING,
        "locked_until": None,
        "attempts": attempts,
        "next_attempt_at": timezone.now() + timedelta(seconds=wait),
        "error_code": code[:50],
        "error_message": message[:2000],
        "updated_at": timezone.now(),
    }
    try:
        with transaction.atomic():
            ConnectorTask.objects.filter(pk=task.pk).update(**fields)
    except IntegrityError:
        done(task, note="superseded")


def release(tasks: list[ConnectorTask], *, after: float) -> None:
    """Hand claimed tasks back untried (the channel's rate limit says wait)."""
    for task in tasks:
        retry(
            task,
            code="rate_limited",
            message="Waiting for the channel's rate limit.",
            after=after,
            count=False,
        )
