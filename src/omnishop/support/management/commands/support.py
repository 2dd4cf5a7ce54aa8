"""`omnishop support export|erase --customer ID`: a customer's support data on request, from a terminal."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from omnishop.core.errors import DomainError
from omnishop.customers import services as customers
from omnishop.support.services import privacy


class Command(BaseCommand):
    help = "Export a customer's support conversations as JSON, or erase them (anonymised shells stay)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
        export = sub.add_parser(
            "export", help="Print the customer's conversations, messages and calls as JSON."
        )
        export.add_argument("--customer", type=int, required=True)
        erase = sub.add_parser("erase", help="Erase what identifies the customer in their conversations.")
        erase.add_argument("--customer", type=int, required=True)
        erase.add_argument("--yes", action="store_true", help="Do it (without it: say what would be erased).")

    def handle(self, *args, **options) -> None:
        try:
            customer = customers.get_customer(options["customer"])
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        if options["action"] == "export":
            self.stdout.write(
                json.dumps(privacy.export_customer(customer=customer), indent=2, ensure_ascii=False)
            )
            return
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
