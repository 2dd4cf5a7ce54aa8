"""The HTTP machinery the fakes share: a threaded server on 127.0.0.1, a request log, and faults.

`server.fail_next(n, mode)` makes the next `n` requests answer 500, 429 with Retry-After, or hang beyond
the client's timeout (the connection is then dropped without applying anything).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeApp:
    """Subclasses implement `handle(request) -> Reply` over their in-memory state (under `self.lock`)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.faults: list[tuple[str, float]] = []
        self.hang_seconds = 3.0

    def fail_next(self, n: int, mode: str = "500", *, retry_after: float = 1) -> None:
        with self.lock:
            self.faults += [(mode, retry_after)] * n

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def fault_reply(self, mode: str, retry_after: float) -> Reply:
        raise ValueError(f"Unknown fault mode {mode!r}")

    def control(self, request: Request) -> Reply:
        """`/_fake/…`: drive the fake from outside its process (the demo): add an order, read the state,
        inject faults. Not part of the service's API; never faulted, never logged as a request."""
        body = request.json() if request.body else {}
        if request.method == "POST" and request.path == "/_fake/orders":
            lines = [(str(sku), int(q), str(price)) for sku, q, price in body["lines"]]
            return Reply(201, {"id": self.add_order(lines=lines)})
        if request.method == "POST" and request.path == "/_fake/faults":
            self.fail_next(
                int(body.get("count", 1)),
                str(body.get("mode", "500")),
                retry_after=float(body.get("retry_after", 1)),
            )
            return Reply(204)
        if request.method == "GET" and request.path == "/_fake/state":
            with self.lock:
                return Reply(200, self.state())
        return Reply(404, {"errors": "Not Found"})

    def add_order(self, *, lines):
        raise NotImplementedError

    def state(self) -> dict:
        return {"applied": [list(map(str, a)) for a in self.applied[-200:]]}

    def dispatch(self, request: Request) -> Reply | None:
        if request.path.startswith("/_fake/"):
            try:
                return self.control(request)
            except (ValueError, KeyError, TypeError) as exc:
                return Reply(400, {"errors": f"bad control request: {exc}"})
        with self.lock:
            self.requests.append(request)
            fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            mode, retry_after = fault
            if mode == "429":
                return Reply(429, {"errors": "Exceeded rate limit."}, {"Retry-After": str(retry_after)})
            if mode == "hang":
                time.sleep(self.hang_seconds)
                return None  # the client gave up; drop the connection, apply nothing
            if mode == "500":
                return Reply(500, {"errors": "Internal Server Error"})
            return self.fault_reply(mode, retry_after)
        with self.lock:
            return self.handle(request)


class _Handler(BaseHTTPRequestHandler):
    app: FakeApp
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            headers={k: v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.app.dispatch(request)
        if reply is None:
            self.close_connection = True
            return
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class FakeServer:
    """Runs a FakeApp on 127.0.0.1:<port> (0 = any free port) in a daemon thread."""

    def __init__(self, app: FakeApp, port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"app": app})
        self.app = app
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        # A short poll: stop() returns in 50 ms instead of serve_forever's default half second.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(app_factory, description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = FakeServer(app_factory(), args.port).start()
    print(f"{description} listening on {server.url}", flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()
