"""What a relay loop costs while idle and per delivered event, independent of machine load: SQL statements.

In one process, on the database of DATABASE_URL (PostgreSQL: the LISTEN case needs it): `outbox.loop` runs in
the main thread with a statement counter on its connection, in three modes —
- `poll-10ms`: no LISTEN, 10 ms idle poll, no coalescing (what the events.delivery benchmark ran before ADR 0042);
- `poll-500ms`: no LISTEN, the OMNISHOP_RELAY_POLL default (what `omnishop relay` did before);
- `listen`: LISTEN/NOTIFY, OMNISHOP_RELAY_IDLE_POLL fallback (2 s), OMNISHOP_RELAY_COALESCE (10 ms).
For each: statements per idle second (nothing to do for `seconds`), then statements per delivered event while
a producer thread commits `rate` events/s (one per transaction) to one endpoint at a local receiver.

    DATABASE_URL=postgres://… PYTHONPATH=src .venv/bin/python bench/measure_relay_idle.py [seconds] [rate]
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _mode(settings, name: str) -> float | None:
    settings.OMNISHOP_RELAY_LISTEN_URL = ""
    settings.OMNISHOP_DB_POOLER = (
        "" if name == "listen" else "pgbouncer"
    )  # "pgbouncer": the relay cannot LISTEN
    settings.OMNISHOP_RELAY_COALESCE = 0.01 if name == "listen" else 0.0
    return {"poll-10ms": 0.01, "poll-500ms": 0.5, "listen": None}[name]


def measure(name: str, seconds: float, rate: int, port: int) -> dict:
    from django.conf import settings
    from django.db import close_old_connections, connection, transaction

    from omnishop.core import outbox
    from omnishop.webhooks.models import WebhookDelivery

    poll = _mode(settings, name)
    count = [0]

    def counter(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        outbox.loop(poll=poll, until=time.monotonic() + 1.0)  # settle: what was due is done
        count[0] = 0
        outbox.loop(poll=poll, until=time.monotonic() + seconds)
        idle = count[0] / seconds
        before = WebhookDelivery.objects.filter(status="succeeded").count()
        stop = threading.Event()
        produced = [0]

        def produce():
            gap = 1.0 / rate
            next_at = time.monotonic()
            while not stop.is_set():
                with transaction.atomic():
                    outbox.emit(
                        "product.updated", aggregate_type="product", aggregate_id=f"idle-{time.time_ns() % 50}",
                        payload={"n": 1},
                    )  # fmt: skip
                produced[0] += 1
                next_at += gap
                time.sleep(max(next_at - time.monotonic(), 0))
            close_old_connections()

        producer = threading.Thread(target=produce)
        producer.start()
        count[0] = 0
        outbox.loop(poll=poll, until=time.monotonic() + seconds)
        stop.set()
        producer.join()
        done = WebhookDelivery.objects.filter(status="succeeded")
        deadline = time.monotonic() + 30
        while done.count() - before < produced[0] and time.monotonic() < deadline:  # the tail
            outbox.loop(poll=poll, until=time.monotonic() + 0.5)
        statements = count[0]  # with the tail's few progress checks
    delivered = done.count() - before
    return {"mode": name, "idle_statements_per_s": idle, "statements_per_event": statements / max(delivered, 1),
            "delivered": delivered, "produced": produced[0]}  # fmt: skip


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    from bench.measure_delivery_cost import _Receiver
    from bench.worker import setup_django

    os.environ.setdefault("OMNISHOP_EGRESS_ALLOW_LOOPBACK", "1")
    os.environ.setdefault("OMNISHOP_RELAY", "off")
    os.environ.setdefault("OMNISHOP_SCHEDULER", "off")
    setup_django(os.environ["DATABASE_URL"], debug=None)
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True
    settings.OMNISHOP_RELAY_WORKERS = [w for w in settings.OMNISHOP_RELAY_WORKERS]
    from omnishop.core.models import OutboxEvent
    from omnishop.webhooks.models import WebhookEndpoint
    from omnishop.webhooks.services import create_endpoint

    OutboxEvent.objects.filter(dispatched_at__isnull=True).delete()
    receiver = _Receiver()
    try:
        WebhookEndpoint.objects.filter(app_name="idle-probe").delete()
        create_endpoint(
            url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["product.*"], app_name="idle-probe"
        )
        for name in ("poll-10ms", "poll-500ms", "listen"):
            r = measure(name, seconds, rate, receiver.port)
            print(f"{r['mode']:11s} idle statements/s {r['idle_statements_per_s']:8.1f}   "
                  f"statements/delivered event {r['statements_per_event']:6.2f}   delivered {r['delivered']} of {r['produced']}")  # fmt: skip
        WebhookEndpoint.objects.filter(app_name="idle-probe").delete()
    finally:
        receiver.process.terminate()


if __name__ == "__main__":
    main()
