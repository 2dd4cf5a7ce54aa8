"""Fixtures for the customers tests: shoppers signed up through the real allauth headless API."""

from __future__ import annotations

import re

import orjson
import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

APP = "/_allauth/app/v1"


@pytest.fixture(autouse=True)
def _fresh_rate_limits(db):  # the cache is a database table
    # allauth and the API count failed log-ins in the cache; one test's failures must not limit the next.
    cache.clear()
    yield
    cache.clear()


class Headless:
    """The allauth headless API as an app client speaks it: JSON in, session token out."""

    def __init__(self, ip: str = "10.0.0.1") -> None:
        self.client = Client(REMOTE_ADDR=ip)

    def post(self, path: str, body: dict, token: str | None = None):
        headers = {"X-Session-Token": token} if token else {}
        return self.client.post(
            f"{APP}{path}", orjson.dumps(body), content_type="application/json", headers=headers
        )

    def get(self, path: str, token: str | None = None):
        headers = {"X-Session-Token": token} if token else {}
        return self.client.get(f"{APP}{path}", headers=headers)

    def sign_up(self, email: str, password: str = "a sturdy passphrase 42") -> str:
        """Sign up and prove the e-mail with the key mailed (verification is mandatory): a session token."""
        pending = self.start_sign_up(email, password)
        verified = self.post(
            "/auth/email/verify", {"key": verification_key_in(mail.outbox[-1].body)}, pending
        )
        assert verified.status_code == 200, verified.content
        return verified.json()["meta"]["session_token"]

    def start_sign_up(self, email: str, password: str = "a sturdy passphrase 42") -> str:
        """Sign up without proving the e-mail: the pending flow's session token (the answer is a 401)."""
        response = self.post("/auth/signup", {"email": email, "password": password})
        assert response.status_code == 401, response.content
        assert [f["id"] for f in response.json()["data"]["flows"] if f.get("is_pending")] == ["verify_email"]
        return response.json()["meta"]["session_token"]

    def log_in(self, email: str, password: str):
        return self.post("/auth/login", {"email": email, "password": password})

    def log_in_by_code(self, email: str) -> str:
        outbox_before = len(mail.outbox)
        requested = self.post("/auth/code/request", {"email": email})
        assert requested.status_code == 401, requested.content
        pending = requested.json()["meta"]["session_token"]
        message = mail.outbox[outbox_before]
        code = login_code_in(message.body)
        confirmed = self.post("/auth/code/confirm", {"code": code}, token=pending)
        assert confirmed.status_code == 200, confirmed.content
        return confirmed.json()["meta"]["session_token"]


def verification_key_in(body: str) -> str:
    found = re.search(r"/confirm-email/([^/\s]+)/", body)
    assert found, body
    return found.group(1)


def login_code_in(body: str) -> str:
    found = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4}|[A-Z0-9]{6})\s*$", body, re.MULTILINE)
    assert found, body
    return found.group(1)


@pytest.fixture
def headless(db) -> Headless:
    return Headless()


@pytest.fixture
def shopper_token(headless):
    def make(email: str) -> str:
        return headless.sign_up(email)

    return make
