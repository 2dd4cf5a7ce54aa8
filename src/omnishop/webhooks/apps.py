from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "omnishop.webhooks"
    label = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from . import errors  # noqa: F401  (every error code is loaded with the app, see core.errors)
