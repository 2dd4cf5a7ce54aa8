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


@shared_task(name="omnishop.inventory.tasks.purge_folded_stock_marks")
def purge_folded_stock_marks() -> int:
    """Hourly: stock marks already folded into outbox events are no longer needed after a day."""
    from .services.stock_events import purge_folded

    return purge_folded()
