"""connectors.stock_push: a sale on one channel → the new available quantity at the other channels' fakes.

On the benchmark PostgreSQL: 50 SKUs in one warehouse that serves three channels — `bench-push-web` (where the
sales happen), `bench-push-shopify` (connected to the fake Shopify, Admin GraphQL) and `bench-push-woo`
(connected to the fake WooCommerce, REST v3). The fakes run in this process (threads); a sampler reads their
stock every 20 ms. One `omnishop relay` process runs the whole outward path: stock marks folded into
coalesced `stock.availability_changed` events (window OMNISHOP_STOCK_EVENT_WINDOW, 1 s by default), the
connectors' sink and worker (token bucket 20 requests/s per connection, burst 40: the fakes' catalogues are
created first by a full sync). Two load processes place web checkouts through the orders service at 25
orders/s each (50/s in all), one random SKU per order.

Latency of a sale: from its commit to the first moment the channel's fake shows a quantity at or below what
was left after that sale (sales of one SKU ranked by commit time). p50/p99 per channel; a sale not reflected
within 30 s after the load stops counts as an error. No baseline: the floor is the coalescing window itself.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the load worker)
    sys.path.insert(0, str(ROOT))

from bench.harness import BenchContext, median, percentile  # noqa: E402
from bench.worker import setup_django  # noqa: E402

SKUS = [f"PUSH-{i:03d}" for i in range(50)]
STOCK = 1_000_000
WEB, SHOPIFY, WOO = "bench-push-web", "bench-push-shopify", "bench-push-woo"
LOCATION = "bench-push-wh"
RELAY = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from bench.worker import setup_django
setup_django(os.environ["BENCH_DATABASE_URL"], debug=None)
from omnishop.core import outbox
outbox.loop(until=time.monotonic() + float(sys.argv[2]))
"""


def _env() -> dict:
    env = os.environ.copy()
    env.update(OMNISHOP_EGRESS_ALLOW_LOOPBACK="1", OMNISHOP_RELAY="off", OMNISHOP_SCHEDULER="off")
    return env


def _seed(shopify_url: str, woo_url: str) -> None:
    from django.core.management import call_command

    from omnishop.catalog import listings
    from omnishop.catalog.models import Product, Variant
    from omnishop.channels.models import Channel
    from omnishop.channels.services import create_channel
    from omnishop.connectors import services as connectors
    from omnishop.connectors.models import ChannelConnection
    from omnishop.inventory import services as inventory
    from omnishop.inventory.models import StockLocation
    from omnishop.orders import services as orders
    from omnishop.orders.models import ShippingMethod

    call_command("migrate", verbosity=0)
    channels = {}
    for code, kind in ((WEB, "web"), (SHOPIFY, "social"), (WOO, "marketplace")):
        channels[code] = Channel.objects.filter(code=code).first() or create_channel(
            code=code, name=code, kind=kind, currency="GBP"
        )
    if not StockLocation.objects.filter(code=LOCATION).exists():
        inventory.create_location(code=LOCATION, name="Bench push warehouse")
    for channel in channels.values():
        inventory.set_channel_locations(channel=channel, location_codes=[LOCATION])
    if not ShippingMethod.objects.filter(channel=channels[WEB], code="std").exists():
        orders.create_shipping_method(
            channel=channels[WEB], code="std", name="Standard", kind="flat", price="0"
        )
        orders.set_tax_rate(channel=channels[WEB], country="GB", rate="0.20")
    product, _ = Product.objects.get_or_create(slug="bench-push", defaults={"title": "Bench push"})
    location = StockLocation.objects.get(code=LOCATION)
    for sku in SKUS:
        variant = Variant.objects.filter(sku=sku).first()
        if variant is None:
            variant = Variant.objects.create(product=product, sku=sku)
            inventory.receive_stock(variant=variant, location=location, quantity=STOCK, reference="bench")
        for channel in channels.values():
            listings.upsert_listing(channel=channel, variant=variant, price="10.00", is_published=True)
    # Fresh fakes every run: forget the id mappings and tasks of an earlier run.
    ChannelConnection.objects.filter(channel__code__in=[SHOPIFY, WOO]).delete()
    for code, kind, url, creds in (
        (
            SHOPIFY,
            "shopify",
            shopify_url,
            {"access_token": "shpat_demo", "location_id": "gid://shopify/Location/1"},
        ),
        (WOO, "woocommerce", woo_url, {"consumer_key": "ck_demo", "consumer_secret": "cs_demo"}),
    ):
        connection = connectors.connect_channel(
            channel=channels[code], kind=kind, base_url=url, rate_per_second=20.0, burst=40, **creds
        )
        connectors.sync_now(connection=connection)


