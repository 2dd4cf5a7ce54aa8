"""Shoppers sign up and sign in through allauth's headless API and reach their own customer record."""

import re

import orjson
import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from omnishop.customers.models import Customer
from omnishop.customers.services import resolve_customer

from .conftest import Headless, login_code_in

pytestmark = pytest.mark.django_db


def test_sign_up_with_password_gives_a_session_token_that_opens_the_profile(api, headless):
    token = headless.sign_up("Ada@Example.com")
    response = api.with_session(token).get("/customers/me")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["email"] == "ada@example.com" and body["has_account"] is True
    assert Customer.objects.filter(user__email__iexact="ada@example.com").count() == 1


def test_log_in_with_password_after_sign_up(api, headless):
    headless.sign_up("grace@example.com", "hopper's compiler 1952")
    response = headless.log_in("grace@example.com", "hopper's compiler 1952")
    assert response.status_code == 200, response.content
    token = response.json()["meta"]["session_token"]
    assert api.with_session(token).get("/customers/me").json()["email"] == "grace@example.com"


def test_passwordless_log_in_by_e_mailed_code(api, headless, web_channel):
    headless.sign_up("linus@example.com")
    token = Headless(ip="10.0.0.2").log_in_by_code("linus@example.com")
    assert api.with_session(token).get("/customers/me").json()["email"] == "linus@example.com"
    # Logging in by a code sent to the address proves the address.
    assert EmailAddress.objects.get(email="linus@example.com").verified


def test_a_wrong_log_in_code_is_refused(headless):
    headless.sign_up("ken@example.com")
    requested = headless.post("/auth/code/request", {"email": "ken@example.com"})
    pending = requested.json()["meta"]["session_token"]
    real = login_code_in(mail.outbox[-1].body)
    wrong = "AAAA-AAAA" if real != "AAAA-AAAA" else "BBBB-BBBB"
    response = headless.post("/auth/code/confirm", {"code": wrong}, token=pending)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "incorrect_code"


def test_repeated_failed_log_ins_are_rate_limited(headless):
    headless.sign_up("margaret@example.com")
    statuses = [headless.log_in("margaret@example.com", f"wrong password {i}").status_code for i in range(7)]
    assert statuses[0] == 400
    assert 429 in statuses
    # Even the right password is refused while the limit holds.
    assert headless.log_in("margaret@example.com", "a sturdy passphrase 42").status_code == 429


def test_behind_a_trusted_proxy_log_in_limits_count_each_client_not_the_proxy(settings):
    from django.test import Client

    settings.OMNISHOP_TRUSTED_PROXIES = ["10.0.0.0/8"]
    Headless().sign_up("ada@example.com")
    Headless().sign_up("grace@example.com")

    def log_in(client_ip: str, email: str, password: str) -> int:
        headless = Headless(ip="10.0.0.1")
        headless.client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=client_ip)
        return headless.log_in(email, password).status_code

    # One client past the per-address limit of failed log-ins (10 a minute), on many accounts.
    codes = [log_in("203.0.113.5", f"nobody{i}@example.com", "wrong password") for i in range(12)]
    assert codes[0] == 400 and codes[-1] == 429
    # Another client behind the same proxy logs in at once.
    assert log_in("192.0.2.8", "grace@example.com", "a sturdy passphrase 42") == 200


def test_an_invalid_session_token_is_unauthenticated(api):
    response = api.with_session("not-a-real-token").get("/customers/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_required"


def test_signing_up_does_not_claim_a_guest_history_before_the_e_mail_is_proven(api, headless, web_channel):
    guest = resolve_customer(channel=web_channel, email="barbara@example.com", first_name="Barbara").customer
    headless.start_sign_up("barbara@example.com")  # verification is mandatory: the key is not used yet
    guest.refresh_from_db()
    assert guest.user_id is None and guest.merged_into_id is None
    assert api.get("/customers/me").status_code == 401


def test_proving_the_e_mail_signed_up_with_links_the_guest_history(api, headless, web_channel):
    guest = resolve_customer(channel=web_channel, email="barbara@example.com", first_name="Barbara").customer
    token = headless.sign_up("barbara@example.com")
    me = api.with_session(token).get("/customers/me").json()
    guest.refresh_from_db()
    assert me["id"] == guest.pk or guest.merged_into_id == me["id"]
    assert me["first_name"] == "Barbara"


def test_proving_the_e_mail_by_code_links_the_guest_history(api, headless, web_channel):
    guest = resolve_customer(
        channel=web_channel, email="barbara@example.com", external_id="web-000123", first_name="Barbara"
    ).customer
    headless.sign_up("barbara@example.com")
    token = Headless(ip="10.0.0.3").log_in_by_code("barbara@example.com")
    me = api.with_session(token).get("/customers/me").json()
    guest.refresh_from_db()
    assert guest.merged_into_id == me["id"]
    view = api.with_session(token).get("/customers/me").json()
    assert view["first_name"] == "Barbara"


def test_a_customer_created_for_a_verified_user_is_the_guest_record_itself(web_channel, django_user_model):
    from omnishop.customers.services import customer_for_user

    guest = resolve_customer(channel=web_channel, email="edsger@example.com").customer
    user = django_user_model.objects.create_user(username="edsger", email="edsger@example.com", password="x")
    EmailAddress.objects.create(user=user, email="edsger@example.com", verified=True, primary=True)
    assert customer_for_user(user=user).pk == guest.pk
    assert customer_for_user(user=user).pk == guest.pk  # created once, then found


def test_a_new_proven_primary_e_mail_becomes_the_profile_e_mail(api, headless):
    token = headless.sign_up("old@example.com")
    added = headless.post("/account/email", {"email": "new@example.com"}, token=token)
    assert added.status_code == 200, added.content
    link = re.search(r"/confirm-email/([^/\s]+)/", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    verified = headless.post("/auth/email/verify", {"key": link.group(1)}, token=token)
    assert verified.status_code == 200, verified.content
    assert api.with_session(token).get("/customers/me").json()["email"] == "old@example.com"
    primary = headless.client.patch(
        "/_allauth/app/v1/account/email",
        orjson.dumps({"email": "new@example.com", "primary": True}),
        content_type="application/json",
        headers={"X-Session-Token": token},
    )
    assert primary.status_code == 200, primary.content
    assert api.with_session(token).get("/customers/me").json()["email"] == "new@example.com"
