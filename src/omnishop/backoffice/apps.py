from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy


def ensure_roles_after_migrate(sender, using="default", **kwargs) -> None:
    """After `migrate` (and a test database flush) the role groups match backoffice/roles.py.

    post_migrate is sent once per app; the roles are synced on the last app's, when every app's permissions
    exist (Django creates them in its own post_migrate handler, connected before this one)."""
    last = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
    if sender is not last or using != "default":
        return
    from .roles import ensure_roles

    ensure_roles()


class BackofficeConfig(AppConfig):
    name = "omnishop.backoffice"
    label = "backoffice"
    verbose_name = "Back-office"

    def ready(self) -> None:
        from django.contrib import admin

        from .analytics import rollups

        rollups.connect()  # the dashboard's rollups follow every order change (docs/backoffice.md#analytics)

        admin.site.site_header = gettext_lazy("Omnishop back-office")
        admin.site.site_title = "Omnishop"
        admin.site.index_title = gettext_lazy("One customer, one catalog, one stock — every channel")
        admin.site.index_template = "backoffice/home/admin_index.html"  # the Desks box above the models
        admin.site.login_template = "backoffice/home/admin_login.html"  # staff land on /admin/ops/
        post_migrate.connect(ensure_roles_after_migrate, dispatch_uid="backoffice.ensure_roles")
