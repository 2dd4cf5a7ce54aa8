"""/admin/ops/: the desks, joined from their modules (each owns its `urlpatterns` and `NAV` entries)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from . import analytics, catalogue, home, matches, orders, people, stock, support

app_name = "backoffice"
DESKS = (home, people, analytics, orders, stock, catalogue, matches, support)

urlpatterns = [pattern for module in DESKS for pattern in module.urlpatterns]


def navigation(request: HttpRequest) -> list[dict]:
    """The desk entries this member of staff may open, in a fixed order."""
    user = request.user
    return [
        {
            "label": label,
            "url": reverse(f"backoffice:{name}"),
            "current": request.resolver_match and request.resolver_match.url_name == name,
        }
        for module in DESKS
        for label, name, permission in module.NAV
        if not permission or user.has_perm(permission)
    ]
