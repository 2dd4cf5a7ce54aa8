"""Every HTML page carries a strict Content-Security-Policy (ADR 0012), and the pages that exist (the
admin, allauth's account pages, the API docs) run under it: no inline script without the request's nonce,
no inline style, nothing from another host."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse
from django.template import engines
from django.test import RequestFactory

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
PUBLIC_PAGES = [
    "/admin/login/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/api/v1/docs",
]
STAFF_PAGES = ["/admin/", "/admin/auth/user/", "/admin/auth/user/add/"]
# Not run by a browser, so not governed by script-src: JSON data blocks (the API docs keep settings in one).
DATA_TYPES = {"application/json", "application/ld+json", "text/template"}


def policy_of(response) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = set(sources)
    return directives


def inline_scripts(html: str) -> list[dict[str, str]]:
    found = []
    for match in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I):
        attrs = dict(re.findall(r'([\w-]+)\s*=\s*"([^"]*)"', match.group(1)))
        if "src" not in attrs and attrs.get("type", "text/javascript") not in DATA_TYPES:
            found.append(attrs)
    return found


def _get(client, staff_user, path):
    if path in STAFF_PAGES:
        client.force_login(staff_user)
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert response["Content-Type"].startswith("text/html"), path
    return response


@pytest.mark.parametrize("path", PUBLIC_PAGES + STAFF_PAGES)
def test_every_page_carries_the_strict_policy(client, staff_user, path):
    policy = policy_of(_get(client, staff_user, path))
    # script-src may also carry the nonce of a page that uses one; nothing else may be added.
    policy["script-src"] = {s for s in policy["script-src"] if not s.startswith("'nonce-")}
    assert policy == POLICY, path


@pytest.mark.parametrize("path", PUBLIC_PAGES + STAFF_PAGES)
def test_no_inline_script_runs_without_the_pages_nonce_and_no_inline_style(client, staff_user, path):
    response = _get(client, staff_user, path)
    html = response.content.decode()
    allowed = {s for s in policy_of(response)["script-src"] if s.startswith("'nonce-")}
    for attrs in inline_scripts(html):
        assert f"'nonce-{attrs.get('nonce', '')}'" in allowed, (path, attrs)
    assert not re.search(r"<style\b|\sstyle\s*=", html, re.I), path
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", html, re.I), path


def test_a_page_that_uses_the_nonce_gets_it_in_the_policy():
    from csp.middleware import CSPMiddleware

    template = engines["django"].from_string('<script nonce="{{ CSP_NONCE }}">go()</script>')

    def view(request):
        return HttpResponse(template.render({}, request))

    request = RequestFactory().get("/shop/")
    response = CSPMiddleware(view)(request)
    (attrs,) = inline_scripts(response.content.decode())
    assert attrs["nonce"] and f"'nonce-{attrs['nonce']}'" in policy_of(response)["script-src"]


def test_the_inline_script_check_sees_a_script_without_a_nonce():
    assert inline_scripts('<script>alert(1)</script><script src="/x.js"></script>') == [{}]
    assert inline_scripts('<script type="application/json">{}</script>') == []
