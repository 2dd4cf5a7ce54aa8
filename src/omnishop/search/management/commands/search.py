"""`omnishop search reindex` — rebuild the product search index (it also refreshes itself on each search)."""

from django.core.management.base import BaseCommand

from omnishop.search import services


class Command(BaseCommand):
    help = "Product search: rebuild the index."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("reindex", help="Index every product again.")

    def handle(self, *args, **options):
        count = services.index_products()
        self.stdout.write(f"indexed {count} products")
