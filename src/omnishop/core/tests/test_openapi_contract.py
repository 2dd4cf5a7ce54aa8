"""The published contract: unique schema names, every success answer typed, no unintended breaking change."""

from __future__ import annotations

import json

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
