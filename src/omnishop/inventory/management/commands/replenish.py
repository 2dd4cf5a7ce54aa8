"""`omnishop replenish`: draft purchase orders, grouped by supplier, for everything under its reorder point."""

from django.core.management.base import BaseCommand

from omnishop.inventory import services


class Command(BaseCommand):
    help = "Create draft purchase orders from sales velocity, lead times and safety stock."

    def add_arguments(self, parser):
        parser.add_argument("--location", help="Only this stock location (code).")
        parser.add_argument("--window-days", type=int, default=28, help="Sales history to use (default 28).")
        parser.add_argument(
            "--service-level", type=float, default=0.95, help="Cycle service level (default 0.95)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Print the suggestions, create nothing.")

    def handle(self, *args, location=None, window_days=28, service_level=0.95, dry_run=False, **options):
        where = services.location_by_code(location) if location else None
        if dry_run:
            for s in services.suggest_replenishment(
                location=where, window_days=window_days, service_level=service_level
            ):
                self.stdout.write(
                    f"{s.sku} @ {s.location}: {s.quantity} from {s.supplier} "
                    f"(velocity {s.daily_velocity}/day, ROP {s.reorder_point}, position {s.position})"
                )
            return
        orders = services.create_replenishment_orders(
            location=where, window_days=window_days, service_level=service_level, actor="cli"
        )
        for order in orders:
            self.stdout.write(
                f"{order.number}: {order.supplier.code} → {order.location.code}, {order.lines.count()} line(s)"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(orders)} draft purchase order(s) created."))
