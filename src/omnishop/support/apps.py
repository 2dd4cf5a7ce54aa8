from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "omnishop.support"
    label = "support"
    verbose_name = "Support desk"
