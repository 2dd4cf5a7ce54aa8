"""The lean read path: GET/HEAD of the storefront API answered in front of Django's middleware stack.

`omnishop serve` runs this WSGI application. It answers exactly two URL shapes —
`/api/v1/storefront/{channel}/products` and `/api/v1/storefront/{channel}/products/{slug}` — with the same
code the django-ninja endpoints run (`render.py`), and hands every other request to Django untouched.

Why it is safe to skip the middleware for these two shapes: they are public, read-only and cookie-free
(no session, user, CSRF token or message is read or set). What the skipped middleware would still
contribute is redone here: the Host header is validated against ALLOWED_HOSTS; a request that
SECURE_SSL_REDIRECT would redirect goes to Django, which redirects it; and the security headers
(nosniff, referrer policy, COOP, X-Frame-Options, HSTS on HTTPS) are added. Tests compare both paths.

Database connections: instead of Django's per-request health check (a `SELECT 1` before the first
query of every request), a request that fails on a broken connection closes it and is retried once on
a fresh one; CONN_MAX_AGE is honoured at the end of each request as Django does.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

import orjson
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host

from omnishop.core import dbrouting
from omnishop.core.errors import DomainError
from omnishop.wsgi import application as django_application

from . import render

logger = logging.getLogger(__name__)

PREFIX = "/api/v1/storefront/"
_STATUS = {
    200: "200 OK",
    304: "304 Not Modified",
    404: "404 Not Found",
    422: "422 Unprocessable Entity",
    500: "500 Internal Server Error",
}


def _security_headers() -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json")]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
    return headers


def _hsts_header() -> tuple[str, str] | None:
    if not settings.SECURE_HSTS_SECONDS:
        return None
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return ("Strict-Transport-Security", value)


def _error_body(exc: DomainError) -> bytes:
    return orjson.dumps({"error": exc.as_dict()}, default=str)


_INTERNAL_ERROR = orjson.dumps(
    {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side; it has been logged.",
            "field": None,
            "details": {},
        }
    }
)


class StorefrontFastPath:
    """WSGI wrapper: the storefront's two read endpoints here, everything else to `app` (Django)."""

    def __init__(self, app, *, manage_connections: bool = True) -> None:
        self.app = app
        # Off only in tests, which hold the connection in a transaction (as Django's test client does).
        self.manage_connections = manage_connections
        self._headers: list[tuple[str, str]] | None = None
        self._hsts: tuple[str, str] | None = None
        self._good_hosts: set[str] = set()

    # -- routing ---------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        try:
            parts = path[len(PREFIX) :].encode("latin-1").decode("utf-8").split("/")
        except UnicodeError:
            return self.app(environ, start_response)
        if len(parts) not in (2, 3) or parts[1] != "products" or not all(parts):
            return self.app(environ, start_response)
        secure = self._is_secure(environ)
        if not self._host_allowed(environ) or (settings.SECURE_SSL_REDIRECT and not secure):
            return self.app(environ, start_response)  # Django answers 400 / redirects, as it always does
        if dbrouting.replica_configured():
            # Read-your-writes as ReadYourWritesMiddleware does it: a client that wrote lately reads the primary.
            cookie = parse_cookie(environ.get("HTTP_COOKIE", "")).get(dbrouting.COOKIE)
            with dbrouting.request_scope(pinned=dbrouting.cookie_pins(cookie)):
                status, body, cache_headers = self._answer(parts, environ)
        else:
            status, body, cache_headers = self._answer(parts, environ)
        head = environ["REQUEST_METHOD"] == "HEAD"
        return self._respond(start_response, status, body, secure, head, cache_headers)

    def _answer(self, parts: list[str], environ) -> render.Answer:
        conditional = {
            "if_none_match": environ.get("HTTP_IF_NONE_MATCH"),
            "if_modified_since": environ.get("HTTP_IF_MODIFIED_SINCE"),
        }
        for attempt in (1, 2):
            try:
                if len(parts) == 2:
                    params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
                    return render.product_page(parts[0], params, **conditional)
                return render.product_detail(parts[0], parts[2], **conditional)
            except DomainError as exc:
                return exc.status, _error_body(exc), []
            except (OperationalError, InterfaceError) as exc:
                # A connection the server dropped (restart, idle timeout): retry once on a new one.
                connection.close()
                if dbrouting.replica_configured() and connections[dbrouting.REPLICA].errors_occurred:
                    dbrouting.replica_failed(exc)  # the retry reads from the primary
                if attempt == 2:
                    logger.exception(
                        "Storefront request failed on the database: %s", environ.get("PATH_INFO")
                    )
                    return 500, _INTERNAL_ERROR, []
            except Exception:
                logger.exception("Unhandled error in GET %s", environ.get("PATH_INFO"))
                return 500, _INTERNAL_ERROR, []
            finally:
                if self.manage_connections:
                    self._end_of_request()
        raise AssertionError("unreachable")

    def _respond(self, start_response, status: int, body: bytes, secure: bool, head: bool, cache_headers):
        if self._headers is None:
            self._headers, self._hsts = _security_headers(), _hsts_header()
        if status == 304:  # no body, so neither its type nor its length (RFC 9110 §15.4.5)
            headers = [h for h in self._headers if h[0] != "Content-Type"]
        else:
            headers = [*self._headers, ("Content-Length", str(len(body)))]
        headers += cache_headers
        if secure and self._hsts:
            headers.append(self._hsts)
        start_response(_STATUS.get(status) or f"{status} Error", headers)
        return [b""] if head else [body]

    # -- what Django's middleware would have checked ---------------------------------------------------

    def _host_allowed(self, environ) -> bool:
        if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
            return False  # let Django apply its full rules for forwarded hosts
        host = environ.get("HTTP_HOST")
        if not host:
            return False
        if host in self._good_hosts:
            return True
        domain, _ = split_domain_port(host)
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = [".localhost", "127.0.0.1", "[::1]"]
        if domain and validate_host(domain, allowed):
            if len(self._good_hosts) < 64:
                self._good_hosts.add(host)
            return True
        return False

    @staticmethod
    def _is_secure(environ) -> bool:
        proxy = settings.SECURE_PROXY_SSL_HEADER
        if proxy:
            header, value = proxy
            forwarded = environ.get(header)
            if forwarded is not None:
                return forwarded.split(",", 1)[0].strip() == value
        return environ.get("wsgi.url_scheme") == "https"

    @staticmethod
    def _end_of_request() -> None:
        """Django's end-of-request connection care, minus re-arming the per-request health check."""
        for alias in (
            (dbrouting.PRIMARY, dbrouting.REPLICA) if dbrouting.replica_configured() else (dbrouting.PRIMARY,)
        ):
            conn = connections[alias]
            if conn.connection is None:
                continue
            if conn.errors_occurred or (conn.close_at is not None and time.monotonic() >= conn.close_at):
                conn.close_if_unusable_or_obsolete()


application = StorefrontFastPath(django_application)
