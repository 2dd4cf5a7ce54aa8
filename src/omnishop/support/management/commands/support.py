"""`omnishop support export|erase --customer ID` (a customer's support data on request) and
`omnishop support seed-canned|take-over-contact|run-jobs|csat|poll-imap|resend-email` (the desk's housekeeping)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from omnishop.core.errors import DomainError
from omnishop.customers import services as customers
from omnishop.support import services
from omnishop.support.services import canned, contact, csat, jobs, privacy


class Command(BaseCommand):
    help = "Support desk: export or erase a customer's conversations; canned replies, contact backlog, jobs, CSAT."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
        export = sub.add_parser(
            "export", help="Print the customer's conversations, messages and calls as JSON."
        )
        export.add_argument("--customer", type=int, required=True)
        erase = sub.add_parser("erase", help="Erase what identifies the customer in their conversations.")
        erase.add_argument("--customer", type=int, required=True)
        erase.add_argument("--yes", action="store_true", help="Do it (without it: say what would be erased).")
        sub.add_parser(
            "seed-canned", help="Add the starter canned replies (English, Chinese) that are missing."
        )
        sub.add_parser(
            "take-over-contact", help="Make every contact-form message not yet on the desk a conversation."
        )
        sub.add_parser("run-jobs", help="Run the desk's periodic jobs once (the scheduler runs them anyway).")
        sub.add_parser("csat", help="Satisfaction per inbox and per agent.")
        poll = sub.add_parser(
            "poll-imap", help="Receive the unseen messages of OMNISHOP_SUPPORT_IMAP_* once."
        )
        poll.add_argument("--limit", type=int, default=200, help="At most this many messages per run.")
        sub.add_parser("resend-email", help="Send the e-mail replies whose sending failed again.")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _export(self, options) -> None:
        customer = customers.get_customer(options["customer"])
        self.stdout.write(
            json.dumps(privacy.export_customer(customer=customer), indent=2, ensure_ascii=False)
        )

    def _erase(self, options) -> None:
        customer = customers.get_customer(options["customer"])
        if not options["yes"]:
            found = privacy.export_customer(customer=customer)["conversations"]
            self.stdout.write(
                f"Would erase {len(found)} conversation(s) of customer {customer.pk}; run again with --yes."
            )
            return
        done = privacy.erase_customer(customer=customer)
        self.stdout.write(
            f"Erased customer {customer.pk}'s support data: {done.conversations} conversation(s), "
            f"{done.messages} message(s), {done.attachments} attachment(s), {done.calls} call(s)."
        )

    def _seed_canned(self, options) -> None:
        self.stdout.write(f"{canned.ensure_canned_replies()} canned replies added.")

    def _take_over_contact(self, options) -> None:
        self.stdout.write(f"{contact.take_over_all()} contact messages taken over.")

    def _run_jobs(self, options) -> None:
        for name, count in jobs.run_all().items():
            self.stdout.write(f"{name}: {count}")

    def _csat(self, options) -> None:
        for group, rows in csat.figures().items():
            self.stdout.write(group)
            for row in rows:
                average = "-" if row.average is None else f"{row.average:.2f}"
                self.stdout.write(f"  {row.name:<30} {average:>5}  {row.responses}/{row.resolved} rated")

    def _poll_imap(self, options) -> None:
        config = services.imap_config()
        if config is None:
            raise CommandError("Set OMNISHOP_SUPPORT_IMAP_HOST (and _USER, _PASSWORD) to poll a mailbox.")
        result = services.poll_imap(config=config, limit=options["limit"])
        self.stdout.write(
            f"{result.fetched} fetched: {result.stored} stored, {result.events} kept as events, "
            f"{result.dropped} dropped, {result.refused} refused"
        )

    def _resend_email(self, options) -> None:
        self.stdout.write(f"{services.resend_failed()} e-mail replies sent again")
