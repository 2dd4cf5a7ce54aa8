"""A query parameter an operation does not declare is a 422 `unknown_field` naming it, on every operation:
a typo such as `?statuss=paid` must not quietly answer everything. Documented parameters keep working."""

from __future__ import annotations

import re

import pytest

from omnishop.api import api as ninja_api
from omnishop.core.tests.test_error_envelope import error_of

pytestmark = pytest.mark.django_db


def _get_operations() -> list[tuple[str, list[str]]]:
    spec = ninja_api.get_openapi_schema()
    found = []
    for path, operations in spec["paths"].items():
        if "get" in operations:
            query = [p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"]
            found.append((path.removeprefix("/api/v1"), query))
    return found


GET_OPERATIONS = _get_operations()


def _fill(path: str) -> str:
    # Any value will do: the parameters are checked before the path is resolved to an object.
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.mark.parametrize(("path", "declared"), GET_OPERATIONS, ids=[p for p, _ in GET_OPERATIONS])
def test_an_undeclared_query_parameter_is_refused_and_named(staff_api, web_channel, make_key, path, declared):
    response = staff_api.get(_fill(path), {"statuss": "paid"})
    if response.status_code in (401, 403):  # an operation for channel keys only
        response = staff_api.with_key(make_key(web_channel)).get(_fill(path), {"statuss": "paid"})
    assert response.status_code == 422, (path, response.content)
    error = error_of(response)
    assert (error["code"], error["field"]) == ("unknown_field", "statuss"), path


def test_the_walk_covers_many_operations_and_their_declared_parameters():
    assert len(GET_OPERATIONS) > 30
    declared = {name for _, names in GET_OPERATIONS for name in names}
    assert {"cursor", "limit", "ordering"} <= declared


def test_declared_parameters_still_work_alongside(staff_api):
    response = staff_api.get("/orders", {"limit": 5})
    assert response.status_code == 200, response.content
    error = error_of(staff_api.get("/orders", {"limit": 5, "statuss": "paid"}))
    assert (error["code"], error["field"]) == ("unknown_field", "statuss")


def test_flattened_query_schemas_accept_their_fields(api, web_channel):
    response = api.get("/storefront/web/products", {"limit": 2, "ordering": "-id", "in_stock": "true"})
    assert response.status_code == 200, response.content


def test_an_unauthenticated_caller_hears_401_before_anything_about_parameters(api):
    response = api.get("/orders", {"statuss": "paid"})
    assert response.status_code == 401
