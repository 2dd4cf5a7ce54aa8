"""`omnishop rebuild_product_cards`: every product card again from the catalogue (ADR 0059).

Triggers keep the cards in every writing transaction; this is for after something went around them (a
restore of some tables only, triggers disabled for a bulk load). PostgreSQL only; on SQLite there are no cards.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from omnishop.storefront import cards


class Command(BaseCommand):
    help = "Rebuild the storefront's per-channel product cards from the catalogue (PostgreSQL)."

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Product cards exist on PostgreSQL only; SQLite reads the catalogue tables.")
        count = cards.rebuild_cards()
        if options["verbosity"]:
            self.stdout.write(f"{count} product cards rebuilt.")
