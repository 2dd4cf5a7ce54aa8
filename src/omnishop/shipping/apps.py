from django.apps import AppConfig


class ShippingConfig(AppConfig):
    name = "omnishop.shipping"
    label = "shipping"
    verbose_name = "Shipping and tracking"
