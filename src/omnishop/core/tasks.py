"""Background jobs owned by core."""

from celery import shared_task

from . import idempotency


@shared_task(name="omnishop.core.tasks.purge_expired_idempotency_keys")
def purge_expired_idempotency_keys() -> int:
    return idempotency.purge_expired()
