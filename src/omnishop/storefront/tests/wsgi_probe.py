"""A WSGI application for test_serving.py: answers with what the server told it (`omnishop serve --wsgi`)."""

import gc
import sys

import orjson


def application(environ, start_response):
    body = orjson.dumps(
        {
            "multithread": environ["wsgi.multithread"],
            "server": environ.get("SERVER_SOFTWARE", ""),
            "frozen": gc.get_freeze_count(),
            "urlconf": "omnishop.urls" in sys.modules,
        }
    )
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
