"""Shopper accounts (django-allauth) meet the customer context here.

allauth announces sign-up, e-mail verification and a new primary address only through its signals (verification by a log-in
code never reaches the account adapter), so these receivers are the one bridge; each is a single
call into `services`, where the rules live. The adapter turns allauth's per-account lock-out after
repeated wrong passwords into an HTTP 429, as every other rate limit of the API answers (allauth answers
it with a 400 form error).
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.signals import email_changed, email_confirmed, user_signed_up
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal.ratelimit import respond_429
from django.core.exceptions import ValidationError
from django.dispatch import receiver

from omnishop.auth import client_address

from . import services


@receiver(user_signed_up, dispatch_uid="customers.user_signed_up")
def _signed_up(sender, request, user, **kwargs) -> None:
    services.customer_for_user(user=user)


@receiver(email_confirmed, dispatch_uid="customers.email_confirmed")
def _email_confirmed(sender, request, email_address, **kwargs) -> None:
    services.link_verified_email(user=email_address.user, email=email_address.email)


@receiver(email_changed, dispatch_uid="customers.email_changed")
def _email_changed(sender, request, user, from_email_address, to_email_address, **kwargs) -> None:
    if to_email_address.verified:  # a new primary address, proven: the profile follows it
        services.link_verified_email(user=user, email=to_email_address.email)


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth's per-address limits count the client behind our trusted proxies, as the API's do.
        return client_address(request)

    def pre_authenticate(self, request, **credentials) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError as exc:
            if getattr(exc, "code", None) == "too_many_login_attempts":
                raise ImmediateHttpResponse(respond_429(request)) from None
            raise
