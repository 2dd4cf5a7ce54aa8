"""Background jobs owned by core."""

from celery import shared_task

from . import idempotency, outbox, ratelimit


@shared_task(name="omnishop.core.tasks.purge_expired_idempotency_keys")
def purge_expired_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task(name="omnishop.core.tasks.purge_rate_counters")
def purge_rate_counters() -> int:
    """Hourly: rate-limit windows and marks that ended more than an hour ago (the embedded default's)."""
    return ratelimit.purge_expired()


@shared_task(name="omnishop.core.tasks.relay")
def relay() -> int:
    """A sweep of the outbox relay (the `omnishop relay` processes do the low-latency work)."""
    total = 0
    while (work := outbox.run_once()) and total < 50_000:
        total += work
    return total


@shared_task(name="omnishop.core.tasks.purge_outbox")
def purge_outbox() -> int:
    return outbox.purge_dispatched()
