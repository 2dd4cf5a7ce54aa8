"""JSON on the wire: the project's encoder (Decimal as a string, aware times in ISO-8601 with Z), the
django-ninja renderer built on it, and the error envelope every refusal leaves in. They live in `core` so
that the contexts' routers, the idempotency records and the HTTP edge share one copy without importing the
top-level `omnishop.api` (which imports them)."""

from __future__ import annotations

import decimal
from datetime import datetime

import orjson
from django.conf import settings
from django.http import HttpResponse
from ninja.renderers import BaseRenderer


def _default(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(data) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status):
        return dumps(data)


def error_response(
    status: int, code: str, message: str, field: str | None = None, /, **details
) -> HttpResponse:
    """The error envelope. Positional-only parameters, so a detail may itself be called `status` or `code`."""
    body = {"error": {"code": code, "message": message, "field": field, "details": details}}
    return HttpResponse(dumps(body), status=status, content_type="application/json")


def too_big() -> HttpResponse:
    limit = settings.OMNISHOP_API_MAX_BODY
    return error_response(
        413, "payload_too_large", f"The request body is larger than {limit} bytes.", limit=limit
    )
