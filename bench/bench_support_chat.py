"""support.chat: a shopper's chat message, from the POST to its arrival on the agent's open stream.

On the benchmark PostgreSQL, a real `omnishop serve` on 127.0.0.1 (2 gthread workers × 80 threads, the way
docs/support.md says to serve the chat). 100 chats are started through the widget's endpoints; an agent
(member of the chat inbox) holds one server-sent-event stream open per conversation (100 streams, read with
httpx as EventSource reads them: reconnecting with Last-Event-ID when the server ends a stream). Then every
chat sends messages at the same time (each shopper waits 1.5–3.5 s between messages: about 40 messages/s in all); latency = arrival of
the message's event on the agent's stream − the moment the shopper's POST was sent (one clock, one machine).

Cases:
- `100-chats-db-poll`: the embedded default (no REDIS_URL): streams are woken by one database poll per
  server process (every 0.2 s) — the expected latency is about half the poll interval plus the POST.
- `100-chats-redis` (when `redis-server` is installed): REDIS_URL set; streams are woken by Redis pub/sub.
- `100-chats-sync-workers`: `omnishop serve`'s default sync workers: a stream never waits there, the
  browser comes back every second (`retry: 1000`) — the latency of the embedded demo without `--threads`.
Baseline, same run, same database: the bare round trip the message needs at least — INSERT a row into a
plain table, COMMIT, SELECT it back by key (psycopg, one connection, sequential). The shopper's POST alone
(its round trip, measured in the same runs) is reported in the notes.
Benchmarks measure, never assert: see docs/benchmarks/support.chat.json for a representative run.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import BenchContext, median, percentile  # noqa: E402
from bench.worker import BENCH_SECRET, stop  # noqa: E402

CHATS = 100


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict, port: int, *, threads: int) -> subprocess.Popen:
    omnishop = str(Path(sys.executable).with_name("omnishop"))
    server = subprocess.Popen(
        [omnishop, "serve", "--port", str(port), "--workers", "2", "--threads", str(threads)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    stop(server)
    raise RuntimeError("omnishop serve did not answer /health within 90 s")


def _env(db_url: str, var_dir: str, redis_url: str = "") -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": BENCH_SECRET,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "OMNISHOP_VAR_DIR": var_dir,
        "OMNISHOP_SCHEDULER": "off",
        "OMNISHOP_RELAY": "off",
        # this checkout's code, not whichever one the shared virtualenv's `omnishop` script was installed from
        "PYTHONPATH": str(ROOT / "src"),
        # 100 shoppers behind the shop's proxy: each its own address for the rate limits (X-Forwarded-For)
        "OMNISHOP_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _setup() -> str:
    """A chat inbox with one online agent; returns the agent's session cookie."""
    from django.test import Client

    from omnishop.channels.models import Channel
    from omnishop.support import services
    from omnishop.support.models import Inbox

    channel = Channel.objects.filter(code="web").first() or Channel.objects.create(
        code="web", name="Web shop", kind="web", currency="GBP"
    )
    inbox, _ = Inbox.objects.get_or_create(
        code="bench-chat", defaults={"name": "Bench chat", "kind": Inbox.Kind.CHAT, "channel": channel}
    )
    Inbox.objects.filter(kind=Inbox.Kind.CHAT).exclude(pk=inbox.pk).update(is_active=False)
    from django.contrib.auth import get_user_model

    agent, _ = get_user_model().objects.get_or_create(username="bench-agent", defaults={"is_staff": True})
    inbox.members.add(agent)
    services.set_online(user=agent, online=True)
    client = Client()
    client.force_login(agent)
    return client.cookies["sessionid"].value


def _address(n: int) -> str:
    return f"10.0.{n // 250}.{n % 250 + 1}"


async def _stream(client, url: str, arrivals: dict, stop_at: float) -> None:
    """Read one SSE stream like EventSource: reconnect after the server ends it, resuming after the last id."""
    last_id, retry = "", 1.0
    while time.monotonic() < stop_at:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with client.stream("GET", url, headers=headers, timeout=None) as response:
                async for line in response.aiter_lines():
                    if line.startswith("retry: "):
                        retry = int(line[7:]) / 1000
                    elif line.startswith("id: "):
                        last_id = line[4:]
                    elif line.startswith("data: "):
                        text = orjson.loads(line[6:])["text"]
                        arrivals.setdefault(text, time.monotonic())
                    if time.monotonic() >= stop_at:
                        return
        except Exception:  # a dropped stream is retried, as a browser would
            pass
        await asyncio.sleep(retry)


