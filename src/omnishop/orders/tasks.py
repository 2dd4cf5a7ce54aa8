"""Background jobs of the orders context (thin wrappers around services)."""

from celery import shared_task

from . import services


@shared_task
def allocate_backorders() -> int:
    """Give newly received stock to backordered orders, oldest first."""
    return len(services.allocate_backorders())
