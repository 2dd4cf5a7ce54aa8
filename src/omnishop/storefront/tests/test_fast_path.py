"""The lean WSGI path answers exactly as the Django endpoints do, with the same protections."""

from __future__ import annotations

import io
import sys

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import override_settings

from omnishop.storefront.wsgi import StorefrontFastPath

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
)


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.headers = dict(headers)
        self.content = body


def call(path: str, *, method: str = "GET", host: str = "127.0.0.1", **extra) -> Answer:
    """One request through the fast path (in front of Django), as gunicorn would make it."""
    # A fresh Django handler, so its middleware reads the settings of the moment (override_settings).
    app = StorefrontFastPath(WSGIHandler(), manage_connections=False)
    raw_path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": raw_path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        **extra,
    }
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers

    # Requests handed on to Django must not close the test's connection (Django's test client does the same).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(app(environ, start_response))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return Answer(seen["status"], seen["headers"], body)


@pytest.fixture
def shop(web_channel, market_channel, make_product, list_in, make_category):
    products = []
    for i in range(25):
        product = make_product(f"Item {i:02}", variants=2, images=1, category=make_category("home/kitchen"))
        list_in(product, web_channel, ["4.5", "6"], compare_at="7")
        products.append(product)
    list_in(products[0], market_channel, ["5", "5"])
    return products


def test_fast_path_and_django_endpoints_answer_byte_for_byte_the_same(client, shop):
    first_page = client.get("/api/v1/storefront/web/products").json()
    paths = [
        "/api/v1/storefront/web/products",
        "/api/v1/storefront/web/products?limit=5&ordering=-id",
        f"/api/v1/storefront/web/products?cursor={first_page['next_cursor']}",
        "/api/v1/storefront/web/products?category=home&q=item%201",
        f"/api/v1/storefront/web/products/{shop[3].slug}",
        f"/api/v1/storefront/marketplace/products/{shop[0].slug}",
        f"/api/v1/storefront/marketplace/products/{shop[1].slug}",
        "/api/v1/storefront/nowhere/products",
        "/api/v1/storefront/web/products?cursor=garbage",
        "/api/v1/storefront/web/products?limit=5000",
        "/api/v1/storefront/web/products?ordering=secret",
    ]
    for path in paths:
        fast = call(path)
        slow = client.get(path)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content), path
        assert fast.headers["Content-Type"] == "application/json"
        for header in SECURITY_HEADERS:
            assert fast.headers[header] == slow.headers[header], (path, header)


def test_fast_path_runs_the_catalogue_version_then_one_statement_plus_stock(
    shop, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):
        assert call("/api/v1/storefront/web/products").status_code == 200
    with django_assert_max_num_queries(3):
        assert call(f"/api/v1/storefront/web/products/{shop[0].slug}").status_code == 200


def test_a_head_request_gets_the_headers_and_no_body(shop):
    head = call("/api/v1/storefront/web/products", method="HEAD")
    get = call("/api/v1/storefront/web/products")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(get.content)) != "0"


def test_a_host_outside_allowed_hosts_is_refused_as_django_refuses_it(shop):
    with override_settings(ALLOWED_HOSTS=["shop.example.com"]):
        assert call("/api/v1/storefront/web/products", host="evil.example.net").status_code == 400
        assert call("/api/v1/storefront/web/products", host="shop.example.com").status_code == 200


def test_plain_http_is_redirected_when_ssl_redirect_is_on_and_https_gets_hsts(shop):
    with override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=3600):
        plain = call("/api/v1/storefront/web/products")
        assert plain.status_code == 301
        assert plain.headers["Location"] == "https://127.0.0.1/api/v1/storefront/web/products"
        behind_proxy = call("/api/v1/storefront/web/products", HTTP_X_FORWARDED_PROTO="https")
        assert behind_proxy.status_code == 200
        assert behind_proxy.headers["Strict-Transport-Security"].startswith("max-age=3600")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/v1/storefront/web/products", 405),
        ("GET", "/api/v1/storefront/web/products/", 404),
        ("GET", "/api/v1/storefront/web", 404),
        ("GET", "/api/v1/storefront/web/products/a/b", 404),
    ],
)
def test_other_requests_go_to_django_untouched(shop, method, path, status):
    answer = call(path, method=method)
    assert answer.status_code == status
