"""Every number a client can send has bounds the database can hold, published in the OpenAPI schema and
checked before any write: an id past 2^63 or a count past 2^31 is a 422 naming the field, never a 500."""

from __future__ import annotations

import pytest

from omnishop.api import api as ninja_api

pytestmark = pytest.mark.django_db


def _unbounded(schema: dict, where: str, components: dict, seen: frozenset = frozenset()):
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _unbounded(components[name], f"{where}<{name}>", components, seen | {name})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _unbounded(sub, where, components, seen)
    if schema.get("type") in ("integer", "number"):
        low = "minimum" in schema or "exclusiveMinimum" in schema
        high = "maximum" in schema or "exclusiveMaximum" in schema
        if not (low and high) or schema.get("maximum", 0) > 2**63 - 1:
            yield where
    if "items" in schema:
        yield from _unbounded(schema["items"], f"{where}[]", components, seen)
    for name, sub in schema.get("properties", {}).items():
        yield from _unbounded(sub, f"{where}.{name}", components, seen)


def test_every_number_an_operation_accepts_has_bounds_in_the_schema():
    spec = ninja_api.get_openapi_schema()
    components = spec["components"]["schemas"]
    unbounded = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for p in operation.get("parameters", []):
                where = f"{method.upper()} {path} {p['in']}:{p['name']}"
                unbounded += _unbounded(p.get("schema", {}), where, components)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += _unbounded(
                    content.get("schema", {}), f"{method.upper()} {path} body", components
                )
    assert unbounded == []


@pytest.mark.parametrize(
    "path",
    [
        "/recommendations/products/{}/similar",
        "/recommendations/products/{}/bought-together",
        "/recommendations/customers/{}",
        "/payments/{}/capture",
        "/datahub/imports/{}",
    ],
)
def test_an_id_past_64_bits_in_the_path_is_a_422_naming_it(staff_api, web_channel, path):
    response = (
        staff_api.get(path.format(2**64)) if "capture" not in path else staff_api.post(path.format(2**64), {})
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "validation_error"


def test_an_event_naming_a_product_past_64_bits_is_refused(api, web_channel, make_key):
    client = api.with_key(make_key(web_channel))
    raw = b'{"events": [{"kind": "view", "anonymous_id": "a1", "product_id": %d}]}' % 2**64
    response = client.post("/events", raw=raw)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["field"] == "events[0].product_id"
