from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "omnishop.support"
    label = "support"
    verbose_name = "Support desk"

    def ready(self) -> None:
        from . import inbound  # noqa: F401  (connects anymail's inbound signal to the e-mail service)
        from .services import email_out, register_sender

        register_sender("email", email_out.send)
