from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "omnishop.payments"
    label = "payments"
    verbose_name = "Payments"
