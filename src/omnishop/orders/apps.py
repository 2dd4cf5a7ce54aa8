from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "omnishop.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from omnishop.customers.services import register_360_section
        from omnishop.inventory.services import on_stock_arrived
        from omnishop.payments.services import on_payment_changed

        from .services import orders_for_customer
        from .services.exceptions import backorders_after_arrival
        from .services.payment_events import payment_changed

        on_payment_changed(payment_changed)
        on_stock_arrived(backorders_after_arrival)
        register_360_section("orders", orders_for_customer)