def _load_worker(rate: float, seconds: float, seed: int) -> None:
    """--worker: place web checkouts at `rate` per second; print [(sku, commit time), …]."""
    setup_django(os.environ["BENCH_DATABASE_URL"], debug=None)
    from omnishop.channels.models import Channel
    from omnishop.orders import services as orders

    channel = Channel.objects.get(code=WEB)
    rng = random.Random(seed)
    done, start = [], time.perf_counter()
    address = {"name": "Bench", "line1": "1 Load St", "city": "London", "postcode": "N1 1AA", "country": "GB"}
    n = 0
    while time.perf_counter() - start < seconds:
        due = start + n / rate
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        sku = rng.choice(SKUS)
        orders.place_order(
            channel=channel,
            quantities={sku: 1},
            shipping_method="std",
            shipping_address=address,
            payment=orders.PaymentRequest(provider="test_card", token="4242424242424242"),
            key=f"push-{seed}-{n}-{time.time_ns()}",
            email="bench@example.com",
            actor="bench",
        )
        done.append((sku, time.time()))
        n += 1
    print(json.dumps(done))


class Sampler(threading.Thread):
    """Reads each fake's stock of every SKU every 20 ms; keeps (time, quantity) at each change."""

    def __init__(self, read) -> None:
        super().__init__(daemon=True)
        self.read, self.stopped = read, threading.Event()
        self.changes: dict[str, list[tuple[float, int]]] = {sku: [] for sku in SKUS}

    def run(self) -> None:
        while not self.stopped.is_set():
            now = time.time()
            for sku in SKUS:
                try:
                    quantity = self.read(sku)
                except (KeyError, StopIteration, RuntimeError):
                    continue
                history = self.changes[sku]
                if quantity is not None and (not history or history[-1][1] != quantity):
                    history.append((now, quantity))
            time.sleep(0.02)


def _latencies(sales: list[tuple[str, float]], changes: dict, start_levels: dict) -> tuple[list[float], int]:
    by_sku: dict[str, list[float]] = {}
    for sku, at in sorted(sales, key=lambda s: s[1]):
        by_sku.setdefault(sku, []).append(at)
    latencies, missing = [], 0
    for sku, times in by_sku.items():
        for rank, committed in enumerate(times, start=1):
            target = start_levels[sku] - rank
            seen = next((t for t, q in changes[sku] if q <= target and t >= committed - 0.05), None)
            if seen is None:
                missing += 1
            else:
                latencies.append(max(0.0, seen - committed) * 1000)
    return latencies, missing


def main(ctx: BenchContext) -> None:
    setup_django(ctx.database_url, debug=None)
    from django.conf import settings

    from omnishop.connectors.fakes import shopify, woocommerce

    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True
    fake_shopify = shopify.serve(0, currency="GBP")
    fake_woo = woocommerce.serve(0, currency="GBP")
    _seed(fake_shopify.url, fake_woo.url)
    relay = subprocess.Popen([sys.executable, "-c", RELAY, str(ROOT), "600"], env=_env(), cwd=ROOT)

    def read_shopify(sku):
        with fake_shopify.app.lock:
            return fake_shopify.app.available(sku)

    def read_woo(sku):
        with fake_woo.app.lock:
            return fake_woo.app.item_by_sku(sku)["stock_quantity"]

    cases = []
    try:
        deadline = time.monotonic() + 180  # the full sync creates every SKU on both fakes first
        while time.monotonic() < deadline:
            try:
                if all(read_shopify(s) is not None and read_woo(s) is not None for s in SKUS):
                    break
            except (KeyError, StopIteration, RuntimeError):
                pass
            time.sleep(0.5)
        time.sleep(3)  # let the sync's last pushes settle
        samplers = {"shopify": Sampler(read_shopify), "woocommerce": Sampler(read_woo)}
        starts = {
            name: {s: read(s) for s in SKUS}
            for name, read in (("shopify", read_shopify), ("woocommerce", read_woo))
        }
        for sampler in samplers.values():
            sampler.start()
        seconds = 10 if ctx.quick else 30
        loaders = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", "25", str(seconds), str(seed)],
                env=_env(),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for seed in (1, 2)
        ]
        outputs = [p.communicate(timeout=seconds + 120)[0] for p in loaders]
        sales = [tuple(x) for out in outputs for x in json.loads(out.strip().splitlines()[-1])]
        time.sleep(30 if not ctx.quick else 10)
        for sampler in samplers.values():
            sampler.stopped.set()
        achieved = len(sales) / seconds
        for name, sampler in samplers.items():
            latencies, missing = _latencies(sales, sampler.changes, starts[name])
            cases.append(
                {
                    "case": f"sale-to-{name}",
                    "unit": "ms (p50 latency)",
                    "value": round(median(latencies), 1) if latencies else None,
                    "p50_ms": round(median(latencies), 1) if latencies else None,
                    "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
                    "errors": missing,
                    "notes": f"{len(sales)} web checkouts at {achieved:.1f} orders/s over {seconds} s, 50 SKUs, "
                    "1 relay process, coalescing window "
                    f"{settings.OMNISHOP_STOCK_EVENT_WINDOW:g} s, connector token bucket 20/s; latency = first "
                    "20 ms sample of the fake at or below the quantity left after the sale − the sale's commit",
                }
            )
    finally:
        relay.terminate()
        fake_shopify.stop()
        fake_woo.stop()
    ctx.report("connectors.stock_push", cases)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--worker":
    _load_worker(float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
