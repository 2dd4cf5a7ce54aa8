"""`omnishop serve`: the production HTTP server on the project's WSGI application.

Two servers, one command (ADR 0053). The default is granian: its HTTP side is Rust (hyper), so a worker
spends its Python time on the request, not on parsing it — 0.26 ms of server CPU for a cached storefront
page against gunicorn's 0.41 on the same machine. `--server gunicorn` keeps gunicorn (sync workers, or
gthread with `--threads N`) for what only it has: a watchdog that kills a worker stuck on one request
(`--timeout`) and recycling after `--max-requests`.

Either way the application is imported once before the workers fork, each worker starts the embedded
scheduler and outbox relay when they are on, and static files (the admin's CSS and JS included) are
collected to STATIC_ROOT and served by whitenoise, so the admin works with DEBUG off and no separate web
server. Put a reverse proxy (TLS, buffering) in front on the internet.
"""

from __future__ import annotations

import os
from functools import partial

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils.module_loading import import_string

from omnishop.core import outbox, scheduler


class Command(BaseCommand):
    help = "Serve Omnishop with granian or gunicorn (production server; static files through whitenoise)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--server",
            choices=SERVERS,
            default=os.environ.get("OMNISHOP_HTTP_SERVER", "granian"),
            help="granian (default, or OMNISHOP_HTTP_SERVER) or gunicorn (ADR 0053).",
        )
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", "2")),
            help="Worker processes (default 2, or WEB_CONCURRENCY).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="Threads per worker running the application (gunicorn: above 1 uses the gthread worker).",
        )
        parser.add_argument(
            "--timeout",
            type=int,
            default=30,
            help="gunicorn: seconds before a worker stuck on one request is restarted. granian: seconds a "
            "stopping worker gets to finish its requests before it is killed.",
        )
        parser.add_argument(
            "--keep-alive",
            type=int,
            default=5,
            help="Seconds to hold idle keep-alive connections (granian: the wait for a request's headers); "
            "0 closes each connection after its response.",
        )
        parser.add_argument(
            "--max-requests",
            type=int,
            default=0,
            help="gunicorn only: recycle a worker after this many requests (0 = never; jittered by 10%%).",
        )
        parser.add_argument(
            "--access-log", action="store_true", help="Log every request (off: it costs speed)."
        )
        parser.add_argument(
            "--wsgi",
            default="omnishop.storefront.wsgi:application",
            help="WSGI application (default: Django behind the lean storefront read path, docs/storefront.md).",
        )
        parser.add_argument(
            "--no-collectstatic", action="store_true", help="Skip collecting static files before serving."
        )

    def handle(self, *args, **options):
        if options["server"] == "granian" and options["max_requests"]:
            raise CommandError("--max-requests needs --server gunicorn (granian does not count requests)")
        if not options["no_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        if options["server"] == "gunicorn":
            config = gunicorn_config(options)
            kind = f"gunicorn, {config['workers']} {config['worker_class']} workers"
            run = OmnishopServer(options["wsgi"], config).run
        else:
            config = granian_config(options)
            kind = f"granian, {config['workers']} workers × {config['blocking_threads']} threads"
            run = partial(serve_granian, options["wsgi"], config)
        self.stdout.write(
            f"Serving Omnishop on http://{options['host']}:{options['port']}/ "
            f"({kind}; API docs at /api/v1/docs, admin at /admin/)"
        )
        if settings.DEBUG:
            self.stdout.write(self.style.WARNING("DEBUG is on: do not expose this server to the internet."))
        # Workers are forked from this process: a database connection opened here (by `omnishop demo`'s
        # loading, say) must not be inherited and shared by several workers.
        connections.close_all()
        run()


SERVERS = ("granian", "gunicorn")


def granian_config(options: dict) -> dict:
    """granian's `Server` arguments from the command's options (a function, so tests can check it)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    keep_alive = max(0, options["keep_alive"])
    return {
        "address": options["host"],
        "port": options["port"],
        "interface": Interfaces.WSGI,
        "workers": max(1, options["workers"]),
        # The application runs on this many Python threads per worker; 1 is the sync worker's shape.
        "blocking_threads": max(1, options["threads"]),
        # An idle thread is kept (granian's default would end it after 30 s, and a new one would open a new
        # database connection while the old thread's connection waits for the garbage collector).
        "blocking_threads_idle_timeout": 600,
        "http": HTTPModes.http1,
        "http1_settings": HTTP1Settings(
            keep_alive=keep_alive > 0, header_read_timeout=max(keep_alive, 1) * 1000
        ),
        "log_access": bool(options["access_log"]),
        # A worker that dies (OOM, kill -9) is replaced, as gunicorn's arbiter does.
        "respawn_failed_workers": True,
        "workers_kill_timeout": max(1, options["timeout"]),
    }


def serve_granian(wsgi_path: str, config: dict) -> None:
    from granian.server import Server

    _load_application(wsgi_path)  # imported once here, then shared by the forked workers
    freeze_before_fork()
    server = Server(wsgi_path, **config)
    # granian stops the whole server when a worker dies within 5.5 s of its last respawn (its "crash loop"
    # guard). A request that kills its worker (kill -9, OOM) twice in a row would then take every other
    # request down with it; gunicorn's arbiter keeps respawning, and so do we. A worker that cannot boot
    # is not the case this guards against here: the application is imported above, before any fork.
    # test_crash.py kills a worker four times within seconds and retries through the same server.
    server.respawned_wrks = _NoRespawnHistory()
    # granian calls the loader in each worker after the fork: the place for per-worker threads.
    server.serve(target_loader=partial(_worker_application, threads=config["blocking_threads"]))


class _NoRespawnHistory(dict):
    """granian's record of when each worker was last respawned, always empty when read (see above)."""

    def get(self, key, default=None):
        return default


def freeze_before_fork() -> None:
    """Load what every request needs (the URLconf, and with it every view module and the API's routers), then
    move the whole heap to the garbage collector's permanent generation, just before the workers fork.

    A worker then never walks those ~300,000 objects: a full collection of a warm worker took 130 ms (every
    request the worker holds waits for it) and touched every object's header, so a forked worker's pages,
    shared with its siblings until then, were copied into it one by one. Python's `gc.freeze` documentation
    describes this use; each worker collects what it makes itself as usual."""
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (imports the URLconf and everything it names)
    gc.collect()
    gc.freeze()


def _load_application(wsgi_path: str):
    """The application named `module:attribute` (`application` when only the module is given), as gunicorn
    reads it."""
    module, _, name = wsgi_path.partition(":")
    return import_string(f"{module}.{name or 'application'}")


def _worker_application(wsgi_path: str, threads: int):
    _start_background(None)
    application = _load_application(wsgi_path)
    return application if threads > 1 else one_thread(application)


def one_thread(application):
    """granian tells every application `wsgi.multithread: True`, even on one thread. What reads it (the live
    chat's stream: wait for messages only where the wait does not take the worker from everyone else) must
    hear the truth, as it does from gunicorn's sync worker."""

    def single_threaded(environ, start_response):
        environ["wsgi.multithread"] = False
        return application(environ, start_response)

    return single_threaded


def gunicorn_config(options: dict) -> dict:
    """gunicorn settings from the command's options (a function, so tests can check it without serving)."""
    threads = max(1, options["threads"])
    max_requests = max(0, options["max_requests"])
    return {
        "bind": f"{options['host']}:{options['port']}",
        "workers": max(1, options["workers"]),
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "timeout": options["timeout"],
        "graceful_timeout": options["timeout"],
        "keepalive": options["keep_alive"],
        "max_requests": max_requests,
        "max_requests_jitter": max_requests // 10,
        "accesslog": "-" if options["access_log"] else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "omnishop",
        # Import Django once in the arbiter and fork: faster start, shared memory pages. Safe because
        # Django opens database connections lazily, in each worker, on first use.
        "preload_app": True,
        # Gunicorn's own request limits, at its defaults, stated so nobody wonders.
        "limit_request_line": 4094,
        "limit_request_fields": 100,
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        # gunicorn 23+ opens a control socket at one fixed path per user; two servers would fight over it.
        "control_socket_disable": True,
        # The embedded default (no Redis, so no Celery beat) runs the periodic jobs in every worker; each due
        # job runs in one of them (core/scheduler.py).
        # Likewise the outbox relay (core/outbox.py): a thread per worker delivers events after commit.
        "post_worker_init": _start_background if scheduler.enabled() or outbox.enabled() else None,
    }


def _start_background(worker) -> None:
    if scheduler.enabled():
        scheduler.SchedulerThread().start()
    if outbox.enabled():
        outbox.RelayThread().start()


def _application_class():
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def __init__(self, wsgi_path: str, config: dict) -> None:
            self.wsgi_path = wsgi_path
            self.config_values = config
            super().__init__()

        def load_config(self):
            for key, value in self.config_values.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self):
            from gunicorn.util import import_app

            application = import_app(self.wsgi_path)
            freeze_before_fork()  # preload_app: the arbiter forks its workers after this
            return application

    return _Server


def OmnishopServer(wsgi_path: str, config: dict):
    return _application_class()(wsgi_path, config)
