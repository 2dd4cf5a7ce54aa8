"""Background jobs of the payments context, thin wrappers around its services."""

from celery import shared_task

from . import services


@shared_task(name="omnishop.payments.tasks.settle_unknown_attempts")
def settle_unknown_attempts() -> dict[str, int]:
    """Every minute: give back money a provider took for an attempt whose answer was lost."""
    return services.settle_unknown_attempts()
