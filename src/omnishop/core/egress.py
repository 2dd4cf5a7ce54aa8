"""The one HTTP client for everything that leaves Omnishop: webhook deliveries and channel connectors.

A URL that an integrator or a member of staff typed must never make Omnishop call into its own network
(SSRF). So before every connection, and again for every redirect:

- the scheme must be http or https, the host a name or an address, no credentials in the URL;
- the host is resolved here (`resolve`, a seam tests replace) and *every* address it resolves to must be
  public: loopback, private (RFC 1918, unique-local), link-local, cloud metadata (169.254.169.254,
  fd00:ec2::254), carrier-grade NAT, multicast, reserved and unspecified addresses are refused;
- the connection goes to the address that was checked (the Host header and TLS SNI keep the name), so a
  DNS answer that changes between the check and the connect (rebinding) cannot reach another address.

Loopback is allowed only with settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK (off by default; tests and the demo
turn it on to reach their local fakes). Limits: connect ≤ 5 s, the whole exchange ≤ 15 s, the response body
≤ 1 MiB unless the caller asks for less or more. Errors are two exception classes with stable codes.
"""

from __future__ import annotations

import ipaddress
import json as jsonlib
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
MAX_BYTES = 1024 * 1024
MAX_REDIRECTS = 3

METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
CARRIER_NAT = ipaddress.ip_network("100.64.0.0/10")

# Loading the CA bundle costs ~40 ms; one verifying context is shared by every request (thread-safe).
_TLS = ssl.create_default_context()


class EgressError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EgressRefused(EgressError):
    """The request was not sent: the URL or an address it resolves to is not allowed."""


class EgressFailed(EgressError):
    """The request was sent (or tried) and did not complete: timeout, connection error, too large."""


