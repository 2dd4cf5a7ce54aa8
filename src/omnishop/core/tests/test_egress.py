"""The egress guard: what Omnishop refuses to call, proven without opening a connection to anything but loopback.

Every refusal test replaces the resolver (egress.resolve) and counts socket connections: none may be opened.
The tests that do talk HTTP talk to a receiver on 127.0.0.1 with loopback explicitly allowed.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from omnishop.core import egress


@pytest.fixture
def no_connections(monkeypatch):
    """Fails the test if anything tries to open a TCP connection."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"a connection was opened: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    return attempts


@pytest.fixture
def dns(monkeypatch):
    answers: dict[str, list[str]] = {}

    def fake_resolve(host, port):
        if host not in answers:
            raise socket.gaierror(f"{host} unknown")
        return answers[host]

    monkeypatch.setattr(egress, "resolve", fake_resolve)
    return answers


@pytest.mark.parametrize(
    "address, code",
    [
        ("127.0.0.1", "loopback"),
        ("127.3.4.5", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private_address"),
        ("172.16.0.9", "private_address"),
        ("192.168.1.1", "private_address"),
        ("100.64.0.1", "private_address"),
        ("fd12:3456::1", "private_address"),
        ("0.0.0.0", "private_address"),
        ("224.0.0.1", "private_address"),
        ("169.254.10.10", "link_local"),
        ("fe80::1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("::ffff:10.0.0.1", "private_address"),
        ("::ffff:127.0.0.1", "loopback"),
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused_before_connecting(
    dns, no_connections, address, code
):
    dns["hooks.example.com"] = [address]
    with pytest.raises(egress.EgressRefused) as refused:
        egress.request("POST", "https://hooks.example.com/in", json={"a": 1})
    assert refused.value.code == code
    assert no_connections == []


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5/x", "http://[::1]:8080/", "http://169.254.169.254/latest/meta-data/"]
)
def test_literal_addresses_are_checked_too(no_connections, url):
    with pytest.raises(egress.EgressRefused):
        egress.request("GET", url)
    assert no_connections == []


def test_one_private_answer_among_public_ones_refuses_the_name(dns, no_connections):
    """A rebinding attacker answers with several addresses; the connection could go to any of them."""
    dns["rebind.example.net"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(egress.EgressRefused) as refused:
        egress.request("GET", "https://rebind.example.net/")
    assert refused.value.code == "private_address"
    assert no_connections == []


@pytest.mark.parametrize(
    "url, code",
    [
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/x", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("https://user:secret@example.com/", "bad_host"),
        ("https:///nohost", "bad_host"),
        ("http://example.com:99999/", "bad_host"),
        ("https://unknown.invalid/", "bad_host"),
    ],
)
def test_malformed_urls_are_refused(dns, no_connections, url, code):
    with pytest.raises(egress.EgressRefused) as refused:
        egress.request("GET", url)
    assert refused.value.code == code


def test_loopback_is_refused_by_default_even_for_a_running_receiver(receiver, no_connections):
    with pytest.raises(egress.EgressRefused) as refused:
        egress.request("GET", receiver.url("/ok"))
    assert refused.value.code == "loopback"


class Receiver(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Receiver.seen.append(
            {"path": self.path, "host": self.headers.get("Host"), "body": body, "method": self.command}
        )
        if self.path.startswith("/redirect-internal"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        elif self.path.startswith("/redirect-local"):
            self.send_response(307)
            self.send_header("Location", "/ok")
            self.end_headers()
        elif self.path.startswith("/redirect-loop"):
            self.send_response(302)
            self.send_header("Location", "/redirect-loop")
            self.end_headers()
        elif self.path.startswith("/huge"):
            self.send_response(200)
            self.send_header("Content-Length", str(3 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(3 * 1024):
                    self.wfile.write(b"x" * 1024)
            except OSError:
                pass
        elif self.path.startswith("/bomb"):
            packed = gzip.compress(b"0" * (8 * 1024 * 1024))
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(packed)))
            self.end_headers()
            self.wfile.write(packed)
        elif self.path.startswith("/slow"):
            time.sleep(2)
            self.send_response(200)
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            payload = b'{"ok": true}'
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture
def receiver():
    Receiver.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = lambda path: f"http://127.0.0.1:{server.server_port}{path}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_allowed(settings):
    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True


def test_the_connection_goes_to_the_checked_address_with_the_name_in_the_host_header(
    receiver, loopback_allowed, dns
):
    dns["shop.example"] = ["127.0.0.1"]
    answer = egress.request("POST", f"http://shop.example:{receiver.server_port}/ok", json={"n": 1})
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert Receiver.seen[-1]["host"] == f"shop.example:{receiver.server_port}"
    assert Receiver.seen[-1]["body"] == b'{"n":1}'


def test_the_name_is_resolved_once_per_hop_so_a_changed_answer_cannot_redirect_the_connection(
    receiver, loopback_allowed, monkeypatch
):
    calls = []

    def rebinding(host, port):
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.1"]

    monkeypatch.setattr(egress, "resolve", rebinding)
    answer = egress.request("GET", f"http://rebinding.example:{receiver.server_port}/ok")
    assert answer.status_code == 200
    assert calls == [
        "rebinding.example"
    ]  # httpx never resolved it again: it connected to the checked address


def test_a_redirect_to_an_internal_address_is_refused(receiver, loopback_allowed):
    with pytest.raises(egress.EgressRefused) as refused:
        egress.request("GET", receiver.url("/redirect-internal"))
    assert refused.value.code == "redirect_refused"
    assert [hit["path"] for hit in Receiver.seen] == ["/redirect-internal"]


def test_a_redirect_is_followed_when_the_target_is_allowed_and_loops_stop(receiver, loopback_allowed):
    answer = egress.request("POST", receiver.url("/redirect-local"), content=b"body")
    assert answer.status_code == 200 and answer.history == [receiver.url("/redirect-local")]
    assert Receiver.seen[-1]["method"] == "POST" and Receiver.seen[-1]["body"] == b"body"  # 307 keeps both
    with pytest.raises(egress.EgressFailed) as failed:
        egress.request("GET", receiver.url("/redirect-loop"))
    assert failed.value.code == "protocol"
    no_follow = egress.request("GET", receiver.url("/redirect-internal"), follow_redirects=False)
    assert no_follow.status_code == 302


def test_large_responses_and_decompression_bombs_are_cut_off(receiver, loopback_allowed):
    with pytest.raises(egress.EgressFailed) as failed:
        egress.request("GET", receiver.url("/huge"))
    assert failed.value.code == "too_large"
    with pytest.raises(egress.EgressFailed) as bomb:
        egress.request("GET", receiver.url("/bomb"))
    assert bomb.value.code == "too_large"
    assert egress.request("GET", receiver.url("/ok"), max_bytes=100).content == b'{"ok": true}'


def test_a_slow_receiver_times_out(receiver, loopback_allowed):
    started = time.monotonic()
    with pytest.raises(egress.EgressFailed) as failed:
        egress.request("GET", receiver.url("/slow"), timeout=0.3)
    assert failed.value.code == "timeout"
    assert time.monotonic() - started < 1.5


def test_a_closed_port_is_a_connect_error(loopback_allowed):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(egress.EgressFailed) as failed:
        egress.request("GET", f"http://127.0.0.1:{port}/")
    assert failed.value.code == "connect_error"


def test_the_timeouts_cannot_be_raised_above_the_limits():
    assert egress.CONNECT_TIMEOUT == 5.0 and egress.TOTAL_TIMEOUT == 15.0
