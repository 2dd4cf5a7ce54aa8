"""`omnishop serve` (granian or gunicorn, + whitenoise) and `omnishop worker` (Celery on Redis), run for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from omnishop.core.management.commands.serve import granian_config, gunicorn_config, one_thread
from omnishop.core.management.commands.worker import celery_argv
from omnishop.testing_workers import SERVE_OPTIONS, database_url_of_test_db

OMNISHOP = str(Path(sys.executable).with_name("omnishop"))
REDIS_URL = os.environ.get("OMNISHOP_TEST_REDIS_URL", "")


def production_env(tmp_path: Path, **extra) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_test_db(),
        "SECRET_KEY": "serve-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCD",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "OMNISHOP_VAR_DIR": str(tmp_path),
    }
    env.pop("OMNISHOP_TESTING", None)
    env.pop("REDIS_URL", None)
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()


def start_serving(tmp_path: Path, *arguments: str) -> tuple[subprocess.Popen, int]:
    """`omnishop serve --workers 1 …` on a free port, once it answers (its process group, for `stop`)."""
    port = free_port()
    server = subprocess.Popen(
        [OMNISHOP, "serve", "--port", str(port), "--workers", "1", *arguments],
        env=production_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            get(f"http://127.0.0.1:{port}/health")
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError(f"omnishop serve did not start:\n{stop(server)}") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> str:
    try:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        return process.communicate(timeout=30)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate()[0].decode(errors="replace")


def test_granian_defaults_are_two_workers_of_one_thread_over_http1_without_access_log():
    config = granian_config(SERVE_OPTIONS)
    assert (config["address"], config["port"], config["interface"], config["http"]) == (
        "127.0.0.1",
        8000,
        "wsgi",
        "1",
    )
    assert (config["workers"], config["blocking_threads"], config["log_access"]) == (2, 1, False)
    assert config["respawn_failed_workers"] and config["workers_kill_timeout"] == 30
    assert (config["http1_settings"].keep_alive, config["http1_settings"].header_read_timeout) == (True, 5000)
    threaded = granian_config({**SERVE_OPTIONS, "threads": 4, "keep_alive": 0, "access_log": True})
    assert (threaded["blocking_threads"], threaded["log_access"]) == (4, True)
    assert not threaded["http1_settings"].keep_alive


def test_a_granian_worker_of_one_thread_says_it_is_not_multithreaded():
    """granian says `wsgi.multithread: True` on one thread too; the live chat would then park the only thread
    of a worker on a 25-second stream (support/chat.py reads the flag)."""
    seen = {}

    def application(environ, start_response):
        seen["multithread"] = environ["wsgi.multithread"]
        return [b""]

    one_thread(application)({"wsgi.multithread": True}, lambda *a: None)
    assert seen == {"multithread": False}


@pytest.mark.parametrize("threads", [1, 3])
def test_a_served_application_hears_how_many_threads_its_worker_has(tmp_path, threads):
    probe = "omnishop.storefront.tests.wsgi_probe:application"
    server, port = start_serving(tmp_path, "--threads", str(threads), "--no-collectstatic", "--wsgi", probe)
    try:
        status, _, body = get(f"http://127.0.0.1:{port}/")
        assert status == 200
    finally:
        stop(server)
    answer = orjson.loads(body)
    assert (answer["multithread"], answer["server"]) == (threads > 1, "Granian")


@pytest.mark.parametrize("choice", [[], ["--server", "gunicorn"]], ids=["granian", "gunicorn"])
def test_workers_fork_from_a_frozen_heap_with_the_urlconf_loaded(tmp_path, choice):
    """`omnishop serve` loads the URLconf and freezes the heap before it forks (serve.freeze_before_fork): a
    worker's full collections skip the ~300,000 objects it inherits instead of walking them (130 ms each)."""
    probe = "omnishop.storefront.tests.wsgi_probe:application"
    server, port = start_serving(tmp_path, "--no-collectstatic", "--wsgi", probe, *choice)
    try:
        _, _, body = get(f"http://127.0.0.1:{port}/")
    finally:
        stop(server)
    answer = orjson.loads(body)
    assert answer["urlconf"] is True
    assert answer["frozen"] > 100_000, answer


