"""The customers answers built by hand (the 360 view, search pages, a single customer, recognising a
shopper) leave through their declared output schema: a field the schema does not name never leaves the
server, and a value of the wrong type is a 500 in tests, not a silently broken contract (ADR 0009)."""

from __future__ import annotations

import pytest

from omnishop.api import api as ninja_api
from omnishop.customers import services
from omnishop.customers.services import resolve_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_api(api, web_channel, make_key):
    return api.with_key(make_key(web_channel, scopes=["customers:read", "customers:write"]))


@pytest.fixture
def customer(web_channel):
    return resolve_customer(channel=web_channel, external_id="W-1", email="ada@example.com").customer


def _drifting_360(monkeypatch, change):
    real = services.customer_360

    def drifted(**kwargs):
        view = real(**kwargs)
        change(view)
        return view

    monkeypatch.setattr(services, "customer_360", drifted)


def test_a_field_the_360_schema_does_not_name_never_leaves(staff_api, customer, monkeypatch):
    def leak(view):
        view["orders"]["provider_debug"] = "SELECT * FROM orders"
        view["preferences"]["internal_score"] = 7

    _drifting_360(monkeypatch, leak)
    response = staff_api.get(f"/customers/{customer.pk}/360")
    assert response.status_code == 200, response.content
    body = response.json()
    assert "provider_debug" not in body["orders"] and "internal_score" not in body["preferences"]


def test_a_360_value_of_the_wrong_type_is_an_error_not_an_answer(staff_api, customer, monkeypatch):
    _drifting_360(monkeypatch, lambda view: view.update(merged_from=["not an id"]))
    response = staff_api.get(f"/customers/{customer.pk}/360")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


def _component(name: str) -> set[str]:
    return set(ninja_api.get_openapi_schema()["components"]["schemas"][name]["properties"])


def test_staff_and_channels_get_exactly_the_fields_of_their_schemas(staff_api, key_api, customer):
    full, limited = _component("CustomerOut"), _component("ChannelCustomerOut")
    assert full != limited
    assert set(staff_api.get(f"/customers/{customer.pk}").json()) == full
    assert set(key_api.get(f"/customers/{customer.pk}").json()) == limited
    assert set(staff_api.get("/customers").json()["items"][0]) == full
    assert set(key_api.get("/customers").json()["items"][0]) == limited
    assert set(staff_api.get(f"/customers/{customer.pk}/360").json()["customer"]) == full
    assert set(key_api.get(f"/customers/{customer.pk}/360").json()["customer"]) == limited
    recognised = key_api.post("/customers", {"external_id": "W-1"})
    assert recognised.status_code == 200, recognised.content
    assert set(recognised.json()) == _component("ResolveOut")
    assert set(recognised.json()["customer"]) == limited
    assert set(recognised.json()["identity"]) == _component("IdentityOut")
