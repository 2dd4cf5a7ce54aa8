from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "omnishop.storefront"
    label = "storefront"
    verbose_name = "Storefront (channel catalog read path)"
