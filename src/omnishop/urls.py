"""URL map: /api/v1 (REST + OpenAPI docs), /accounts and /_allauth (shopper auth), /admin (back-office)."""

from django.contrib import admin
from django.urls import include, path, re_path

from omnishop.api import api, error_response
from omnishop.core.views import health


def api_not_found(request, rest=""):
    return error_response(404, "not_found", f"No API endpoint at /api/v1/{rest}.")


urlpatterns = [
    path("api/v1/", api.urls),
    re_path(r"^api/v1/(?P<rest>.*)$", api_not_found),
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
]
