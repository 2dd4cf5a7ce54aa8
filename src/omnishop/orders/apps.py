from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "omnishop.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from omnishop.customers.services import on_email_verified, register_360_section
        from omnishop.inventory.services import on_stock_arrived
        from omnishop.payments.services import on_payment_changed

        from .services import link_guest_orders, orders_for_customer
        from .services.exceptions import backorders_after_arrival
        from .services.payment_events import payment_changed

        on_payment_changed(payment_changed)
        on_stock_arrived(backorders_after_arrival)
        register_360_section("orders", orders_for_customer)
        on_email_verified(link_guest_orders)
