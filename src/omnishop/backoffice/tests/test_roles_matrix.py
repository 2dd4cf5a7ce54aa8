"""The role matrix: every role × every documented operation, called for real through the API, allowed or
refused exactly as roles.py (and so docs/backoffice.md) says; and every desk URL and every staff GET endpoint
answers 403 exactly to the roles that lack the permission the view or endpoint itself declares."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, resolve, reverse

from omnishop.auth import StaffAuth
from omnishop.backoffice import roles
from omnishop.backoffice.tests.test_home import make_shop, staff_in
from omnishop.backoffice.web import urls as desk_urls
from omnishop.conftest import ApiClient
from omnishop.customers.models import Customer
from omnishop.orders import services as orders
from omnishop.payments import services as payments

pytestmark = pytest.mark.django_db
ROLE_KEYS = [r.key for r in roles.ROLES]
DOC = Path(__file__).resolve().parents[4] / "docs" / "backoffice.md"


@pytest.fixture
def world(web_channel, make_key):
    return make_shop(web_channel, make_key)


@dataclass
class Call:
    method: str
    path: str  # under /api/v1
    body: dict | None
    ok: int  # the status an allowed role gets


def _order(world, key: str):
    return world.checkout({world.variant(price="40.00", stock=5): 1}, key=key)


def _refund(world) -> Call:
    payment = payments.payments_for(reference=_order(world, "refund").payment_reference)[0]
    return Call("post", f"/payments/{payment.pk}/refunds", {"amount": "5.00", "reason": "late"}, 201)


def _capture(world) -> Call:
    payment = payments.start_payment(
        channel=world.channel,
        reference="AUTH-1",
        provider="test_card",
        amount=world.variant().listings.get().price,
        currency="GBP",
        token="4242424242424242",
        capture=False,
    )
    return Call("post", f"/payments/{payment.pk}/capture", {}, 200)


def _ship(world) -> Call:
    (fulfilment,) = orders.create_fulfilments(order=_order(world, "ship"), actor="test")
    return Call(
        "post", f"/orders/fulfilments/{fulfilment.pk}/ship", {"carrier": "dpd", "tracking_number": "T1"}, 200
    )


def _store_credit(world) -> Call:
    customer = Customer.objects.create(email="cred@example.com")
    return Call(
        "post", "/payments/store-credit", {"customer": customer.pk, "amount": "10.00", "currency": "GBP"}, 201
    )


def _adjust(world) -> Call:
    sku = world.variant(stock=4).sku
    body = {"sku": sku, "location": world.warehouse.code, "delta": -1, "reason_code": "damaged"}
    return Call("post", "/inventory/adjustments", body, 201)


def _transfer(world) -> Call:
    sku = world.variant(stock=4).sku
    lines = [{"sku": sku, "quantity": 1}]
    body = {"source": world.warehouse.code, "destination": world.store.code, "lines": lines}
    return Call("post", "/inventory/transfers", body, 201)


def _purchase_order(world) -> Call:
    body = {
        "supplier": "nobody",
        "location": world.warehouse.code,
        "lines": [{"sku": world.variant().sku, "quantity": 1}],
    }
    return Call(
        "post", "/inventory/purchase-orders", body, 422
    )  # past the permission: the supplier is unknown


def _price(world) -> Call:
    variant = world.variant(price="10.00")
    return Call(
        "put", f"/catalog/channels/{world.channel.code}/listings/{variant.pk}", {"price": "12.50"}, 200
    )


def _merge(world) -> Call:
    a = Customer.objects.create(email="a@example.com")
    b = Customer.objects.create(email="b@example.com")
    return Call("post", "/customers/merges", {"survivor": a.pk, "merged": b.pk}, 201)


CALLS: dict[str, Callable[..., Call]] = {
    "orders.list": lambda world: Call("get", "/orders", None, 200),
    "orders.ship": _ship,
    "orders.exceptions": lambda world: Call("get", "/orders/exceptions", None, 200),
    "payments.refund": _refund,
    "payments.capture": _capture,
    "payments.store_credit": _store_credit,
    "inventory.adjust": _adjust,
    "inventory.transfer": _transfer,
    "inventory.purchase_order": _purchase_order,
    "catalog.price": _price,
    "customers.view": lambda world: Call("get", "/customers", None, 200),
    "customers.merge": _merge,
    # past the permission check: the merge does not exist
    "catalog.undo_product_merge": lambda world: Call("post", "/datahub/product-merges/999999/undo", {}, 404),
    "search.synonyms": lambda world: Call(
        "put", "/search/synonyms", {"term": "hoody", "synonyms": ["hoodie"]}, 200
    ),
}


def endpoint_permissions(method: str, path: str) -> set[str]:
    """The permissions the API endpoint itself asks staff for (its `staff("…")` auth)."""
    path_view = resolve(f"/api/v1{path}").func.__closure__[0].cell_contents
    (operation,) = [op for op in path_view.operations if method.upper() in op.methods]
    return {p for auth in operation.auth_callbacks if isinstance(auth, StaffAuth) for p in auth.permissions}


def test_every_documented_operation_has_a_call_here():
    assert set(CALLS) == {op.key for op in roles.OPERATIONS}


@pytest.mark.parametrize("operation", roles.OPERATIONS, ids=lambda op: op.key)
def test_the_documented_permissions_are_what_the_endpoint_checks(world, operation):
    call = CALLS[operation.key](world)
    assert endpoint_permissions(call.method, call.path) == set(operation.permissions)


@pytest.mark.parametrize("role_key", ROLE_KEYS)
@pytest.mark.parametrize("operation", roles.OPERATIONS, ids=lambda op: op.key)
def test_each_role_may_do_exactly_its_documented_operations_through_the_api(world, operation, role_key):
    call = CALLS[operation.key](world)
    client = Client()
    client.force_login(staff_in(role_key))
    api = ApiClient(client)
    if call.method == "get":
        response = api.get(call.path)
    else:
        key = {"Idempotency-Key": f"matrix-{operation.key}"}
        response = getattr(api, call.method)(call.path, call.body, headers=key)
    if roles.allows(roles.BY_KEY[role_key], operation):
        assert response.status_code == call.ok, response.content
    else:
        assert response.status_code == 403, response.content


def test_the_documented_tables_are_the_ones_roles_py_makes():
    text = DOC.read_text()
    assert roles.operations_table() in text, "docs/backoffice.md: paste roles.operations_table() again"
    assert roles.permissions_table() in text, "docs/backoffice.md: paste roles.permissions_table() again"


# --- Every desk URL: 403 exactly for the roles without the permissions its staff_view declares ----------------


def _patterns(patterns, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _patterns(
                pattern.url_patterns, f"{prefix}{pattern.namespace + ':' if pattern.namespace else ''}"
            )
        else:
            found.append((prefix, pattern))
    return found


def _desk_urls() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every named desk URL with dummy arguments (999999, 'none'): the permission check comes before any
    lookup, so a refused role gets 403 whatever the argument."""
    found = []
    for prefix, pattern in _patterns(desk_urls.urlpatterns):
        converters = getattr(pattern.pattern, "converters", {})
        dummy = {name: 999999 if conv.regex == "[0-9]+" else "none" for name, conv in converters.items()}
        url = reverse(f"backoffice:{prefix}{pattern.name}", kwargs=dummy)
        found.append((pattern.name, url, getattr(pattern.callback, "permissions", None)))
    return found


