"""Failed credentials are limited per client address and per credential, in the cache every worker shares;
a valid credential is never refused because of anybody's failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory

import omnishop
from omnishop.auth import (
    FAILED_AUTH_LIMIT_PER_CREDENTIAL,
    FAILED_AUTH_LIMIT_PER_MINUTE,
    client_address,
)
from omnishop.conftest import ApiClient

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def from_address(remote: str, forwarded: str | None = None) -> ApiClient:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return ApiClient(Client(**extra))


def wrong_keys(n: int) -> list[str]:
    return [f"osk_{i:012x}_not-a-real-secret" for i in range(n)]


def statuses(client: ApiClient, keys: list[str]) -> list[int]:
    return [client.with_key(k).get("/channels").status_code for k in keys]


def address_of(remote: str, forwarded: str | None = None) -> str:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


def test_a_valid_key_works_from_an_address_that_sent_many_bad_ones(web_channel, make_key):
    valid = make_key(web_channel)
    client = from_address("203.0.113.7")
    codes = statuses(client, wrong_keys(FAILED_AUTH_LIMIT_PER_MINUTE + 5))
    assert codes[:FAILED_AUTH_LIMIT_PER_MINUTE] == [401] * FAILED_AUTH_LIMIT_PER_MINUTE
    assert codes[FAILED_AUTH_LIMIT_PER_MINUTE:] == [429] * 5
    assert client.with_key(valid).get("/channels").status_code == 200


def test_one_key_presented_wrongly_from_many_addresses_is_limited_by_its_prefix(web_channel, make_key):
    valid = make_key(web_channel)
    prefix = valid.split("_")[1]
    codes = [
        from_address(f"198.51.100.{i}").with_key(f"osk_{prefix}_guess-{i}").get("/channels").status_code
        for i in range(FAILED_AUTH_LIMIT_PER_CREDENTIAL + 2)
    ]
    assert codes == [401] * FAILED_AUTH_LIMIT_PER_CREDENTIAL + [429] * 2
    # Another bad key from a fresh address is an ordinary failure; the real key still works.
    assert statuses(from_address("198.51.100.200"), wrong_keys(1)) == [401]
    assert from_address("198.51.100.201").with_key(valid).get("/channels").status_code == 200


def test_behind_a_trusted_proxy_one_clients_failures_do_not_limit_another(settings, web_channel):
    settings.OMNISHOP_TRUSTED_PROXIES = ["10.0.0.0/8"]
    attacker = from_address(PROXY, "203.0.113.66")
    assert statuses(attacker, wrong_keys(FAILED_AUTH_LIMIT_PER_MINUTE + 1))[-1] == 429
    assert statuses(from_address(PROXY, "192.0.2.10"), ["osk_ffffffffffff_typo"]) == [401]


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings, web_channel):
    settings.OMNISHOP_TRUSTED_PROXIES = ["10.0.0.0/8"]
    codes = [
        from_address("203.0.113.9", f"192.0.2.{i}").with_key(key).get("/channels").status_code
        for i, key in enumerate(wrong_keys(FAILED_AUTH_LIMIT_PER_MINUTE + 1))
    ]
    assert codes[-1] == 429


def test_the_client_is_the_right_most_forwarded_hop_that_is_not_a_trusted_proxy(settings):
    settings.OMNISHOP_TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]
    assert address_of(PROXY, "192.0.2.1") == "192.0.2.1"
    # The client wrote the left-most hops itself: never believed.
    assert address_of(PROXY, "6.6.6.6, 192.0.2.1") == "192.0.2.1"
    # A chain of our own proxies is walked through.
    assert address_of(PROXY, "192.0.2.1, 10.1.1.1,10.2.2.2") == "192.0.2.1"
    assert address_of("fd00::1", "2001:db8::5") == "2001:db8::5"
    # Only trusted hops: the left-most one is the nearest we know.
    assert address_of(PROXY, "10.3.3.3") == "10.3.3.3"
    # No header: the proxy itself.
    assert address_of(PROXY) == PROXY
    assert address_of(PROXY, " , ") == PROXY
    # A hop that is not an address stops the walk (and cannot pass for one of ours).
    assert address_of(PROXY, "192.0.2.1, garbage") == "garbage"
    # From an untrusted peer the header means nothing.
    assert address_of("192.0.2.50", "10.0.0.9") == "192.0.2.50"


def test_without_trusted_proxies_the_peer_address_is_the_client(settings):
    settings.OMNISHOP_TRUSTED_PROXIES = []
    assert address_of(PROXY, "192.0.2.1") == PROXY


def test_a_malformed_trusted_proxy_setting_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.OMNISHOP_TRUSTED_PROXIES = ["10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured):
        address_of(PROXY, "192.0.2.1")


def test_bad_session_tokens_are_counted_too(api):
    codes = [
        from_address("203.0.113.30").with_session(f"bad-token-{i}").get("/customers/me").status_code
        for i in range(FAILED_AUTH_LIMIT_PER_MINUTE + 1)
    ]
    assert (codes[0], codes[-1]) == (401, 429)


def test_a_token_checked_by_two_kinds_of_caller_counts_as_one_failure(api):
    # Cart endpoints accept a channel key, staff or a shopper: the staff and the shopper check both read it.
    client = from_address("203.0.113.31")
    codes = [
        client.with_session("the-same-bad-token").get("/orders/carts/nope").status_code
        for _ in range(FAILED_AUTH_LIMIT_PER_CREDENTIAL + 1)
    ]
    assert codes == [401] * FAILED_AUTH_LIMIT_PER_CREDENTIAL + [429]


def test_the_embedded_default_shares_its_counters_through_the_database():
    from django.conf import settings

    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_failures_counted_in_another_process_limit_this_one(web_channel):
    """Each gunicorn worker is a process: what one counted, the others see (a database cache here)."""
    program = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "client = Client(REMOTE_ADDR='203.0.113.77')\n"
        f"for i in range({FAILED_AUTH_LIMIT_PER_MINUTE}):\n"
        "    client.get('/api/v1/channels', headers={'Authorization': f'Bearer osk_{i:012x}_x'})\n"
    )
    src = str(Path(omnishop.__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={
            **os.environ,
            "PYTHONPATH": src,
            "DJANGO_SETTINGS_MODULE": "omnishop.settings",
            "DATABASE_URL": database_url(),
            "DEBUG": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert statuses(from_address("203.0.113.77"), ["osk_aaaaaaaaaaaa_x"]) == [429]


@pytest.mark.redis
def test_with_redis_the_counters_live_in_redis(settings, web_channel, make_key):
    redis_url = os.environ.get("OMNISHOP_TEST_REDIS_URL", "")
    if not redis_url:
        pytest.skip("OMNISHOP_TEST_REDIS_URL is set by scripts/run-tests (make test), which starts Redis")
    import redis

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"auth-limits-{os.getpid()}",
        }
    }
    cache.clear()
    valid = make_key(web_channel)
    client = from_address("203.0.113.88")
    assert statuses(client, wrong_keys(FAILED_AUTH_LIMIT_PER_MINUTE + 1))[-1] == 429
    server = redis.Redis.from_url(redis_url)
    assert server.keys(f"auth-limits-{os.getpid()}:*authfail:addr:*")
    assert client.with_key(valid).get("/channels").status_code == 200
    cache.clear()
