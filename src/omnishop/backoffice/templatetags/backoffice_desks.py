"""`{% desk_links as desks %}`: the desks the signed-in member of staff may open (for the admin index)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def desk_links(context) -> list[dict]:
    from omnishop.backoffice.web.urls import navigation  # late: the desks import most apps' services

    request = context.get("request")
    if request is None or not request.user.is_staff:
        return []
    return navigation(request)
