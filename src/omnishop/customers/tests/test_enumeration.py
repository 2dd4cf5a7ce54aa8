"""Sign-up and password reset say nothing about whether an e-mail has an account: a known and an unknown
address get the same answer, in allauth's HTML pages and in its headless API; only the owner of a known
address hears about it, by e-mail."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.test import Client

from .conftest import Headless

pytestmark = pytest.mark.django_db

KNOWN, UNKNOWN = "known@example.com", "stranger@example.com"
PASSWORD = "another sturdy passphrase 7"


@pytest.fixture
def known(headless):
    headless.sign_up(KNOWN)
    mail.outbox.clear()
    cache.clear()  # allauth mails an address at most once in 3 minutes (ACCOUNT_RATE_LIMITS confirm_email)


def _headless(path: str, body: dict, ip: str):
    response = Headless(ip=ip).post(path, body)
    data = response.json()
    data.get("meta", {}).pop("session_token", None)  # a fresh pending flow each time, known or not
    return response.status_code, data


def test_headless_sign_up_answers_the_same_for_a_known_e_mail(known):
    for_known = _headless("/auth/signup", {"email": KNOWN, "password": PASSWORD}, "10.1.0.1")
    for_unknown = _headless("/auth/signup", {"email": UNKNOWN, "password": PASSWORD}, "10.1.0.2")
    assert for_known == for_unknown
    assert for_known[0] == 401
    assert get_user_model().objects.filter(email__iexact=KNOWN).count() == 1  # no second account
    # The owner of the known address is told by e-mail; the newcomer gets the verification mail.
    assert sorted(m.to[0] for m in mail.outbox) == [KNOWN, UNKNOWN]


def test_headless_password_reset_answers_the_same_for_a_known_e_mail(known):
    for_known = _headless("/auth/password/request", {"email": KNOWN}, "10.1.0.3")
    for_unknown = _headless("/auth/password/request", {"email": UNKNOWN}, "10.1.0.4")
    assert for_known == for_unknown
    assert for_known[0] == 200


def _html(path: str, data: dict, ip: str):
    response = Client(REMOTE_ADDR=ip).post(path, data)
    return response.status_code, response.get("Location")


def test_html_sign_up_answers_the_same_for_a_known_e_mail(known):
    for_known = _html("/accounts/signup/", {"email": KNOWN, "password1": PASSWORD}, "10.2.0.1")
    for_unknown = _html("/accounts/signup/", {"email": UNKNOWN, "password1": PASSWORD}, "10.2.0.2")
    assert for_known == for_unknown
    assert for_known[0] == 302
    assert get_user_model().objects.filter(email__iexact=KNOWN).count() == 1


def test_html_password_reset_answers_the_same_for_a_known_e_mail(known):
    for_known = _html("/accounts/password/reset/", {"email": KNOWN}, "10.2.0.3")
    for_unknown = _html("/accounts/password/reset/", {"email": UNKNOWN}, "10.2.0.4")
    assert for_known == for_unknown
    assert for_known[0] == 302
    assert [m.to[0] for m in mail.outbox][:1] == [KNOWN]
