from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "omnishop.customers"
    label = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from . import (
            accounts,  # noqa: F401  (connects the allauth receivers)
            events,  # noqa: F401  (customer.created on every new customer)
        )
