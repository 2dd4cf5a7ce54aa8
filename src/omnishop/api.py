"""The REST API under /api/v1: one NinjaAPI, every app's router, and the JSON error envelope.

Every error leaves as `{"error": {"code", "message", "field", "details"}}` with a stable code; bad input
is a 4xx, never a 500. Conventions: docs/API.md.
"""

from __future__ import annotations

import functools
import json
import logging

import orjson
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError
from ninja.parser import Parser

from omnishop.auth import presents_valid_credential
from omnishop.core.errors import DomainError, UnknownField
from omnishop.core.http import OrjsonRenderer, dumps, error_response, too_big  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest):
        content_type = request.META.get("CONTENT_TYPE", "")
        # A body without a Content-Type is refused too (docs/API.md): we do not guess what it is.
        if not content_type.startswith("application/json") and (content_type or request.body):
            raise UnsupportedMediaType(content_type)
        return orjson.loads(request.body)


class UnsupportedMediaType(Exception):
    pass


def _field_path(loc: tuple | list) -> str | None:
    """('body', 'body', 'lines', 0, 'quantity') -> 'lines[0].quantity'."""
    parts = list(loc)
    # The first part says where the value was (body, query, path…); a field may itself be called `path`.
    location = parts.pop(0) if parts and parts[0] in _LOCATIONS else None
    # ninja nests the body under the parameter name; drop it when it is the first part of a body loc.
    if location == "body" and len(parts) > 1 and isinstance(parts[0], str) and parts[0] in _BODY_PARAM_NAMES:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


_LOCATIONS = {"body", "query", "path", "header", "cookie", "form", "file"}
# Names we give the body parameter in endpoints; the envelope reports fields relative to the body.
_BODY_PARAM_NAMES = {"body", "payload", "data"}

_PYDANTIC_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
}


def _validation_response(errors: list[dict]) -> HttpResponse:
    first = errors[0] if errors else {"loc": (), "msg": "Invalid input", "type": "invalid"}
    code = _PYDANTIC_CODES.get(first.get("type", ""), "validation_error")
    field = _field_path(first.get("loc", ()))
    message = first.get("msg", "Invalid input")
    if code == "unknown_field":
        message = f"Unknown field '{field}'."
    elif code == "required":
        message = f"'{field}' is required."
    problems = [
        {
            "field": _field_path(e.get("loc", ())),
            "code": _PYDANTIC_CODES.get(e.get("type", ""), e.get("type")),
            "message": e.get("msg"),
        }
        for e in errors
    ]
    return error_response(422, code, message, field, errors=problems)


class OmnishopAPI(NinjaAPI):
    # Routers that were one module when their operation ids were published and are packages now: their ids
    # keep naming the package, so splitting a router never renames a generated client's methods.
    SPLIT_ROUTERS = ("omnishop.orders.api",)

    def get_openapi_operation_id(self, operation) -> str:
        module = operation.view_func.__module__
        for package in self.SPLIT_ROUTERS:
            if module.startswith(package + "."):
                module = package
        return f"{module}_{operation.view_func.__name__}".replace(".", "_")

    def create_temporal_response(self, request: HttpRequest) -> HttpResponse:
        # Called by every operation after authentication and throttling, before its parameters are parsed:
        # the one place where a query parameter the operation does not declare is refused.
        known = getattr(request, "_omnishop_query_names", None)
        if known is not None:
            for name in request.GET:
                if name not in known:
                    raise UnknownField(f"Unknown query parameter '{name}'.", field=name)
        return super().create_temporal_response(request)


def query_names(operation) -> frozenset[str]:
    """The query parameters an operation declares, as named in the URL (and in the OpenAPI document)."""
    names: set[str] = set()
    for model in operation.models:
        if model.__ninja_param_source__ != "query":
            continue
        flatten_map = getattr(model, "__ninja_flatten_map__", None)
        if flatten_map:
            names.update(flatten_map)
        else:
            names.update(field.alias or name for name, field in model.model_fields.items())
    return frozenset(names)


def refuse_unknown_query_parameters(run):
    """A view decorator on every operation (`api.add_decorator`): remembers which query parameters the
    operation takes, for `OmnishopAPI.create_temporal_response` to check once the caller is authenticated."""
    known = query_names(run.__self__)

    @functools.wraps(run)
    def run_with_known_names(request, *args, **kwargs):
        request._omnishop_query_names = known
        return run(request, *args, **kwargs)

    return run_with_known_names


