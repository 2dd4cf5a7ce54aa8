"""The published contract: unique schema names, every success answer typed, no unintended breaking change."""

from __future__ import annotations

import json
import os
import re

from omnishop import contract


def test_no_two_schema_classes_share_a_component_name():
    # OpenAPI components are keyed by class name: a second `VariantOut` silently replaces the first, and the
    # operations that use the first are documented with the wrong shape.
    assert contract.name_collisions() == {}


def test_catalogue_variants_and_customer_merges_are_documented_with_their_own_shapes():
    schema = contract.current_schema()
    operation = schema["paths"]["/api/v1/catalog/products/{product_id}/variants"]["post"]
    ref = operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    variant = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert "listings" in variant["properties"] and "price" not in variant["properties"]
    merge = schema["paths"]["/api/v1/customers/merges"]["post"]["requestBody"]
    ref = merge["content"]["application/json"]["schema"]["$ref"]
    assert "orders" not in schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]


def test_every_success_answer_with_a_body_has_a_typed_schema():
    # A free-form object is a contract nobody can see: generated clients get untyped maps, and nothing
    # decides which fields leave the server.
    assert contract.untyped_success_responses(contract.current_schema()) == []


def test_the_api_has_no_breaking_change_against_the_committed_contract():
    # On purpose? Run scripts/openapi-snapshot, review `git diff docs/openapi.json` and commit it.
    committed = json.loads(contract.SNAPSHOT.read_text())
    assert contract.breaking_changes(committed, contract.current_schema()) == []


# --- the breaking-change check itself, on a small contract ----------------------------------------------


def _contract(*, answer: dict, body: dict | None = None, parameters: list | None = None) -> dict:
    operation = {
        "parameters": parameters or [],
        "responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/O"}}}}
        },
    }
    if body is not None:
        ref = {"$ref": "#/components/schemas/I"}
        operation["requestBody"] = {"content": {"application/json": {"schema": ref}}}
    return {
        "paths": {"/things": {"post": operation}},
        "components": {"schemas": {"O": answer, "I": body or {}}},
    }


ANSWER = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "total": {"type": "string"},
        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/L"}},
    },
}
BODY = {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}


def _with(schema: dict, **changes) -> dict:
    return {**schema, "properties": {**schema["properties"], **changes}}


def test_adding_an_answer_field_or_an_optional_request_field_is_not_breaking():
    old = _contract(answer=ANSWER, body=BODY)
    new = _contract(
        answer=_with(ANSWER, note={"type": "string"}),
        body=_with(BODY, note={"type": "string", "default": ""}),
    )
    new["paths"]["/other"] = {}
    assert contract.breaking_changes(old, new) == []


def test_a_removed_path_operation_or_answer_field_is_breaking():
    old = _contract(answer=ANSWER)
    assert contract.breaking_changes(old, {**old, "paths": {}}) == ["path removed: /things"]
    assert contract.breaking_changes(old, {**old, "paths": {"/things": {}}}) == [
        "operation removed: POST /things"
    ]
    fewer = {k: v for k, v in ANSWER["properties"].items() if k != "total"}
    assert contract.breaking_changes(old, _contract(answer={**ANSWER, "properties": fewer})) == [
        "POST /things 200: field 'total' removed"
    ]


def test_an_answer_field_that_changes_type_or_may_now_be_null_is_breaking():
    old = _contract(answer=ANSWER)
    retyped = _contract(answer=_with(ANSWER, id={"type": "string"}))
    nullable = _contract(answer=_with(ANSWER, total={"anyOf": [{"type": "string"}, {"type": "null"}]}))
    assert contract.breaking_changes(old, retyped) == ["POST /things 200.id: may now be string (was integer)"]
    assert contract.breaking_changes(old, nullable) == [
        "POST /things 200.total: may now be null (was string)"
    ]


def test_a_new_required_request_field_or_parameter_is_breaking():
    old = _contract(answer=ANSWER, body=BODY)
    required = _with(BODY, note={"type": "string"})
    required["required"] = ["sku", "note"]
    assert contract.breaking_changes(old, _contract(answer=ANSWER, body=required)) == [
        "POST /things request: new required field 'note'"
    ]
    header = [{"in": "header", "name": "Idempotency-Key", "required": True, "schema": {"type": "string"}}]
    assert contract.breaking_changes(old, _contract(answer=ANSWER, body=BODY, parameters=header)) == [
        "POST /things: new required header parameter 'Idempotency-Key'"
    ]


def test_a_request_field_that_accepts_less_is_breaking():
    old = _contract(answer=ANSWER, body=_with(BODY, qty={"type": "number"}))
    new = _contract(answer=ANSWER, body=_with(BODY, qty={"type": "string"}))
    assert contract.breaking_changes(old, new) == [
        "POST /things request.qty: no longer accepts integer, number"
    ]


def test_each_error_status_publishes_the_codes_answered_with_it():
    from omnishop.core.errors import error_classes

    components = contract.current_schema()["components"]["schemas"]
    published = {
        int(name[5:-4]): set(schema["properties"]["code"]["enum"])
        for name, schema in components.items()
        if re.fullmatch(r"Error\d+Body", name)
    }
    assert {cls.status for cls in error_classes()} <= set(published)
    assert [cls.code for cls in error_classes() if cls.code not in published[cls.status]] == []
    assert "insufficient_stock" in published[409] and "insufficient_stock" not in published[404]
    assert {"malformed_json"} <= published[400] and {"unknown_field", "required"} <= published[422]


def _every_module_loaded() -> None:
    """Import every module of the project (tests and migrations aside), so an error class defined in a module
    nothing imported yet is still seen."""
    import importlib
    import pkgutil

    import omnishop

    for module in pkgutil.walk_packages(omnishop.__path__, "omnishop."):
        if not any(part in module.name for part in (".tests", ".migrations", "conftest", ".wsgi", ".manage")):
            importlib.import_module(module.name)


def test_every_error_class_is_loaded_with_the_api_so_the_published_codes_are_complete():
    # The enums are collected from the loaded classes: a class only a lazily imported module defines would
    # be missing from the document a fresh server publishes (put it in the app's errors.py).
    import subprocess
    import sys

    from omnishop.core.errors import all_codes

    fresh = subprocess.run(
        [sys.executable, "-c", _FRESH_SERVER_CODES],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "omnishop.settings", "PYTHONPATH": _SOURCE_ROOT},
    )
    _every_module_loaded()
    assert sorted(set(all_codes()) - set(json.loads(fresh.stdout))) == []


_SOURCE_ROOT = str(contract.SNAPSHOT.parents[1] / "src")  # this checkout's code, whatever is installed
_FRESH_SERVER_CODES = """
import json, django
django.setup()
import omnishop.api
from omnishop.core.errors import all_codes
print(json.dumps(all_codes()))
"""


def test_every_error_code_is_documented_in_the_api_guide():
    from omnishop.core.errors import all_codes

    _every_module_loaded()
    guide = (contract.SNAPSHOT.parent / "API.md").read_text()
    assert [code for code in all_codes() if f"`{code}`" not in guide] == []


def test_each_error_code_is_defined_by_exactly_one_class():
    # Two classes with one code drift apart (different statuses, messages) and a client cannot rely on either.
    from collections import defaultdict

    from omnishop.core.errors import error_classes

    _every_module_loaded()
    owners = defaultdict(set)
    for cls in error_classes():
        owners[cls.code].add(f"{cls.__module__}.{cls.__qualname__}")
    assert {code: sorted(names) for code, names in owners.items() if len(names) > 1} == {}