def test_granian_refuses_max_requests_with_the_server_to_use_instead(tmp_path):
    with pytest.raises(CommandError, match="--server gunicorn"):
        call_command("serve", max_requests=1000, server="granian", no_collectstatic=True)


def test_serve_defaults_are_two_sync_workers_without_access_log():
    options = SERVE_OPTIONS
    config = gunicorn_config(options)
    assert (config["bind"], config["workers"], config["worker_class"], config["accesslog"]) == (
        "127.0.0.1:8000",
        2,
        "sync",
        None,
    )
    threaded = gunicorn_config({**options, "threads": 4, "max_requests": 1000, "access_log": True})
    assert (threaded["worker_class"], threaded["max_requests_jitter"], threaded["accesslog"]) == (
        "gthread",
        100,
        "-",
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("choice", [[], ["--server", "gunicorn"]], ids=["default-granian", "gunicorn"])
def test_serve_answers_the_storefront_and_the_admin_css_with_debug_off(
    tmp_path, web_channel, make_product, list_in, choice
):
    product = make_product("Served")
    list_in(product, web_channel, "2.5")
    server, port = start_serving(tmp_path, *choice)
    try:
        status, headers, body = get(f"http://127.0.0.1:{port}/static/admin/css/base.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css") and b"body" in body
        status, headers, body = get(f"http://127.0.0.1:{port}/api/v1/storefront/web/products")
        assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
        assert [item["slug"] for item in orjson.loads(body)["items"]] == [product.slug]
        status, _, body = get(f"http://127.0.0.1:{port}/admin/login/")
        assert status == 200 and b"/static/admin/css/base.css" in body
        # The lean path's second shape: the product's detail.
        status, _, _ = get(f"http://127.0.0.1:{port}/api/v1/storefront/web/products/{product.slug}")
        assert status == 200
    finally:
        output = stop(server)
    assert ("granian" if not choice else "gunicorn") in output


@override_settings(REDIS_URL="")
def test_worker_refuses_to_start_without_redis():
    with pytest.raises(CommandError, match="REDIS_URL is not set"):
        call_command("worker")


def test_worker_with_beat_runs_the_scheduler_with_its_schedule_under_var(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    argv = celery_argv({"loglevel": "info", "beat": True, "concurrency": 2, "queues": None, "pool": None})
    assert argv == [
        "worker",
        "--loglevel",
        "info",
        "--beat",
        "--schedule",
        str(tmp_path / "celerybeat-schedule"),
        "--concurrency",
        "2",
    ]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_omnishop_worker_runs_a_job_sent_through_redis(tmp_path):
    if not REDIS_URL:
        pytest.skip("OMNISHOP_TEST_REDIS_URL is set by scripts/run-tests (make test), which starts Redis")
    from omnishop.core.models import IdempotencyRecord
    from omnishop.testing_workers import celery_client

    expired = IdempotencyRecord.objects.create(
        scope="user:9",
        key="stale",
        operation="POST /x",
        request_hash="h",
        expires_at=timezone.now() - timedelta(hours=1),
    )
    worker = subprocess.Popen(
        [OMNISHOP, "worker", "--pool", "solo", "--loglevel", "warning"],
        env=production_env(tmp_path, REDIS_URL=REDIS_URL),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        result = celery_client().send_task("omnishop.core.tasks.purge_expired_idempotency_keys")
        deadline = time.monotonic() + 90
        while not result.ready():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not run the job; its output:\n{stop(worker)}")
            time.sleep(0.2)
        assert result.get(timeout=5) >= 1
        assert not IdempotencyRecord.objects.filter(pk=expired.pk).exists()
    finally:
        stop(worker)
