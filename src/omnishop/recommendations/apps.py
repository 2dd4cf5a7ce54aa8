from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "omnishop.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        from omnishop.orders.services import on_order_paid, on_past_orders_recorded

        from .services.order_events import record_order_purchases, record_past_purchases

        # Purchases come from orders too; orders never import recommendations (see docs/ARCHITECTURE.md).
        on_order_paid(record_order_purchases)
        # And from imported order history (recent enough to be kept).
        on_past_orders_recorded(record_past_purchases)
