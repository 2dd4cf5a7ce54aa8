"""Schema fuzzing of /api/v1: Schemathesis generates requests from our own OpenAPI document and sends them to
the app in-process (WSGI), as nobody, as a channel key, as a signed-in shopper and as a staff member.

The bar: no input gets a 5xx (`not_a_server_error`), and every answer matches the schema the operation
publishes (`response_schema_conformance`). Examples are few per operation and derandomised, so a run takes
a couple of minutes per database and fails the same way twice; rate limits are relaxed for this module only
(the fuzzer sends thousands of bad credentials from one address). Deeper, on demand:
`OMNISHOP_FUZZ_EXAMPLES=50 .venv/bin/python -m pytest src/omnishop/tests/test_schemathesis.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core.cache import cache  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from django.test import Client  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("OMNISHOP_FUZZ_EXAMPLES", "4"))
PASSWORD = "correct horse battery staple"

CONFIG = SchemathesisConfig.from_path(Path(__file__).resolve().parents[3] / "schemathesis.toml")
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler(), config=CONFIG)

fuzz_settings = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _session_token(email: str) -> str:
    login = Client().post(
        "/_allauth/app/v1/auth/login",
        {"email": email, "password": PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200, login.content
    return login.json()["meta"]["session_token"]


@pytest.fixture
def shopper_user(db, django_user_model):
    """A shopper with an account (a proven e-mail and a password), signed in through the app's headless API."""
    from allauth.account.models import EmailAddress

    user = django_user_model.objects.create_user(
        email="shopper@example.com", username="shopper", password=PASSWORD
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def callers(db, web_channel, make_key, staff_user, shopper_user, settings):
    """Headers of the four kinds of caller; each run starts with an empty cache (no failure counts)."""
    settings.ACCOUNT_RATE_LIMITS = False
    staff_token, shopper_token = _session_token(staff_user.email), _session_token(shopper_user.email)
    # The app runs in this thread, inside the test's transaction: keep Django from closing the connection at
    # the end of each request, as its test client does (after the log-in: the test client reconnects them).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield {
            "nobody": {},
            "channel key": {"Authorization": f"Bearer {make_key(web_channel)}"},
            "shopper": {"X-Session-Token": shopper_token},
            "staff": {"X-Session-Token": staff_token},
        }
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


SENT = {"cases": 0, "requests": 0}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nschemathesis: {SENT['cases']} cases, {SENT['requests']} requests")  # shown with -s


@schema.parametrize()
@fuzz_settings
def test_no_server_error_and_every_answer_matches_its_schema(case, callers):
    SENT["cases"] += 1
    for who, headers in callers.items():
        cache.clear()
        response = case.call(headers=headers)
        SENT["requests"] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except AssertionError as failure:
            raise AssertionError(f"as {who}: {failure}") from failure
