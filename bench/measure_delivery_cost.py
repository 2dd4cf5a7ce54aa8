"""What one delivered webhook costs the relay, independent of machine load: SQL statements and Python CPU.

In one process, on the database of DATABASE_URL (PostgreSQL for figures worth quoting): one endpoint
subscribed to `product.*` at a receiver on 127.0.0.1 (its own process: answers 204, keep-alive, counts
webhook-ids and TCP connections), `events` events over 200 products committed first, then `outbox.run_once()`
rounds (the relay with every configured sink and worker) until every delivery succeeded. Reports, per
delivered event, the statements the relay ran (CaptureQueriesContext, the progress check left out) and the
process CPU spent in `run_once` (time.process_time: the delivery threads included, the receiver not), median
over `repeat` runs; plus the relay rounds and the TCP connections the receiver saw (keep-alive reuse).

    DATABASE_URL=postgres://… PYTHONPATH=src .venv/bin/python bench/measure_delivery_cost.py [events] [repeat]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECEIVER = r"""
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
state = {"ids": set(), "connections": 0}
lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        with lock:
            state["connections"] += 1
    def log_message(self, *a): pass
    def do_GET(self):
        with lock:
            body = json.dumps({"count": len(state["ids"]), "connections": state["connections"]}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            state["ids"].add(self.headers.get("webhook-id"))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 128
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class _Receiver:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())  # type: ignore[union-attr]

    def stats(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats") as answer:
            return json.loads(answer.read())


def run(events: int, aggregates: int, receiver: _Receiver, tag: str) -> dict:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from omnishop.core import outbox
    from omnishop.webhooks.models import WebhookDelivery

    ids = []
    for n in range(events):
        with transaction.atomic():
            event = outbox.emit(
                "product.updated",
                aggregate_type="product",
                aggregate_id=f"cost-{tag}-{n % aggregates}",
                payload={"product_id": n, "title": f"Product {n}"},
            )
            ids.append(event.event_id)
    before = receiver.stats()
    done = WebhookDelivery.objects.filter(event_id__in=ids, status="succeeded")
    rounds, checks, cpu = 0, 0, 0.0
    deadline = time.monotonic() + 120
    with CaptureQueriesContext(connection) as queries:
        while time.monotonic() < deadline:
            started = time.process_time()
            outbox.run_once()
            cpu += time.process_time() - started
            rounds += 1
            checks += 1
            if done.count() == len(ids):
                break
    after = receiver.stats()
    if os.environ.get("SLOWEST"):  # the slowest statements, to see where the database time goes
        for query in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[
            : int(os.environ["SLOWEST"])
        ]:
            print(query["time"], query["sql"][:300])
    if os.environ.get("STATEMENTS"):  # the statements by their first words, most frequent first
        import collections
        import re

        shapes = collections.Counter(
            re.sub(r"\s+", " ", re.sub(r"'[^']*'|\b\d+\b", "?", q["sql"]))[:140]
            for q in queries.captured_queries
        )
        for shape, count in shapes.most_common(int(os.environ["STATEMENTS"])):
            print(f"{count:6d}  {shape}")
    delivered = after["count"] - before["count"]
    return {
        "delivered": delivered,
        "statements_per_event": (len(queries) - checks) / delivered,
        "cpu_ms_per_event": cpu * 1000 / delivered,
        "rounds": rounds,
        "receiver_connections": after["connections"] - before["connections"],
    }


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    from bench.worker import setup_django

    os.environ.setdefault("OMNISHOP_EGRESS_ALLOW_LOOPBACK", "1")
    os.environ.setdefault("OMNISHOP_RELAY", "off")
    os.environ.setdefault("OMNISHOP_SCHEDULER", "off")
    setup_django(os.environ["DATABASE_URL"], debug=None)
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True
    from omnishop.core.models import OutboxEvent
    from omnishop.webhooks.models import WebhookEndpoint
    from omnishop.webhooks.services import create_endpoint

    OutboxEvent.objects.filter(dispatched_at__isnull=True).delete()
    receiver = _Receiver()
    try:
        WebhookEndpoint.objects.filter(app_name="cost-probe").delete()
        create_endpoint(
            url=f"http://127.0.0.1:{receiver.port}/hook", event_types=["product.*"], app_name="cost-probe"
        )
        stamp = str(int(time.time()))
        results = [run(events, 200, receiver, f"{stamp}-{i}") for i in range(repeat)]
        for key in (
            "statements_per_event",
            "cpu_ms_per_event",
            "rounds",
            "receiver_connections",
            "delivered",
        ):
            values = [r[key] for r in results]
            print(f"{key:22s} median {statistics.median(values):8.2f}   runs {[round(v, 2) for v in values]}")
        WebhookEndpoint.objects.filter(app_name="cost-probe").delete()
    finally:
        receiver.process.terminate()


if __name__ == "__main__":
    main()
