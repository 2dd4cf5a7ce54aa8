from django.apps import AppConfig


class DatahubConfig(AppConfig):
    name = "omnishop.datahub"
    label = "datahub"
    verbose_name = "Data hub"
