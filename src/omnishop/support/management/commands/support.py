"""`omnishop support seed-canned|take-over-contact|run-jobs|csat`: the desk's housekeeping from a terminal."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from omnishop.core.errors import DomainError
from omnishop.support.services import canned, contact, csat, jobs


class Command(BaseCommand):
    help = "Support desk housekeeping: starter canned replies, contact-form backlog, periodic jobs, CSAT."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
        sub.add_parser(
            "seed-canned", help="Add the starter canned replies (English, Chinese) that are missing."
        )
        sub.add_parser(
            "take-over-contact", help="Make every contact-form message not yet on the desk a conversation."
        )
        sub.add_parser("run-jobs", help="Run the desk's periodic jobs once (the scheduler runs them anyway).")
        sub.add_parser("csat", help="Satisfaction per inbox and per agent.")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))()
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _seed_canned(self) -> None:
        self.stdout.write(f"{canned.ensure_canned_replies()} canned replies added.")

    def _take_over_contact(self) -> None:
        self.stdout.write(f"{contact.take_over_all()} contact messages taken over.")

    def _run_jobs(self) -> None:
        for name, count in jobs.run_all().items():
            self.stdout.write(f"{name}: {count}")

    def _csat(self) -> None:
        for group, rows in csat.figures().items():
            self.stdout.write(group)
            for row in rows:
                average = "-" if row.average is None else f"{row.average:.2f}"
                self.stdout.write(f"  {row.name:<30} {average:>5}  {row.responses}/{row.resolved} rated")
