"""`omnishop feeds`: every web, social and marketplace channel's feed URLs, with their secret tokens."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from omnishop.feeds import services
from omnishop.feeds.models import ChannelFeed


class Command(BaseCommand):
    help = "Print each channel's catalogue feed URLs (Meta CSV, Google XML), creating missing feeds."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://localhost:8000", help="Scheme and host of the site."
        )
        parser.add_argument("--rotate", metavar="CHANNEL", help="Give this channel's feed a new token first.")

    def handle(self, *args, base_url: str, rotate: str | None, **options):
        feeds = services.ensure_feeds()
        if rotate:
            feed = ChannelFeed.objects.select_related("channel").filter(channel__code=rotate).first()
            if feed is None:
                raise CommandError(f"No feed for channel '{rotate}'.")
            services.rotate_token(feed=feed)
            feeds = services.ensure_feeds()
        base = base_url.rstrip("/")
        for feed in feeds:
            self.stdout.write(f"{feed.channel.code} ({feed.channel.get_kind_display()})")
            for name, path in services.feed_paths(feed).items():
                self.stdout.write(f"  {name:<11} {base}{path}")
