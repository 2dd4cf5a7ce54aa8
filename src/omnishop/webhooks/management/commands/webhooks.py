"""`omnishop webhooks create|list|rotate|ping|resume|replay|deliver` — manage outgoing webhooks."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from omnishop.channels.services import get_channel
from omnishop.core.errors import DomainError
from omnishop.webhooks import services
from omnishop.webhooks.events import EVENT_TYPES
from omnishop.webhooks.models import WebhookEndpoint


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not an ISO-8601 time: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Manage webhook endpoints and replay deliveries. Secrets are printed once, at creation and rotation."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="subscribe a URL to event types")
        create.add_argument("url")
        create.add_argument(
            "--type",
            action="append",
            dest="event_types",
            default=[],
            help=f"repeatable; '*', a family like 'order.*', or one of: {', '.join(EVENT_TYPES)}",
        )
        owner = create.add_mutually_exclusive_group(required=True)
        owner.add_argument("--channel", help="owning channel code (gets only that channel's events)")
        owner.add_argument(
            "--app", dest="app_name", help="app name for a staff-level endpoint (every channel)"
        )
        create.add_argument("--description", default="")
        listing = sub.add_parser("list", help="list endpoints (never their secrets)")
        listing.add_argument("--channel")
        for name, text in (
            ("rotate", "new secret (printed once); the old one signs too for 24 h"),
            ("ping", "queue a webhook.ping event for the endpoint"),
            ("resume", "send again after a pause or a 410"),
        ):
            sub.add_parser(name, help=text).add_argument("endpoint", type=int)
        replay = sub.add_parser(
            "replay", help="send deliveries again (one, or an endpoint's in a time range)"
        )
        target = replay.add_mutually_exclusive_group(required=True)
        target.add_argument("--delivery", type=int)
        target.add_argument("--endpoint", type=int)
        replay.add_argument("--since", type=_when, help="with --endpoint: created at or after (ISO-8601)")
        replay.add_argument("--until", type=_when, help="with --endpoint: created before (default: now)")
        replay.add_argument("--status", action="append", default=[], help="repeatable: only these statuses")
        deliver = sub.add_parser(
            "deliver", help="send what is due now, once (the relay does this continuously)"
        )
        deliver.add_argument("--limit", type=int, default=100)

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _create(self, *, url, event_types, channel, app_name, description, **_):
        issued = services.create_endpoint(
            url=url,
            event_types=event_types or ["*"],
            channel=get_channel(channel) if channel else None,
            app_name=app_name or "",
            description=description,
        )
        self.stdout.write(f"{issued.secret}\n")
        self.stderr.write(
            f"Endpoint #{issued.endpoint.pk} for {issued.endpoint.url} ({', '.join(issued.endpoint.event_types)}). "
            "The secret above signs every delivery: store it now, it is not shown again.\n"
        )

    def _list(self, *, channel, **_):
        endpoints = WebhookEndpoint.objects.select_related("channel").order_by("id")
        if channel:
            endpoints = endpoints.filter(channel__code=channel)
        for e in endpoints:
            owner = e.channel.code if e.channel_id else f"app:{e.app_name}"
            self.stdout.write(
                f"{e.pk}\t{owner}\t{e.state}\t{e.url}\t{','.join(e.event_types)}\t{e.consecutive_failures}\n"
            )

    def _rotate(self, *, endpoint, **_):
        issued = services.rotate_secret(endpoint=services.get_endpoint(endpoint))
        self.stdout.write(f"{issued.secret}\n")
        self.stderr.write(
            f"New secret for endpoint #{endpoint}; the previous one also signs until "
            f"{issued.endpoint.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC. Store it now.\n"
        )

    def _ping(self, *, endpoint, **_):
        delivery = services.ping(endpoint=services.get_endpoint(endpoint))
        self.stdout.write(f"Queued ping {delivery.event_id} (delivery {delivery.pk}).\n")

    def _resume(self, *, endpoint, **_):
        resumed = services.resume_endpoint(endpoint=services.get_endpoint(endpoint))
        self.stdout.write(f"Endpoint #{resumed.pk} is {resumed.state}.\n")

    def _replay(self, *, delivery, endpoint, since, until, status, **_):
        if delivery:
            replayed = services.replay_delivery(delivery_id=delivery)
            self.stdout.write(f"Delivery {replayed.pk} ({replayed.event_id}) queued again.\n")
            return
        if since is None:
            raise CommandError("--endpoint needs --since.")
        count = services.replay_range(
            endpoint=services.get_endpoint(endpoint), since=since, until=until, statuses=status
        )
        self.stdout.write(f"{count} delivery(ies) queued again.\n")

    def _deliver(self, *, limit, **_):
        self.stdout.write(f"{services.deliver_due(limit=limit)} delivery(ies) attempted.\n")
