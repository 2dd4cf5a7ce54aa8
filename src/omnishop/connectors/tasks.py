"""Background jobs of the connectors, thin wrappers around their services (schedule in settings)."""

from celery import shared_task

from . import services


@shared_task(name="omnishop.connectors.tasks.reconcile_all")
def reconcile_all() -> int:
    """Nightly: compare what every channel shows with what it should show, and repair the drift."""
    return services.reconcile_all()


@shared_task(name="omnishop.connectors.tasks.pull_orders")
def pull_orders() -> int:
    """Every few minutes: queue an order pull per connection (the webhooks only make it sooner)."""
    return services.pull_all_connections()


@shared_task(name="omnishop.connectors.tasks.work_due")
def work_due() -> int:
    return services.work_due()
