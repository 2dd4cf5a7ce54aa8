"""The feed files at /feeds/<channel>/<token>/meta.csv and /google.xml: a wrong channel, token or format is
the same plain 404; a conditional GET with the current ETag is a 304."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from omnishop.core.errors import NotFound, ValidationFailed

from . import services


def _base_url(request: HttpRequest) -> str:
    return getattr(settings, "OMNISHOP_FEEDS_BASE_URL", "") or request.build_absolute_uri("/")


def _matches(header: str, tag: str) -> bool:
    candidates = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in candidates or tag in candidates


@require_safe
def feed(request: HttpRequest, channel_code: str, token: str, name: str) -> HttpResponse:
    try:
        found = services.find_feed(channel_code=channel_code, token=token)
        fmt = services.get_format(name)
    except (NotFound, ValidationFailed):
        raise Http404("No such feed.") from None
    base_url = _base_url(request)
    tag = services.etag(feed=found, fmt=fmt, base_url=base_url)
    if _matches(request.headers.get("If-None-Match", ""), tag):
        response = HttpResponseNotModified()
    else:
        handle = services.open_feed_file(feed=found, fmt=fmt, tag=tag, base_url=base_url)
        response = FileResponse(handle, content_type=fmt.content_type)
    response["ETag"] = tag
    # The URL is a secret: shared caches must not keep it; platforms revalidate with If-None-Match.
    patch_cache_control(response, private=True, no_cache=True)
    response["X-Robots-Tag"] = "noindex"
    return response
