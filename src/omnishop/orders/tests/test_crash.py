"""Crash tests: the real server (`omnishop serve`, granian) killed by SIGKILL in the middle of a checkout.

A worker dies at a named point (omnishop.core.faults: before the charge, after the charge, before the commit,
after the commit) with no chance to clean up, four times within seconds (the server respawns the worker each
time: ADR 0053). Afterwards: every order a client was told about exists, no
half-written order exists, the same request retried with its Idempotency-Key completes exactly once and
returns the same order, and `omnishop inventory verify` finds the stock ledger balanced. PostgreSQL only:
the server's connection dies with the process and the server rolls its transaction back, as in production.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from django.db import connection

import omnishop
from omnishop.core.models import IdempotencyRecord
from omnishop.orders import services
from omnishop.orders.models import Cart, Order, OrderAllocation
from omnishop.payments.models import Payment

from .conftest import ADDRESS, CARD_OK, assert_books_balance

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

SRC = Path(omnishop.__file__).resolve().parent.parent
LEASE_SECONDS = 1  # the claim and the in-progress Idempotency-Key of a dead worker, shortened for the test
POINTS = [
    "checkout.before_charge",
    "checkout.after_charge",
    "checkout.before_commit",
    "checkout.after_commit",
]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the crash tests kill a server connected to PostgreSQL")


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def server_env(tmp_path: Path, **extra) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "crash-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCD",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "OMNISHOP_VAR_DIR": str(tmp_path),
        "OMNISHOP_CHECKOUT_CLAIM_SECONDS": str(LEASE_SECONDS),
        "OMNISHOP_IDEMPOTENCY_ABANDONED_SECONDS": str(LEASE_SECONDS),
    }
    for name in ("OMNISHOP_TESTING", "REDIS_URL", "OMNISHOP_CRASH_AT"):
        env.pop(name, None)
    return {**env, **extra}


def omnishop_command(*args: str, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "omnishop.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **kw,
    )


class Server:
    """`omnishop serve` with one worker on a free loopback port."""

    def __init__(self, env: dict) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = omnishop_command(
            "serve", "--port", str(self.port), "--workers", "1", "--no-collectstatic", env=env
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start:\n{self.stop()}") from None
                time.sleep(0.05)

    def post(self, path: str, body: dict, *, secret: str, key: str | None):
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1{path}", orjson.dumps(body), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())

    def stop(self) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.communicate(timeout=10)[0].decode(errors="replace")


@pytest.fixture
def server(tmp_path):
    """One server for the whole matrix; `arm(point)` makes its next pass through `point` a SIGKILL."""
    armed = tmp_path / "crash-at"
    running = Server(server_env(tmp_path, OMNISHOP_CRASH_AT=str(armed)))
    running.arm = lambda point: armed.write_text(point)
    yield running
    running.stop()


def ready_cart(shop, v):
    cart = services.create_cart(channel=shop.channel, email="ada@example.com")
    services.set_line(cart=cart, sku=v.sku, quantity=1)
    services.set_checkout_details(cart=cart, shipping_address=ADDRESS, shipping_method="standard")
    return cart


def assert_no_half_written_order():
    """Each order is whole: its lines, its stock allocated, its charge captured; no charge without an order."""
    for order in Order.objects.all():
        assert order.lines.exists() and all(line.allocated == line.quantity for line in order.lines.all())
        assert OrderAllocation.objects.filter(order=order).exists()
        captured = sum(p.captured for p in Payment.objects.filter(reference=order.number))
        assert captured == order.total, order.number
    references = set(Order.objects.values_list("payment_reference", flat=True))
    assert set(Payment.objects.values_list("reference", flat=True)) <= references


def assert_ledger_verifies(tmp_path):
    verify = omnishop_command("inventory", "verify", env=server_env(tmp_path))
    output = verify.communicate(timeout=60)[0].decode(errors="replace")
    assert verify.returncode == 0, output
    assert_books_balance()


def test_a_cart_checkout_killed_at_any_point_is_completed_exactly_once_by_a_retry(shop, server, tmp_path):
    v = shop.variant(stock=10)
    payment = {"payment": {"provider": "test_card", "token": CARD_OK}}
    acknowledged = []

    def checkout(cart, key):
        return server.post(f"/orders/carts/{cart.token}/checkout", payment, secret=shop.key, key=key)

    for point in POINTS:
        status, placed = checkout(ready_cart(shop, v), key=f"before {point}")
        assert status == 201, placed
        acknowledged.append(placed["number"])

        cart = ready_cart(shop, v)
        server.arm(point)
        with pytest.raises(OSError):  # the connection dies with the worker: the client never hears back
            checkout(cart, key=point)
        died_at = time.monotonic()
        committed = point == "checkout.after_commit"
        assert Order.objects.filter(cart=cart).count() == (1 if committed else 0), point
        assert Cart.objects.get(pk=cart.pk).status == ("ordered" if committed else "checking_out")
        assert IdempotencyRecord.objects.get(key=point).state == "in_progress"
        assert_no_half_written_order()

        time.sleep(max(0.0, died_at + LEASE_SECONDS + 0.2 - time.monotonic()))
        status, retried = checkout(cart, key=point)
        assert status == 201, (point, retried)
        assert retried["number"] == Order.objects.get(cart=cart).number
        assert [checkout(cart, key=point), checkout(cart, key=f"another key after {point}")] == [
            (201, retried),
            (201, retried),
        ]
        acknowledged.append(retried["number"])

    assert sorted(Order.objects.values_list("number", flat=True)) == sorted(acknowledged)
    assert Payment.objects.filter(status="captured").count() == Payment.objects.count() == len(acknowledged)
    assert not Cart.objects.exclude(status="ordered").exists()
    assert_no_half_written_order()
    level = shop.stock(v)
    assert (level.on_hand, level.allocated, level.reserved) == (10, 8, 0)
    assert_ledger_verifies(tmp_path)
