from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "omnishop.backoffice"
    label = "backoffice"
    verbose_name = "Back-office"

    def ready(self) -> None:
        from django.contrib import admin

        from .analytics import rollups

        rollups.connect()  # the dashboard's rollups follow every order change (docs/backoffice.md#analytics)

        admin.site.site_header = "Omnishop back-office"
        admin.site.site_title = "Omnishop"
        admin.site.index_title = "One customer, one catalog, one stock — every channel"
