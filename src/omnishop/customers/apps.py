from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "omnishop.customers"
    label = "customers"
    verbose_name = "Customers"