DESK_URLS = _desk_urls()


def test_every_desk_view_declares_its_permissions():
    assert DESK_URLS, "no desk URL at all"
    assert [name for name, _url, permissions in DESK_URLS if permissions is None] == []


@pytest.mark.parametrize("role_key", ROLE_KEYS)
@pytest.mark.parametrize(("name", "url", "permissions"), DESK_URLS, ids=[d[0] for d in DESK_URLS])
def test_each_desk_url_refuses_exactly_the_roles_without_its_permissions(role_key, name, url, permissions):
    client = Client()
    client.force_login(staff_in(role_key))
    response = client.get(url)
    if set(permissions) <= set(roles.BY_KEY[role_key].permissions):
        assert response.status_code not in (401, 403) and response.status_code < 500, (
            name,
            response.status_code,
        )
    else:
        assert response.status_code == 403, (name, response.status_code)


# --- Every staff GET endpoint of the API without path parameters (lists, the dashboard's JSON, …) ------------


def _staff_get_endpoints() -> list[tuple[str, tuple[str, ...]]]:
    from omnishop.api import api

    found = []
    for prefix, router in api._routers:
        for route, path_view in router.path_operations.items():
            if "{" in route:
                continue
            for operation in path_view.operations:
                staff_auths = [a for a in operation.auth_callbacks if isinstance(a, StaffAuth)]
                if "GET" in operation.methods and staff_auths:
                    path = re.sub(r"/+", "/", f"/{prefix}/{route}").rstrip("/") or "/"
                    found.append((path, tuple(p for a in staff_auths for p in a.permissions)))
    return sorted(set(found))


STAFF_GETS = _staff_get_endpoints()


@pytest.mark.parametrize("role_key", ROLE_KEYS)
@pytest.mark.parametrize(("path", "permissions"), STAFF_GETS, ids=[p for p, _ in STAFF_GETS])
def test_each_staff_get_endpoint_refuses_exactly_the_roles_without_its_permission(
    role_key, path, permissions
):
    client = Client()
    client.force_login(staff_in(role_key))
    response = client.get(f"/api/v1{path}")
    if set(permissions) <= set(roles.BY_KEY[role_key].permissions):
        assert response.status_code not in (401, 403), (path, response.status_code, response.content[:300])
    else:
        assert response.status_code == 403, (path, response.status_code)
