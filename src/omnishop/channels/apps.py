from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "omnishop.channels"
    label = "channels"
    verbose_name = "Sales channels"
