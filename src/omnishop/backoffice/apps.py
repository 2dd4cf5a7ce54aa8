from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "omnishop.backoffice"
    label = "backoffice"
    verbose_name = "Back-office"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "Omnishop back-office"
        admin.site.site_title = "Omnishop"
        admin.site.index_title = "One customer, one catalog, one stock — every channel"
