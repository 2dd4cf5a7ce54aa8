from django.apps import AppConfig


class TillsConfig(AppConfig):
    name = "omnishop.tills"
    label = "tills"
    verbose_name = "Store tills"
