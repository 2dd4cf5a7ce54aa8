from django.apps import AppConfig


class FeedsConfig(AppConfig):
    name = "omnishop.feeds"
    label = "feeds"
    verbose_name = "Catalogue feeds"
