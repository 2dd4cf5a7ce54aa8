"""Background jobs of the inventory context, thin wrappers around its services."""

from celery import shared_task

from . import services


@shared_task(name="omnishop.inventory.tasks.expire_reservations")
def expire_reservations() -> int:
    """Put stock held by abandoned checkouts back on sale (every minute, see settings)."""
    return services.expire_reservations()


@shared_task(name="omnishop.inventory.tasks.replenish")
def replenish() -> int:
    """Nightly: draft purchase orders for everything under its reorder point."""
    return len(services.create_replenishment_orders(actor="system"))