api = OmnishopAPI(
    title="Omnishop API",
    version="1",
    description="One customer, one catalog, one stock and one order pipeline behind every channel. "
    "Conventions (authentication, errors, idempotency, pagination): see docs/API.md.",
    renderer=OrjsonRenderer(),
    parser=StrictJsonParser(),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_decorator(refuse_unknown_query_parameters, mode="view")


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return error_response(exc.status, exc.code, exc.message, exc.field, **exc.details)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    return _validation_response(exc.errors)


@api.exception_handler(DjangoValidationError)
def _django_validation_error(request, exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        return error_response(422, "validation_error", "; ".join(messages), field, errors=exc.message_dict)
    return error_response(422, "validation_error", "; ".join(exc.messages))


@api.exception_handler(AuthenticationError)
def _authentication_error(request, exc):
    if presents_valid_credential(request):
        # Known, but not one of the kinds this endpoint takes (a channel key on a staff-only endpoint).
        return error_response(403, "permission_denied", "These credentials may not use this endpoint.")
    return error_response(401, "authentication_required", "Valid credentials are required for this endpoint.")


@api.exception_handler(MultiPartParserError)
def _malformed_multipart(request, exc):
    return error_response(400, "malformed_multipart", f"The multipart body cannot be read: {exc}.")


@api.exception_handler(AuthorizationError)
def _authorization_error(request, exc):
    return error_response(403, "permission_denied", str(exc) or "You may not do this.")


@api.exception_handler(Throttled)
def _throttled(request, exc: Throttled):
    response = error_response(429, "rate_limited", "Too many requests; slow down.", retry_after=exc.wait)
    if exc.wait:
        response["Retry-After"] = str(int(exc.wait))
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    cause = exc.__cause__
    if isinstance(cause, UnsupportedMediaType):
        return error_response(415, "unsupported_media_type", "Send JSON with Content-Type: application/json.")
    if isinstance(cause, RequestDataTooBig):
        return too_big()
    if isinstance(cause, orjson.JSONDecodeError | json.JSONDecodeError | UnicodeDecodeError):
        return error_response(400, "malformed_json", f"The request body is not valid JSON: {cause}.")
    if exc.status_code == 404:
        return error_response(404, "not_found", str(exc) or "No such object.")
    return error_response(exc.status_code, "http_error", str(exc))


@api.exception_handler(RequestDataTooBig)
def _request_too_big(request, exc):
    return too_big()


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(404, "not_found", str(exc) or "No such object.")


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


def register_routers() -> None:
    """Attach every app's router. Apps own their routers; this is the one list of them."""
    from omnishop.catalog.api import router as catalog_router
    from omnishop.channels.api import router as channels_router
    from omnishop.connectors.api import router as connectors_router
    from omnishop.customers.api import router as customers_router
    from omnishop.datahub.api import router as datahub_router
    from omnishop.inventory.api import channel_router as inventory_channel_router
    from omnishop.inventory.api import router as inventory_router
    from omnishop.orders.api import channel_router as orders_channel_router
    from omnishop.orders.api import router as orders_router
    from omnishop.payments.api import router as payments_router
    from omnishop.recommendations.api import events_router
    from omnishop.recommendations.api import router as recommendations_router
    from omnishop.search.api import router as search_router
    from omnishop.shipping.api import router as shipping_router
    from omnishop.storefront.api import router as storefront_router
    from omnishop.support.api import router as support_router
    from omnishop.tills.api import router as tills_router
    from omnishop.webhooks.api import router as webhooks_router

    api.add_router("/channels", channels_router)
    api.add_router("/catalog", catalog_router)
    api.add_router("/customers", customers_router)
    api.add_router("/datahub", datahub_router)
    api.add_router("/inventory", inventory_router)
    api.add_router("/channels", inventory_channel_router)  # /channels/{code}/availability
    api.add_router("/channels", orders_channel_router)  # /channels/{code}/shipping-methods
    api.add_router("/storefront", storefront_router)
    api.add_router("/support", support_router)
    from omnishop.events_api import install as install_event_feed

    install_event_feed(events_router)  # GET /events beside the tracking POST on the same path
    api.add_router("/events", events_router)
    api.add_router("/recommendations", recommendations_router)
    api.add_router("/search", search_router)
    api.add_router("/orders", orders_router)
    api.add_router("/payments", payments_router)
    api.add_router("/shipping", shipping_router)
    api.add_router("/webhooks", webhooks_router)
    api.add_router("/connectors", connectors_router)
    api.add_router("/tills", tills_router)
    api.add_router("/analytics", "omnishop.backoffice.analytics.api.router")


register_routers()
