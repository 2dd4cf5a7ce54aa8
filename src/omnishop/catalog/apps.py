from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "omnishop.catalog"
    label = "catalog"
    verbose_name = "Catalog"
