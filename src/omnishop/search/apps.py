from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "omnishop.search"
    label = "search"
    verbose_name = "Search"
