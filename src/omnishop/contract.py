"""The published API contract: what `/api/v1/openapi.json` promises and the checks that keep it honest.

Three rules, each held by a test in `core/tests/test_openapi_contract.py`: every schema class has a name of
its own (OpenAPI components are keyed by class name, so two `VariantOut`s silently overwrite each other);
every success response with a body is typed; and the schema only changes compatibly with the committed
copy `docs/openapi.json` unless that copy is regenerated on purpose (`scripts/openapi-snapshot`).
"""

from __future__ import annotations

import functools
import json
import typing
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
UNTYPED = {"type": "object", "additionalProperties": True}
# Success answers that are files, not JSON: they have no body schema by design.
FILE_RESPONSES = {
    ("get", "/api/v1/datahub/imports/{job_id}/quarantine/download"),
    ("get", "/api/v1/datahub/exports/{entity}"),
}


def current_schema() -> dict:
    """The live schema, a fresh copy each call (callers may change it)."""
    return json.loads(_current_schema_json())


@functools.cache
def _current_schema_json() -> str:
    # Generating the schema takes seconds and cannot change within a process (routers are mounted once).
    from omnishop.api import api

    # Through JSON, so the snapshot and the live schema compare as the same kinds of values.
    return json.dumps(api.get_openapi_schema(), default=str)


def write_snapshot(path: Path = SNAPSHOT) -> Path:
    path.write_text(json.dumps(current_schema(), indent=1, sort_keys=True) + "\n")
    return path


# --- unique names ---------------------------------------------------------------------------------------


