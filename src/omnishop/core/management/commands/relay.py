"""`omnishop relay`: deliver the outbox — events to webhook endpoints and channel connectors.

`omnishop serve` runs the same loop in a thread of each worker in the embedded default; with Redis (or
OMNISHOP_RELAY=off) run one or more of these processes beside the web servers. Any number may run at once
on one database: each event is fanned out once and each delivery is claimed by one relay (core/outbox.py).
"""

from __future__ import annotations

import contextlib

from django.core.management.base import BaseCommand

from omnishop.core import outbox


class Command(BaseCommand):
    help = "Relay outbox events to webhooks and connectors until stopped (or once with --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Relay what is due now, then exit.")
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="Seconds to wait when there is no work (default: OMNISHOP_RELAY_IDLE_POLL while it LISTENs "
            "on PostgreSQL, else OMNISHOP_RELAY_POLL).",
        )

    def handle(self, *args, **options):
        if options["once"]:
            total = 0
            while work := outbox.run_once():
                total += work
            self.stdout.write(f"relayed: {total} unit(s) of work")
            return
        with contextlib.suppress(KeyboardInterrupt):
            outbox.loop(poll=options["poll"])
