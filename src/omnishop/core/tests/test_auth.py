"""Who is calling: staff powers come only from staff(permission), never from a shopper endpoint."""

import pytest
from django.test import RequestFactory
from ninja.errors import AuthorizationError

from omnishop.auth import shopper, staff

pytestmark = pytest.mark.django_db


def request_as(user, method="get"):
    request = getattr(RequestFactory(), method)("/api/v1/x")
    request.user = user
    return request


def test_a_staff_user_on_a_shopper_endpoint_acts_as_a_shopper(staff_user):
    principal = shopper()(request_as(staff_user))
    assert principal.kind == "shopper" and principal.user == staff_user


def test_staff_auth_checks_the_permission(django_user_model):
    clerk = django_user_model.objects.create_user(
        username="clerk", email="c@example.com", password="pw-123456!", is_staff=True
    )
    with pytest.raises(AuthorizationError):
        staff("catalog.change_product")(request_as(clerk))
    assert staff()(request_as(clerk)).kind == "staff"


def test_a_shopper_is_not_staff(django_user_model):
    buyer = django_user_model.objects.create_user(username="b", email="b@example.com", password="pw-123456!")
    assert staff()(request_as(buyer)) is None
    assert shopper()(request_as(buyer)).kind == "shopper"


def test_cookie_sessions_need_the_csrf_token_on_unsafe_methods(django_user_model):
    buyer = django_user_model.objects.create_user(username="b", email="b@example.com", password="pw-123456!")
    request = request_as(buyer, "post")
    request._dont_enforce_csrf_checks = False
    with pytest.raises(AuthorizationError, match="CSRF"):
        shopper()(request)
