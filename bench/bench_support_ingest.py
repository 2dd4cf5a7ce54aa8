"""support.ingest: inbound e-mails per second through the provider webhook path, on PostgreSQL and SQLite.

Each e-mail is a Postmark inbound JSON payload (RawEmail included: a multipart/alternative message with a
quoted reply, as Gmail sends it) POSTed with its basic auth through Django's full request path (middleware,
anymail's Postmark view and its signal) in-process with the test client — no socket, so the figure is
what one server process can ingest, not the network. Per e-mail: MIME parse, quoted-history strip, inbox
by recipient, threading (reply token, In-Reply-To, the customer's open conversation), unified customer
resolution, order link (named in the text and the sender's, else the only open one), HTML sanitising and
the INSERTs, each e-mail its own transaction. The mix: 40 % a known customer's new question naming their
order, 40 % replies threading by In-Reply-To to an earlier e-mail, 20 % a stranger's first e-mail.

A second PostgreSQL case posts the same payloads over HTTP to `omnishop serve --workers 2` on 127.0.0.1 from
8 concurrent posters (as a provider delivers webhooks in parallel), with the server processes' CPU per e-mail.

Baseline (same run, same database): the same message rows written by one raw parameterised INSERT per
e-mail through the same Django connection, one transaction each — what storing alone costs.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the worker process)
    sys.path.insert(0, str(ROOT))

from bench.harness import BenchContext, median, percentile  # noqa: E402
from bench.worker import BENCH_SECRET, run_worker, serve, setup_django, stop  # noqa: E402

DB_NAME = "bench_support_ingest"
SECRET = "bench:ingest-secret"
REPEATS = 3


def _mime(n: int, *, sender: str, name: str, subject: str, body: str, in_reply_to: str = "") -> str:
    reply_headers = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        "Authentication-Results: mx.shop.example; spf=pass smtp.mailfrom=example.com; dkim=pass\r\n"
        f"From: {name} <{sender}>\r\nTo: Shop Support <help@shop.example>\r\nSubject: {subject}\r\n"
        f"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <bench-{n}-{time.time_ns()}@mail.example.com>\r\n"
        f"{reply_headers}MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        f'--b1\r\nContent-Type: text/plain; charset="UTF-8"\r\n\r\n{body}\r\n\r\n'
        "On Mon, 30 Nov 2026 at 16:02, Shop Support <help@shop.example> wrote:\r\n"
        "> Hello, thank you for your order.\r\n> Kind regards\r\n\r\n"
        f'--b1\r\nContent-Type: text/html; charset="UTF-8"\r\n\r\n<div dir="ltr">{body}</div>'
        '<div class="gmail_quote">On Mon wrote:<blockquote>Hello</blockquote></div>\r\n--b1--\r\n'
    )


def _payload(raw: str, sender: str) -> str:
    return json.dumps(
        {
            "From": sender,
            "FromFull": {"Email": sender, "Name": "", "MailboxHash": ""},
            "To": "help@shop.example",
            "ToFull": [{"Email": "help@shop.example", "Name": "", "MailboxHash": ""}],
            "OriginalRecipient": "help@shop.example",
            "Subject": "",
            "MessageID": "",
            "Headers": [{"Name": "Return-Path", "Value": f"<{sender}>"}],
            "RawEmail": raw,
        }
    )


def _seed(customers: int):
    """A web channel with stock, an e-mail inbox and `customers` shoppers, each with one open order."""
    from omnishop.channels.models import Channel
    from omnishop.customers.models import Customer
    from omnishop.orders.models import Order
    from omnishop.support.models import Inbox

    channel = Channel.objects.filter(kind=Channel.Kind.WEB).first() or Channel.objects.create(
        code="bench-web", name="Web", kind=Channel.Kind.WEB, currency="GBP"
    )
    Inbox.objects.get_or_create(
        code="help",
        defaults={
            "name": "Help",
            "kind": Inbox.Kind.EMAIL,
            "channel": channel,
            "address": "help@shop.example",
        },
    )
    people = Customer.objects.bulk_create(
        [Customer(email=f"shopper{i}@example.com", first_name=f"S{i}") for i in range(customers)]
    )
    rng = random.Random(3)
    orders = Order.objects.bulk_create(
        [
            Order(
                number=f"WEB-{''.join(rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ23456789') for _ in range(10))}",
                channel=channel,
                customer=c,
                email=c.email,
                currency="GBP",
                status=Order.Status.PAID,
                prices_include_tax=True,
                tracking_token=f"bench-track-{c.pk}",
            )
            for c in people
        ]
    )
    return [(c.email, o.number) for c, o in zip(people, orders, strict=True)]


def _emails(count: int, people: list[tuple[str, str]], run: int) -> list[tuple[str, str, bool]]:
    """(payload, sender, is_reply) in arrival order; replies name the Message-ID of an earlier e-mail."""
    rng = random.Random(run)
    out: list[tuple[str, str, bool]] = []
    sent: list[tuple[str, str]] = []  # (message-id, sender)
    for n in range(count):
        kind = rng.random()
        if kind < 0.4 or not sent:
            email, number = rng.choice(people)
            raw = _mime(
                n,
                sender=email,
                name="Known Shopper",
                subject=f"About order {number}",
                body=f"Hello, where is my order {number}? It has been a week.",
            )
            reply = False
        elif kind < 0.8:
            mid, email = rng.choice(sent)
            raw = _mime(
                n,
                sender=email,
                name="Known Shopper",
                subject="Re: your order",
                body="Thanks, but it still has not arrived.",
                in_reply_to=mid,
            )
            reply = True
        else:
            email = f"stranger{run}-{n}@example.net"
            raw = _mime(
                n,
                sender=email,
                name="New Person",
                subject="Do you ship to Wales?",
                body="Hello, do you ship to Wales, and how long does it take?",
            )
            reply = False
        mid = raw.split("Message-ID: ", 1)[1].split("\r\n", 1)[0]
        sent.append((mid, email))
        out.append((_payload(raw, email), email, reply))
    return out


def _ingest(emails) -> tuple[float, list[float], int]:
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    latencies, errors = [], 0
    start, cpu = time.perf_counter(), time.process_time()
    for payload, _, _ in emails:
        t = time.perf_counter()
        response = client.post(
            "/support/email/postmark/inbound/",
            payload,
            content_type="application/json",
            secure=True,
            HTTP_AUTHORIZATION=auth,
        )
        latencies.append((time.perf_counter() - t) * 1000)
        errors += response.status_code != 200
    _ingest.cpu_ms = (time.process_time() - cpu) * 1000 / len(emails)  # type: ignore[attr-defined]
    return len(emails) / (time.perf_counter() - start), latencies, errors


def _raw_inserts(count: int, conversation_id: int, vendor: str) -> tuple[float, list[float]]:
    from django.db import connection, transaction

    now = "now()" if vendor == "postgresql" else "CURRENT_TIMESTAMP"
    sql = (
        "INSERT INTO support_message (conversation_id, direction, via, sender_name, sender_address, subject,"
        ' body_raw, body_text, body_html, external_id, in_reply_to, "references", auth_results,'
        f" refused_attachments, delivery_status, created_at) VALUES (%s, 'inbound', 'email', '', %s, %s, %s,"
        f" %s, %s, %s, '', '', %s, '[]', '', {now})"
    )
    body = _mime(0, sender="a@example.com", name="A", subject="s", body="Where is my order?")
    latencies = []
    start = time.perf_counter()
    for n in range(count):
        t = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                sql,
                [
                    conversation_id,
                    "a@example.com",
                    "About order",
                    body,
                    "Where is my order?",
                    "<div>Where is my order?</div>",
                    f"<raw-{n}-{time.time_ns()}@x>",
                    '{"spf": "pass", "dkim": "pass"}',
                ],
            )
        latencies.append((time.perf_counter() - t) * 1000)
    return count / (time.perf_counter() - start), latencies


def worker(url: str, count: int) -> None:
    os.environ["OMNISHOP_SUPPORT_WEBHOOK_SECRET"] = SECRET
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from omnishop.support.models import Conversation, Message

    people = _seed(500)
    _ingest(_emails(50, people, run=99))  # warm-up: caches, prepared plans, the first customers
    runs, raws, errors, cpu = [], [], 0, []
    for run in range(REPEATS):
        emails = _emails(count, people, run=run)
        rate, latencies, failed = _ingest(emails)
        runs.append((rate, latencies))
        cpu.append(_ingest.cpu_ms)  # type: ignore[attr-defined]
        errors += failed
        conversation = Conversation.objects.order_by("pk").first()
        raws.append(_raw_inserts(count, conversation.pk, connection.vendor))
    inbound = Message.objects.filter(direction="inbound", via="email").exclude(
        external_id__startswith="<raw-"
    )
    with_order = Conversation.objects.exclude(order=None).count()
    version = connection.cursor().connection.info.server_version if connection.vendor == "postgresql" else ""
    print(
        json.dumps(
            {
                "runs": [r for r, _ in runs],
                "latencies": [ms for _, lat in runs for ms in lat],
                "raw": [r for r, _ in raws],
                "raw_latencies": [ms for _, lat in raws for ms in lat],
                "errors": errors,
                "cpu_ms": cpu,
                "stored": inbound.count(),
                "conversations": Conversation.objects.count(),
                "with_order": with_order,
                "vendor": connection.vendor,
                "version": version,
            }
        )
    )


# --- Over HTTP: `omnishop serve` (2 workers, its default server) and concurrent posters, as a provider delivers

POSTERS = 8  # concurrent webhook deliveries in flight


def _server_env(url: str, var_dir: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": BENCH_SECRET,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "OMNISHOP_VAR_DIR": var_dir,
        "OMNISHOP_SCHEDULER": "off",
        "OMNISHOP_RELAY": "off",
        "OMNISHOP_SUPPORT_WEBHOOK_SECRET": SECRET,
        "PYTHONPATH": str(ROOT / "src"),  # this checkout's code, whatever the virtualenv's script points at
    }


def _group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (the server's main process and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state ppid pgrp … utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _people(url: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT c.email, o.number FROM customers_customer c JOIN orders_order o ON o.customer_id = c.id"
            " WHERE c.email LIKE 'shopper%%' ORDER BY c.id"
        ).fetchall()


def _post_all(port: int, emails, posters: int) -> tuple[float, list[float], int]:
    """POST every e-mail over keep-alive HTTP connections from `posters` threads at once."""
    import http.client
    import threading

    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": auth, "Host": "127.0.0.1"}
    queue = list(range(len(emails)))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def poster() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                index = queue.pop(0)
            t = time.perf_counter()
            try:
                conn.request("POST", "/support/email/postmark/inbound/", emails[index][0], headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            with lock:
                latencies.append((time.perf_counter() - t) * 1000)
                errors[0] += not ok
        conn.close()

    threads = [threading.Thread(target=poster) for _ in range(posters)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(emails) / (time.perf_counter() - start), latencies, errors[0]


def http_case(url: str, count: int) -> dict:
    """The same e-mail mix POSTed by POSTERS concurrent clients to `omnishop serve --workers 2` on 127.0.0.1;
    the server's CPU (all its processes) per e-mail from /proc."""
    people = _people(url)
    var_dir = tempfile.mkdtemp(prefix="bench-support-http-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve(_server_env(url, var_dir), port, workers=2)
    try:
        _post_all(port, _emails(50, people, run=199), POSTERS)  # warm-up: both workers' caches and plans
        runs, latencies, errors, cpu = [], [], 0, []
        for run in range(REPEATS):
            emails = _emails(count, people, run=100 + run)
            before = _group_cpu_seconds(server.pid)
            rate, lat, failed = _post_all(port, emails, POSTERS)
            cpu.append((_group_cpu_seconds(server.pid) - before) * 1000 / count)
            runs.append(rate)
            latencies += lat
            errors += failed
    finally:
        stop(server)
        shutil.rmtree(var_dir, ignore_errors=True)
    return {"runs": runs, "latencies": latencies, "errors": errors, "cpu_ms": cpu}


def main(ctx: BenchContext) -> None:
    count = int(os.environ.get("BENCH_SUPPORT_EMAILS", "150" if ctx.quick else "500"))
    databases = []
    if ctx.database_url:
        import psycopg

        with psycopg.connect(ctx.database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        databases.append(("postgresql", ctx.database_url.rsplit("/", 1)[0] + f"/{DB_NAME}"))
    sqlite_dir = Path(tempfile.mkdtemp(prefix="bench-support-sqlite-"))
    databases.append(("sqlite", f"sqlite:///{sqlite_dir / 'bench.sqlite3'}"))
    cases = []
    for name, url in databases:
        r = run_worker(__file__, url, str(count))
        cases.append(
            {
                "case": f"{name}-postmark-webhook",
                "unit": "e-mails/s",
                "value": round(median(r["runs"]), 1),
                "p50_ms": round(percentile(r["latencies"], 50), 3),
                "p99_ms": round(percentile(r["latencies"], 99), 3),
                "errors": r["errors"],
                "baseline": {
                    "what": "the same message rows by one raw parameterised INSERT per e-mail, one transaction each, "
                    "same connection, same database, same run",
                    "value": round(median(r["raw"]), 1),
                },
                "cpu_ms_per_email": round(median(r["cpu_ms"]), 2),
                "notes": f"cpu_ms_per_email = the ingesting process's CPU time (process_time) per e-mail, the figure "
                f"that holds on a loaded machine; {count} e-mails per run, median of {REPEATS} runs, one client, sequential, in-process "
                f"(Django test client through middleware + anymail's Postmark view); 40 % known customers naming "
                f"their order, 40 % In-Reply-To replies, 20 % new senders; {r['stored']} stored in "
                f"{r['conversations']} conversations, {r['with_order']} linked to an order; target >= 200 e-mails/s",
            }
        )
        if name == "postgresql":
            h = http_case(url, count)
            cases.append(
                {
                    "case": "postgresql-postmark-webhook-http",
                    "unit": "e-mails/s",
                    "value": round(median(h["runs"]), 1),
                    "p50_ms": round(percentile(h["latencies"], 50), 3),
                    "p99_ms": round(percentile(h["latencies"], 99), 3),
                    "errors": h["errors"],
                    "baseline": {
                        "what": "the same message rows by one raw parameterised INSERT per e-mail, one transaction "
                        "each, same database, same run (the in-process case's baseline)",
                        "value": round(median(r["raw"]), 1),
                    },
                    "cpu_ms_per_email": round(median(h["cpu_ms"]), 2),
                    "notes": f"omnishop serve --workers 2 (granian) on 127.0.0.1, {POSTERS} concurrent posters on "
                    f"keep-alive connections, the same signed Postmark payloads and mix as the in-process case; "
                    f"{count} e-mails per run, median of {REPEATS} runs; cpu_ms_per_email = CPU of the server's "
                    f"processes (master + workers, /proc) per e-mail, PostgreSQL's own CPU not included; "
                    f"target >= 200 e-mails/s",
                }
            )
        if name == "postgresql" and r.get("version"):
            v = str(r["version"])
            ctx.database_version = ctx.database_version or f"postgresql {v[:2]}.{int(v[2:])}"
    shutil.rmtree(sqlite_dir, ignore_errors=True)
    ctx.report("support.ingest", cases)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
