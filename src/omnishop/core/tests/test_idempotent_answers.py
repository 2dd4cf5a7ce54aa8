"""An answer built through the idempotency wrapper is held to the operation's response schema."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from django.test import RequestFactory
from ninja import Schema
from pydantic import ValidationError

from omnishop.core.idempotency import idempotent


class ThingOut(Schema):
    id: int
    created_at: datetime


def _answer(build, **kwargs):
    return idempotent(RequestFactory().post("/api/v1/things"), None, 201, build, **kwargs)


def test_a_dict_answer_is_reduced_to_the_documented_fields():
    when = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    response = _answer(lambda: {"id": 7, "created_at": when, "secret": "s3cr3t"}, schema=ThingOut)
    assert response.status_code == 201
    assert orjson.loads(response.content) == {"id": 7, "created_at": "2026-12-02T09:30:00Z"}


def test_a_dict_answer_that_does_not_fit_its_schema_fails_loudly_instead_of_being_sent():
    with pytest.raises(ValidationError):
        _answer(lambda: {"id": "seven", "created_at": "yesterday"}, schema=ThingOut)


def test_a_dict_answer_without_a_schema_is_refused():
    with pytest.raises(TypeError):
        _answer(lambda: {"id": 7})
