"""A WSGI application for test_serving.py: answers with what the server told it (`omnishop serve --wsgi`)."""

import orjson


def application(environ, start_response):
    body = orjson.dumps(
        {"multithread": environ["wsgi.multithread"], "server": environ.get("SERVER_SOFTWARE", "")}
    )
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
