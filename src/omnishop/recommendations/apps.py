from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "omnishop.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from omnishop.core import outbox
        from omnishop.orders.models import OrderEvent
        from omnishop.orders.services import on_past_orders_recorded

        from .services.attribution import on_order_event
        from .services.order_events import record_past_purchases
        from .services.sellable import catalogue_changed

        # Purchases come from orders too (orders never import recommendations, see docs/ARCHITECTURE.md): paid
        # orders through the outbox (services.order_events.sink in settings.OMNISHOP_OUTBOX_SINKS, ADR 0036),
        # imported order history (recent enough to be kept) from its import.
        on_past_orders_recorded(record_past_purchases)
        # A placed order's lines are attributed to the recommendations its shopper clicked, in the order's
        # transaction (its `placed` timeline entry; as the dashboard's rollups do).
        post_save.connect(on_order_event, sender=OrderEvent, dispatch_uid="recommendations.attribution")
        # What a channel sells changed (listing, product, import): serving's in-memory maps are rebuilt.
        outbox.on_emit(catalogue_changed)
