from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "omnishop.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        from omnishop.orders.services import on_order_paid

        from .services.order_events import record_order_purchases

        # Purchases come from orders too; orders never import recommendations (see docs/ARCHITECTURE.md).
        on_order_paid(record_order_purchases)
