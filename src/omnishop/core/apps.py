from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "omnishop.core"
    label = "core"
    verbose_name = "Core"