def _models_in(annotation, found: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in found:
            return
        found.add(annotation)
        for field in annotation.model_fields.values():
            _models_in(field.annotation, found)
        return
    for arg in typing.get_args(annotation):
        _models_in(arg, found)


def operation_models() -> set[type[BaseModel]]:
    """Every pydantic class an operation's request or response refers to, however deeply nested."""
    from omnishop.api import api

    found: set[type[BaseModel]] = set()
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                for model in operation.models:  # ninja's wrappers around query/path/body parameters
                    for field in model.model_fields.values():
                        _models_in(field.annotation, found)
                for wrapper in operation.response_models.values():
                    if isinstance(wrapper, type) and issubclass(wrapper, BaseModel):
                        _models_in(wrapper.model_fields["response"].annotation, found)
    return found


def name_collisions() -> dict[str, list[str]]:
    """Component names that more than one class claims, with the classes (module.qualname)."""
    by_name: dict[str, set[type]] = defaultdict(set)
    for model in operation_models():
        by_name[model.__name__].add(model)
    return {
        name: sorted(f"{m.__module__}.{m.__qualname__}" for m in models)
        for name, models in by_name.items()
        if len(models) > 1
    }


# --- typed success responses ----------------------------------------------------------------------------


def untyped_success_responses(schema: dict) -> list[str]:
    """Operations with a 2xx answer documented as a free-form object (or with no schema at all)."""
    out = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if not str(status).startswith("2") or str(status) == "204":
                    continue
                if (method, path) in FILE_RESPONSES:
                    continue
                body = response.get("content", {}).get("application/json", {}).get("schema")
                if body is None or _is_untyped(body):
                    out.append(f"{method.upper()} {path} {status}")
    return out


def _is_untyped(schema: dict) -> bool:
    return schema.get("type") == "object" and "properties" not in schema and "$ref" not in schema


# --- breaking changes -----------------------------------------------------------------------------------


def breaking_changes(old: dict, new: dict) -> list[str]:
    """What a client generated from `old` would trip over in `new`: a removed path, operation, response or
    response field, a field that changed type or became nullable in an answer, a new required request
    field or parameter."""
    problems: list[str] = []
    old_components = old.get("components", {}).get("schemas", {})
    new_components = new.get("components", {}).get("schemas", {})
    for path, operations in old["paths"].items():
        if path not in new["paths"]:
            problems.append(f"path removed: {path}")
            continue
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            new_op = new["paths"][path].get(method)
            if new_op is None:
                problems.append(f"operation removed: {where}")
                continue
            old_required = {(p["in"], p["name"]) for p in op.get("parameters", []) if p.get("required")}
            for p in new_op.get("parameters", []):
                if p.get("required") and (p["in"], p["name"]) not in old_required:
                    problems.append(f"{where}: new required {p['in']} parameter '{p['name']}'")
            old_body = _body_schema(op.get("requestBody"))
            new_body = _body_schema(new_op.get("requestBody"))
            if new_body is not None:
                problems += _request_changes(
                    old_body or {}, new_body, old_components, new_components, f"{where} request"
                )
            for status, response in op.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                new_response = new_op.get("responses", {}).get(status)
                if new_response is None:
                    problems.append(f"{where}: response {status} removed")
                    continue
                old_schema = _body_schema(response)
                new_schema = _body_schema(new_response)
                if old_schema is not None:
                    problems += _response_changes(
                        old_schema,
                        new_schema or {},
                        old_components,
                        new_components,
                        f"{where} {status}",
                    )
    return problems


def _body_schema(part: dict | None) -> dict | None:
    if not part:
        return None
    return part.get("content", {}).get("application/json", {}).get("schema")


def _resolve(schema: dict, components: dict, seen: frozenset = frozenset()) -> tuple[dict, frozenset]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return {}, seen
        seen = seen | {name}
        schema = components.get(name, {})
    return schema, seen


def _types(schema: dict, components: dict) -> set[str]:
    """The JSON types a value may have: `anyOf` flattened, refs followed."""
    schema, _ = _resolve(schema, components)
    if "anyOf" in schema or "oneOf" in schema:
        out: set[str] = set()
        for option in schema.get("anyOf", schema.get("oneOf", [])):
            out |= _types(option, components)
        return out
    kind = schema.get("type")
    if kind is None:
        return {"any"}
    if kind == "number":
        return {"number", "integer"}  # every integer is a number
    return {kind}


def _object_of(schema: dict, components: dict) -> dict | None:
    """The object schema a value is (or may be, for an optional object), else None."""
    schema, _ = _resolve(schema, components)
    for option in schema.get("anyOf", []):
        resolved, _ = _resolve(option, components)
        if resolved.get("type") == "object":
            return resolved
    return schema if schema.get("type") == "object" else None


def _items_of(schema: dict, components: dict) -> dict | None:
    schema, _ = _resolve(schema, components)
    for option in schema.get("anyOf", []):
        resolved, _ = _resolve(option, components)
        if resolved.get("type") == "array":
            return resolved.get("items", {})
    return schema.get("items") if schema.get("type") == "array" else None


def _response_changes(old: dict, new: dict, oc: dict, nc: dict, where: str, depth: int = 0) -> list[str]:
    """An answer may gain fields and narrow types; it may not lose a field or widen a type."""
    if depth > 12:
        return []
    problems = []
    old_types, new_types = _types(old, oc), _types(new, nc)
    if "any" not in old_types and not new_types <= old_types:
        gained = ", ".join(sorted(new_types - old_types))
        return [f"{where}: may now be {gained} (was {', '.join(sorted(old_types))})"]
    old_obj, new_obj = _object_of(old, oc), _object_of(new, nc)
    if old_obj and new_obj:
        new_props = new_obj.get("properties", {})
        for name, prop in old_obj.get("properties", {}).items():
            if name not in new_props:
                problems.append(f"{where}: field '{name}' removed")
            else:
                problems += _response_changes(prop, new_props[name], oc, nc, f"{where}.{name}", depth + 1)
    old_items, new_items = _items_of(old, oc), _items_of(new, nc)
    if old_items is not None and new_items is not None:
        problems += _response_changes(old_items, new_items, oc, nc, f"{where}[]", depth + 1)
    return problems


def _request_changes(old: dict, new: dict, oc: dict, nc: dict, where: str, depth: int = 0) -> list[str]:
    """A request may gain optional fields and accept more; it may not require more or accept less."""
    if depth > 12:
        return []
    problems = []
    old_types, new_types = _types(old, oc), _types(new, nc)
    if old and "any" not in new_types and not old_types <= new_types:
        lost = ", ".join(sorted(old_types - new_types))
        return [f"{where}: no longer accepts {lost}"]
    old_obj, new_obj = _object_of(old, oc) or {}, _object_of(new, nc)
    if new_obj:
        old_required = set(old_obj.get("required", []))
        old_props = old_obj.get("properties", {})
        for name in new_obj.get("required", []):
            if name not in old_required:
                problems.append(f"{where}: new required field '{name}'")
        for name, prop in new_obj.get("properties", {}).items():
            if name in old_props:
                problems += _request_changes(old_props[name], prop, oc, nc, f"{where}.{name}", depth + 1)
    old_items, new_items = _items_of(old, oc), _items_of(new, nc)
    if old_items is not None and new_items is not None:
        problems += _request_changes(old_items, new_items, oc, nc, f"{where}[]", depth + 1)
    return problems
