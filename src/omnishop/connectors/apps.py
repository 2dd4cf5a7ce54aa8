from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "omnishop.connectors"
    label = "connectors"
    verbose_name = "Channel connectors"
