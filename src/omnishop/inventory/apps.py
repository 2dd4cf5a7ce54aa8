from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "omnishop.inventory"
    label = "inventory"
    verbose_name = "Inventory"
