"""`omnishop support poll-imap|resend-email`: the support desk's e-mail jobs from a terminal (or cron)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from omnishop.support import services


class Command(BaseCommand):
    help = "Support desk jobs: read the IMAP mailbox, send failed e-mail replies again."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
        poll = sub.add_parser(
            "poll-imap", help="Receive the unseen messages of OMNISHOP_SUPPORT_IMAP_* once."
        )
        poll.add_argument("--limit", type=int, default=200, help="At most this many messages per run.")
        sub.add_parser("resend-email", help="Send the e-mail replies whose sending failed again.")

    def handle(self, *args, **options) -> None:
        if options["action"] == "poll-imap":
            config = services.imap_config()
            if config is None:
                raise CommandError("Set OMNISHOP_SUPPORT_IMAP_HOST (and _USER, _PASSWORD) to poll a mailbox.")
            result = services.poll_imap(config=config, limit=options["limit"])
            self.stdout.write(
                f"{result.fetched} fetched: {result.stored} stored, {result.events} kept as events, "
                f"{result.dropped} dropped, {result.refused} refused"
            )
        else:
            self.stdout.write(f"{services.resend_failed()} e-mail replies sent again")
