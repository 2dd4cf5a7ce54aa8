"""Real Celery workers for tests: a worker process over the Redis that `make test` starts, on the test
database, and a client that sends jobs with the project's routes (so each lands on its queue)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from celery import Celery
from django.conf import settings
from django.db import connection

REDIS_URL = os.environ.get("OMNISHOP_TEST_REDIS_URL", "")
WORKER_SECRET_KEY = "test-worker-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# `omnishop serve`'s options at their defaults, for tests of the server configurations it builds.
SERVE_OPTIONS = {
    "host": "127.0.0.1",
    "port": 8000,
    "workers": 2,
    "threads": 1,
    "timeout": 30,
    "keep_alive": 5,
    "max_requests": 0,
    "access_log": False,
}


def database_url_of_test_db() -> str:
    test_settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(test_settings['NAME']).resolve()}"
    host, port = test_settings["HOST"] or "127.0.0.1", test_settings["PORT"] or 5432
    auth = test_settings["USER"] + (f":{test_settings['PASSWORD']}" if test_settings["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{port}/{test_settings['NAME']}"


def start_worker(*, queues: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A `celery worker` process (solo pool: the job runs in the process a test may kill)."""
    worker_env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": database_url_of_test_db(),
        "SECRET_KEY": WORKER_SECRET_KEY,
        "DEBUG": "0",
        **(env or {}),
    }
    worker_env.pop("OMNISHOP_TESTING", None)
    argv = [sys.executable, "-m", "celery", "-A", "omnishop", "worker", "--pool", "solo"]
    argv += ["--loglevel", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    argv += ["--hostname", f"test-{os.getpid()}-{id(worker_env)}@%h"]
    if queues:
        argv += ["--queues", queues]
    return subprocess.Popen(argv, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop_worker(worker: subprocess.Popen) -> str:
    """Stop the worker if it still runs, and return what it printed."""
    if worker.poll() is None:
        worker.terminate()
    try:
        output = worker.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        worker.kill()
        output = worker.communicate()[0]
    return output.decode(errors="replace")


def celery_client() -> Celery:
    """A client of the test Redis that routes jobs as the application does (settings.CELERY_TASK_ROUTES)."""
    client = Celery(broker=REDIS_URL, backend=REDIS_URL)
    client.conf.task_routes = settings.CELERY_TASK_ROUTES
    client.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client.conf.task_queues = settings.CELERY_TASK_QUEUES
    return client