@dataclass
class Response:
    status_code: int
    headers: urllib3.HTTPHeaderDict  # case-insensitive, like every HTTP header lookup
    content: bytes
    elapsed_ms: float
    url: str
    history: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return jsonlib.loads(self.content)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this to simulate DNS answers)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def refusal(address: str) -> tuple[str, str] | None:
    """(code, reason) when `address` must not be called, else None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "metadata", f"{ip} is a cloud metadata address."
    if ip.is_loopback:
        if getattr(settings, "OMNISHOP_EGRESS_ALLOW_LOOPBACK", False):
            return None
        return "loopback", f"{ip} is a loopback address."
    if ip.is_link_local:
        return "link_local", f"{ip} is a link-local address."
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "private_address", f"{ip} is not a public unicast address."
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in CARRIER_NAT) or not ip.is_global:
        return "private_address", f"{ip} is a private address."
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str  # the checked address the connection goes to


def check(url: str) -> Target:
    """The address to connect to for `url`, or EgressRefused. No connection is opened."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise EgressRefused("bad_host", f"The URL cannot be parsed: {error}.") from None
    if parts.scheme not in ("http", "https"):
        raise EgressRefused("scheme", "Only http and https URLs can be called.")
    if parts.username or parts.password:
        raise EgressRefused("bad_host", "Credentials in the URL are not allowed.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise EgressRefused("bad_host", "The URL has no host.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            raise EgressRefused("bad_host", f"{host} does not resolve.") from None
        if not addresses:
            raise EgressRefused("bad_host", f"{host} does not resolve.")
    for address in addresses:  # one bad answer refuses the name: a rebinding attacker returns several
        problem = refusal(address)
        if problem:
            code, reason = problem
            raise EgressRefused(code, f"{host} resolves to {address}: {reason}")
    return Target(scheme=parts.scheme, host=host, port=port, address=addresses[0])


# urllib3 rather than httpx (ADR 0048): the same keep-alive pools and timeouts for half the CPU per request
# (a relay's webhook delivery spent ~40 % of its CPU in httpx's request path).
_POOLS: OrderedDict[tuple, urllib3.HTTPConnectionPool] = OrderedDict()
_POOLS_LOCK = threading.Lock()
MAX_POOLS = 64


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    """A keep-alive pool per (scheme, checked address, port, name): a relay sending hundreds of deliveries
    to one endpoint reuses its connections; keyed by the name too, so a TLS connection made for one name
    is never reused for another name on the same address. The pool connects to the checked address; TLS
    sends the name (SNI) and verifies the certificate against it."""
    key = (target.scheme, target.address, target.port, target.host)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is not None:
            _POOLS.move_to_end(key)
            return pool
        # As many kept-alive connections as a relay sends at once (OMNISHOP_WEBHOOK_CONCURRENCY): a round to
        # one endpoint reuses the last round's connections instead of opening new ones.
        size = max(32, int(getattr(settings, "OMNISHOP_WEBHOOK_CONCURRENCY", 32) or 32))
        options = {"maxsize": size, "block": False, "retries": False}
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                target.address, target.port, server_hostname=target.host, ssl_context=_TLS, **options
            )
        else:
            pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
        _POOLS[key] = pool
        while len(_POOLS) > MAX_POOLS:
            _, oldest = _POOLS.popitem(last=False)
            oldest.close()
        return pool


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | str | None = None,
    json=None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    follow_redirects: bool = True,
) -> Response:
    """Send one request through the egress guard; see the module's docstring for what is refused."""
    total = min(timeout or TOTAL_TIMEOUT, TOTAL_TIMEOUT)
    limit = MAX_BYTES if max_bytes is None else max_bytes
    if json is not None:
        content = jsonlib.dumps(json, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    if isinstance(content, str):
        content = content.encode()
    deadline = time.monotonic() + total
    started = time.perf_counter()
    history: list[str] = []
    current = url
    while True:
        target = check(current)
        sent_headers = {"User-Agent": "Omnishop/1 (+egress)", **(headers or {})}
        default_port = 443 if target.scheme == "https" else 80
        sent_headers["Host"] = target.host if target.port == default_port else f"{target.host}:{target.port}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EgressFailed("timeout", f"No answer within {total:g} s.")
        limits = urllib3.Timeout(connect=min(CONNECT_TIMEOUT, remaining), read=remaining)
        parts = urlsplit(current)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            answer = _pool(target).urlopen(
                method,
                path,
                body=content,
                headers=sent_headers,
                timeout=limits,
                retries=False,
                redirect=False,
                preload_content=False,
                decode_content=True,
                assert_same_host=False,
            )
            try:
                body = bytearray()
                for chunk in answer.stream(65536, decode_content=True):  # decoded: a gzip bomb hits the limit
                    body += chunk
                    if len(body) > limit:
                        answer.close()  # not drained: the connection goes, not back to the pool
                        raise EgressFailed("too_large", f"The response is larger than {limit} bytes.")
                    if time.monotonic() > deadline:
                        answer.close()
                        raise EgressFailed("timeout", f"No complete answer within {total:g} s.")
                status, answer_headers = answer.status, answer.headers
            finally:
                answer.release_conn()
        except EgressFailed:
            raise
        except (
            NewConnectionError,
            SSLError,
        ) as error:  # NewConnectionError first: it is a timeout's subclass
            raise EgressFailed("connect_error", f"Could not connect to {target.host}: {error}.") from None
        except Urllib3Timeout:
            raise EgressFailed("timeout", f"No answer within {total:g} s.") from None
        except (HTTPError, OSError) as error:
            raise EgressFailed("protocol", f"The exchange with {target.host} failed: {error}.") from None
        location = answer_headers.get("location")
        if follow_redirects and status in (301, 302, 303, 307, 308) and location:
            if len(history) >= MAX_REDIRECTS:
                raise EgressFailed("protocol", f"More than {MAX_REDIRECTS} redirects.")
            history.append(current)
            following = urljoin(current, location)
            try:
                check(following)
            except EgressRefused as refused:
                raise EgressRefused(
                    "redirect_refused", f"Redirect to {following} refused: {refused.message}"
                ) from None
            if status == 303 or (status in (301, 302) and method.upper() == "POST"):
                method, content = "GET", None
            current = following
            continue
        return Response(
            status_code=status,
            headers=answer_headers,
            content=bytes(body),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            url=current,
            history=history,
        )
