"""`omnishop apikey create|list|revoke` — manage channel API keys from the command line."""

from django.core.management.base import BaseCommand, CommandError

from omnishop.channels import services
from omnishop.channels.models import ApiKey
from omnishop.core.errors import DomainError


class Command(BaseCommand):
    help = "Create, list or revoke channel API keys. The secret is printed once, at creation."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a key for a channel")
        create.add_argument("channel", help="channel code")
        create.add_argument("--name", default="cli")
        create.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            default=[],
            help=f"repeatable; one of: {', '.join(ApiKey.SCOPE_NAMES)}",
        )
        create.add_argument(
            "--all-scopes",
            action="store_true",
            help="every channel scope; master-data scopes (catalog:master) only when named with --scope",
        )
        listing = sub.add_parser("list", help="list keys (never their secrets)")
        listing.add_argument("channel", nargs="?")
        revoke = sub.add_parser("revoke", help="revoke a key by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _create(self, *, channel, name, scopes, all_scopes, **_):
        issued = services.issue_api_key(
            channel=services.get_channel(channel),
            name=name,
            scopes=[*ApiKey.CHANNEL_SCOPE_NAMES, *scopes] if all_scopes else scopes,
        )
        self.stdout.write(f"{issued.secret}\n")
        self.stderr.write(
            f"Key {issued.api_key.prefix} for {channel} with scopes "
            f"{', '.join(issued.api_key.scopes)}. Store it now: it is not shown again.\n"
        )

    def _list(self, *, channel, **_):
        keys = ApiKey.objects.select_related("channel").order_by("channel__code", "-created_at")
        if channel:
            keys = keys.filter(channel__code=channel)
        for key in keys:
            state = "revoked" if key.revoked_at else "active"
            self.stdout.write(
                f"{key.prefix}\t{key.channel.code}\t{state}\t{key.name}\t{','.join(key.scopes)}\n"
            )

    def _revoke(self, *, prefix, **_):
        api_key = ApiKey.objects.filter(prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"No key with prefix {prefix}.")
        services.revoke_api_key(api_key=api_key)
        self.stdout.write(f"Revoked {prefix}.\n")
