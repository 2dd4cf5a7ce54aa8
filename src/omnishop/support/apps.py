from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "omnishop.support"
    label = "support"
    verbose_name = "Support desk"

    def ready(self) -> None:
        from . import inbound  # noqa: F401  (connects anymail's inbound signal to the e-mail service)
        from .services import email_out, register_sender

        register_sender("email", email_out.send)
        self._forget_inboxes_on_change()

    def _forget_inboxes_on_change(self) -> None:
        """Inbound e-mail keeps the e-mail inboxes in memory: an edit of one, or of what it carries along
        (SLA policy, team, channel), drops them."""
        from django.db.models.signals import post_delete, post_save

        from omnishop.channels.models import Channel

        from .models import Inbox, SlaPolicy, Team
        from .services.email_in import forget_inboxes

        for model in (Inbox, SlaPolicy, Team, Channel):
            for signal in (post_save, post_delete):
                signal.connect(forget_inboxes, sender=model, dispatch_uid=f"support.inboxes.{model.__name__}")
