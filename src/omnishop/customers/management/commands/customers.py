"""`omnishop customers find-duplicates|merge|unmerge|not-duplicate`: the duplicate-customer workflow from a terminal."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from omnishop.core.errors import DomainError
from omnishop.customers import services


class Command(BaseCommand):
    help = "Find duplicate customers, merge two customers, or undo a merge."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
        find = sub.add_parser("find-duplicates", help="List probable duplicate pairs, best first.")
        find.add_argument(
            "--min-score", type=float, default=0.8, help="Only pairs scoring at least this (0-1)."
        )
        find.add_argument("--limit", type=int, default=None)
        find.add_argument("--json", action="store_true", help="One JSON document instead of a table.")
        merge = sub.add_parser("merge", help="Merge MERGED into SURVIVOR (customer ids).")
        merge.add_argument("survivor", type=int)
        merge.add_argument("merged", type=int)
        merge.add_argument("--reason", default="")
        unmerge = sub.add_parser("unmerge", help="Undo the merge MERGE_ID.")
        unmerge.add_argument("merge_id", type=int)
        distinct = sub.add_parser("not-duplicate", help="Stop proposing customers A and B as duplicates.")
        distinct.add_argument("customer_a", type=int)
        distinct.add_argument("customer_b", type=int)
        distinct.add_argument("--note", default="")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _find_duplicates(self, options) -> None:
        if not 0 <= options["min_score"] <= 1:
            raise CommandError("--min-score must be between 0 and 1.")
        pairs = services.find_duplicates(min_score=options["min_score"], limit=options["limit"])
        if options["json"]:
            self.stdout.write(json.dumps([p.as_dict() for p in pairs], indent=2))
            return
        if not pairs:
            self.stdout.write(f"No duplicate pairs scoring {options['min_score']} or more.")
            return
        self.stdout.write(f"{'score':>5}  {'a':>8}  {'b':>8}  reasons")
        for pair in pairs:
            self.stdout.write(
                f"{pair.score:5.2f}  {pair.customer_a:>8}  {pair.customer_b:>8}  {'; '.join(pair.reasons)}"
            )
        self.stdout.write(f"{len(pairs)} pair(s).")

    def _merge(self, options) -> None:
        record = services.merge_customers(
            survivor=services.get_customer(options["survivor"]),
            merged=services.get_customer(options["merged"]),
            actor_label="cli",
            reason=options["reason"] or "merged from the command line",
        )
        moved = sum(len(group["pks"]) for group in record.snapshot["moved"])
        self.stdout.write(
            f"Merged customer {record.merged_id} into {record.survivor_id} (merge {record.pk}, {moved} row(s) moved)."
        )

    def _unmerge(self, options) -> None:
        record = services.undo_merge(record=services.get_merge_record(options["merge_id"]))
        self.stdout.write(f"Undid merge {record.pk}: customer {record.merged_id} is separate again.")

    def _not_duplicate(self, options) -> None:
        pair = services.mark_distinct(
            customer_a=services.get_customer(options["customer_a"]),
            customer_b=services.get_customer(options["customer_b"]),
            note=options["note"] or "marked distinct from the command line",
        )
        self.stdout.write(
            f"Customers {pair.customer_a_id} and {pair.customer_b_id} are marked as different people."
        )
