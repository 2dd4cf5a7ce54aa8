"""URL map: /api/v1 (REST + OpenAPI docs), /accounts and /_allauth (shopper auth), /admin (back-office),
and the web shop at the root."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language

from omnishop.api import api, error_response
from omnishop.core.views import health


@csrf_exempt  # an unknown address is a 404 whatever the method, not a CSRF page
def api_not_found(request, rest=""):
    return error_response(404, "not_found", f"No API endpoint at /api/v1/{rest}.")


urlpatterns = [
    path("api/v1/", api.urls),
    re_path(r"^api/v1/(?P<rest>.*)$", api_not_found),
    path("health", health, name="health"),
    path("feeds/", include("omnishop.feeds.urls")),
    path("support/voice/", include("omnishop.support.voice")),  # Twilio's voice webhooks
    path("support/email/", include("omnishop.support.inbound")),  # providers' inbound e-mail webhooks
    path("support/", include("omnishop.support.urls")),  # the shop's live chat and the agents' streams
    path("admin/ops/", include("omnishop.backoffice.web.urls")),  # the desks, inside the admin frame
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    # Django's set_language, for the language switch in the shop's header. It is on every page, the publicly
    # cached catalogue pages too, which cannot hold a CSRF token (it belongs to one browser): the switch
    # only sets the language cookie, so it is exempt.
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("", include("omnishop.storefront.web.urls")),  # the web shop (last: it owns the root)
]

# Django's own error pages answer the JSON error envelope under /api/ and /_allauth/ (omnishop.edge).
handler400 = "omnishop.edge.bad_request"
handler403 = "omnishop.edge.permission_denied"
handler404 = "omnishop.edge.page_not_found"
handler500 = "omnishop.edge.server_error"