async def _run(port: int, session_cookie: str, messages: int) -> dict:
    import httpx

    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with (
        httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as shop,
        httpx.AsyncClient(base_url=base, limits=limits, cookies={"sessionid": session_cookie}) as desk,
    ):
        state = (await shop.get("/support/chat/")).json()
        csrf = {"X-CSRFToken": state["csrf_token"]}
        chats = []
        for n in range(CHATS):  # started one by one: setting up is not what is measured
            started = await shop.post(
                "/support/chat/start",
                headers={**csrf, "X-Forwarded-For": _address(n)},
                json={"name": f"Shopper {n}", "email": f"shopper{n}@bench.example", "message": "Hello"},
            )
            if started.status_code != 201:
                raise RuntimeError(f"chat start refused: {started.status_code} {started.text[:300]}")
            chats.append(started.json())
        arrivals: dict[str, float] = {}
        stop_at = time.monotonic() + 60 + messages * 2
        readers = [
            asyncio.create_task(
                _stream(desk, f"/support/agent/conversations/{c['number']}/stream", arrivals, stop_at)
            )
            for c in chats
        ]
        await asyncio.sleep(3)  # every stream open and waiting
        sent: dict[str, float] = {}
        post_ms: list[float] = []
        failures: list[str] = []
        errors = 0

        async def shopper(index: int, chat: dict) -> None:
            nonlocal errors
            await asyncio.sleep(random.random() * 2)
            for i in range(messages):
                text = f"m-{index}-{i}-{random.random():.6f}"
                sent[text] = time.monotonic()
                try:
                    response = await shop.post(
                        "/support/chat/messages",
                        headers={**csrf, "X-Chat-Token": chat["token"], "X-Forwarded-For": _address(index)},
                        json={"message": text},
                    )
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status = 0
                    failures.append(repr(exc))
                post_ms.append((time.monotonic() - sent[text]) * 1000)
                if status != 201:
                    errors += 1
                    sent.pop(text)
                await asyncio.sleep(1.5 + random.random() * 2)  # a person typing

        await asyncio.gather(*(shopper(i, c) for i, c in enumerate(chats)))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not set(sent) <= set(arrivals):
            await asyncio.sleep(0.05)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    latencies = [(arrivals[t] - s) * 1000 for t, s in sent.items() if t in arrivals]
    return {
        "latencies": latencies,
        "post_ms": post_ms,
        "errors": errors + sum(1 for t in sent if t not in arrivals),
        "failures": failures[:3],
    }


def _baseline(db_url: str, count: int) -> list[float]:
    import psycopg

    samples = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_chat_raw (id bigserial primary key, body text)")
        for i in range(count):
            start = time.perf_counter()
            row = conn.execute(
                "INSERT INTO bench_chat_raw (body) VALUES (%s) RETURNING id", [f"m{i}"]
            ).fetchone()
            conn.execute("SELECT body FROM bench_chat_raw WHERE id = %s", [row[0]]).fetchone()
            samples.append((time.perf_counter() - start) * 1000)
        conn.execute("DROP TABLE bench_chat_raw")
    return samples


def _case(ctx, name, db_url, cookie, *, threads, redis_url="", runs, messages, note) -> dict:
    var_dir = tempfile.mkdtemp(prefix="bench-chat-")
    port = _port()
    server = _serve(_env(db_url, var_dir, redis_url), port, threads=threads)
    results, baselines = [], []
    try:
        for _ in range(runs):
            baselines.append(_baseline(db_url, 200))
            results.append(asyncio.run(_run(port, cookie, messages)))
    finally:
        stop(server)
        shutil.rmtree(var_dir, ignore_errors=True)
    print(name, "failures:", [f for r in results for f in r["failures"]][:3], flush=True)
    latencies = [x for r in results for x in r["latencies"]]
    posts = [x for r in results for x in r["post_ms"]]
    base = [x for b in baselines for x in b]
    return {
        "case": name,
        "unit": "ms (p50 latency, POST → agent's stream)",
        "value": round(median([median(r["latencies"]) for r in results]), 1),
        "p50_ms": round(median(latencies), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "errors": sum(r["errors"] for r in results),
        "baseline": {
            "what": "INSERT + COMMIT + SELECT by key of one row, psycopg, same database, same run (p50)",
            "value": round(median(base), 2),
            "p99_ms": round(percentile(base, 99), 2),
        },
        "notes": f"{runs} runs × {CHATS} chats × {messages} messages ({len(latencies)} samples); {note}; "
        f"the shopper's POST alone: p50 {median(posts):.1f} ms, p99 {percentile(posts, 99):.1f} ms; "
        "load generator (one asyncio process, 100 streams + 100 shoppers) on the same 2 cores",
    }


def main(ctx: BenchContext) -> None:
    from bench.worker import setup_django

    setup_django(ctx.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    cookie = _setup()
    runs = 1 if ctx.quick else 3
    messages = 3 if ctx.quick else 5
    cases = [
        _case(
            ctx,
            "100-chats-db-poll",
            ctx.database_url,
            cookie,
            threads=80,
            runs=runs,
            messages=messages,
            note="omnishop serve --workers 2 --threads 80, no Redis: one DB poll per process every 0.2 s",
        ),
    ]
    redis_server = shutil.which("redis-server")
    if redis_server:
        redis_port = _port()
        redis = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(0.5)
            cases.append(
                _case(
                    ctx,
                    "100-chats-redis",
                    ctx.database_url,
                    cookie,
                    threads=80,
                    redis_url=f"redis://127.0.0.1:{redis_port}/0",
                    runs=runs,
                    messages=messages,
                    note="omnishop serve --workers 2 --threads 80, REDIS_URL set: Redis pub/sub wakes streams",
                )
            )
        finally:
            redis.terminate()
            redis.wait(10)
    cases.append(
        _case(
            ctx,
            "100-chats-sync-workers",
            ctx.database_url,
            cookie,
            threads=1,
            runs=1,
            messages=messages,
            note="omnishop serve's default (2 sync workers): streams answer at once, browsers return every 1 s",
        )
    )
    ctx.report("support.chat", cases)


if __name__ == "__main__":
    main(BenchContext())
