"""`omnishop serve`: the production HTTP server, gunicorn on the project's WSGI application.

Static files (the admin's CSS and JS included) are collected to STATIC_ROOT and served by whitenoise,
so the admin works with DEBUG off and no separate web server. Sync workers by default: the fastest
per request on the storefront read path (docs/storefront.md); `--threads N` switches to gthread for
slow clients or long keep-alive connections. Put a reverse proxy (TLS, buffering) in front on the internet.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from omnishop.core import outbox, scheduler


class Command(BaseCommand):
    help = "Serve Omnishop with gunicorn (production server; static files through whitenoise)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", "2")),
            help="Worker processes (default 2, or WEB_CONCURRENCY).",
        )
        parser.add_argument(
            "--threads", type=int, default=1, help="Threads per worker; above 1 uses the gthread worker."
        )
        parser.add_argument(
            "--timeout", type=int, default=30, help="Seconds before a stuck worker is restarted."
        )
        parser.add_argument(
            "--keep-alive", type=int, default=5, help="Seconds to hold idle keep-alive connections."
        )
        parser.add_argument(
            "--max-requests",
            type=int,
            default=0,
            help="Recycle a worker after this many requests (0 = never; jittered by 10%%).",
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
        if not options["no_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        config = gunicorn_config(options)
        self.stdout.write(
            f"Serving Omnishop on http://{options['host']}:{options['port']}/ "
            f"({config['workers']} {config['worker_class']} workers; API docs at /api/v1/docs, admin at /admin/)"
        )
        if settings.DEBUG:
            self.stdout.write(self.style.WARNING("DEBUG is on: do not expose this server to the internet."))
        # Workers are forked from this process: a database connection opened here (by `omnishop demo`'s
        # loading, say) must not be inherited and shared by several workers.
        connections.close_all()
        OmnishopServer(options["wsgi"], config).run()


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

            return import_app(self.wsgi_path)

    return _Server


def OmnishopServer(wsgi_path: str, config: dict):
    return _application_class()(wsgi_path, config)
