"""`omnishop inventory verify` (ledger check, exits 1 on a mismatch) and `omnishop inventory expire`."""

from django.core.management.base import BaseCommand, CommandError

from omnishop.catalog.models import Variant
from omnishop.inventory import services
from omnishop.inventory.models import StockLocation


class Command(BaseCommand):
    help = "Inventory maintenance: verify the ledger, expire reservations."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "verify", help="Check every stock level against its ledger and holds; exit 1 on a mismatch."
        )
        sub.add_parser("expire", help="Release reservations past their TTL now.")

    def handle(self, *args, action: str, **options):
        if action == "expire":
            self.stdout.write(f"Expired {services.expire_reservations()} reservation(s).")
            return
        mismatches = services.verify_ledger()
        if not mismatches:
            self.stdout.write(
                self.style.SUCCESS("Ledger verified: every stock level matches its movements and holds.")
            )
            return
        skus = dict(
            Variant.objects.filter(pk__in={m.variant_id for m in mismatches}).values_list("pk", "sku")
        )
        codes = dict(StockLocation.objects.values_list("pk", "code"))
        for m in mismatches:
            self.stderr.write(
                f"{skus.get(m.variant_id, m.variant_id)} @ {codes.get(m.location_id, m.location_id)}: "
                f"{m.what} is {m.recorded}, the ledger says {m.expected}"
            )
        raise CommandError(f"{len(mismatches)} mismatch(es) between stock levels and the ledger.")
