"""`omnishop analytics rebuild`: recompute the dashboard's rollups from the orders (backfill and repair)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from omnishop.backoffice.analytics import rollups


class Command(BaseCommand):
    help = "Analytics rollups: `rebuild` recomputes them from orders, payments and returns."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["rebuild"])

    def handle(self, *args, action: str, **options) -> None:
        started = time.perf_counter()
        count = rollups.rebuild()
        self.stdout.write(
            f"Rebuilt the analytics rollups from {count} orders in {time.perf_counter() - started:.1f} s."
        )
