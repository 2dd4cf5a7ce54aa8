"""The HTTP edge of /api/v1 and allauth's headless /_allauth: hostile requests answer the JSON error envelope.

What reaches no endpoint — an unknown path, a CSRF refusal, a body too large or not JSON, a NUL character
in the address, a chunked body — and what an endpoint we do not own (allauth) fails on, is answered here
as `{"error": {"code", "message", "field", "details"}}`, never as Django's HTML pages or a 500.
"""

from __future__ import annotations

import io
import logging

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from omnishop.core.http import error_response, too_big
from omnishop.core.schemas import has_nul

logger = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/_allauth/")


def speaks_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PREFIXES)


class ApiEdgeMiddleware:
    """Refuses, before any view runs, what no JSON endpoint can take; turns what a view could not read into
    the envelope."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if speaks_json(request):
            refused = self._refuse(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        # PostgreSQL cannot compare text holding NUL: such a path names nothing, such a parameter is invalid.
        if "\x00" in request.path:
            return error_response(404, "not_found", "No such object (the address holds a NUL character).")
        for name, values in request.GET.lists():
            if has_nul(name) or has_nul(values):
                return error_response(
                    422, "validation_error", "Text may not contain NUL (\\u0000) characters.", name
                )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.OMNISHOP_API_MAX_BODY:
            return too_big()
        if request.path.startswith("/_allauth/") and length and _is_json(request):
            # allauth parses with the standard library, whose recursion on deep nesting is a 500; orjson
            # refuses nesting deeper than 1024 levels as malformed.
            try:
                orjson.loads(request.body)
            except orjson.JSONDecodeError as exc:
                return error_response(400, "malformed_json", f"The request body is not valid JSON: {exc}.")
        return None

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not speaks_json(request):
            return None
        if isinstance(exc, RequestDataTooBig):
            return too_big()
        if isinstance(exc, MultiPartParserError):
            return error_response(400, "malformed_multipart", f"The multipart body cannot be read: {exc}.")
        return None


class ShopLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware for the web shop (and admin, allauth's pages); the JSON APIs answer in English
    whatever the client's Accept-Language or language cookie, with their headers unchanged."""

    def process_request(self, request: HttpRequest) -> None:
        if speaks_json(request):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if speaks_json(request):
            return response
        return super().process_response(request, response)


def _is_json(request: HttpRequest) -> bool:
    return request.META.get("CONTENT_TYPE", "").startswith("application/json")


def dechunked(application):
    """WSGI wrapper: a body sent with `Transfer-Encoding: chunked` has no Content-Length, which Django reads
    as an empty body. Read it (one byte past the limit, so an oversized one is still refused) and say how
    long it is."""

    def wrapped(environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(settings.OMNISHOP_API_MAX_BODY + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return application(environ, start_response)

    return wrapped


# --- Django's own error pages, in the envelope under the JSON prefixes ---------------------------------------


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if speaks_json(request):
        return error_response(403, "csrf_failed", f"CSRF check failed: {reason}")
    return django_csrf_failure(request, reason)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    if speaks_json(request):
        return error_response(400, "bad_request", "The request cannot be read.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if speaks_json(request):
        return error_response(403, "permission_denied", "You may not do this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if speaks_json(request):
        return error_response(404, "not_found", f"No endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if speaks_json(request):
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)
