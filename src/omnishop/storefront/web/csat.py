"""The satisfaction survey page a resolved conversation's e-mail links to: the signed link is the only
credential; the shopper rates the help 1-5 with an optional comment, once per resolution."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from omnishop.core.errors import DomainError
from omnishop.support.errors import AlreadyRated, SurveyClosed, SurveyLinkExpired, SurveyLinkInvalid
from omnishop.support.services import csat

from .catalog import top_categories
from .common import web_channel

SHOP_LANGUAGES = {"en": "en", "zh": "zh-hans"}
MAX_COMMENT = 2000


def _problem(error: DomainError) -> tuple[str, int]:
    if isinstance(error, SurveyLinkExpired):
        return _("This survey link has expired. Thank you all the same."), 410
    if isinstance(error, SurveyClosed):
        return _(
            "This conversation was reopened, so this survey is closed. We will ask again once it is resolved."
        ), 410
    if isinstance(error, AlreadyRated):
        return _("You have already rated this conversation. Thank you!"), 409
    return _("This survey link is not valid. Please check that you copied all of it."), 404


@never_cache
@require_http_methods(["GET", "POST"])
def rate(request: HttpRequest, token: str) -> HttpResponse:
    channel = web_channel()
    context: dict = {"channel": channel, "categories": top_categories(channel), "errors": {}, "values": {}}
    status = 200
    try:
        conversation = csat.open_survey(token)
    except (SurveyLinkExpired, SurveyLinkInvalid, SurveyClosed) as refused:
        context["problem"], status = _problem(refused)
        return _page(request, context, status, language="")
    language = SHOP_LANGUAGES.get((conversation.language or "en").split("-")[0].lower(), "")
    context["conversation"] = conversation
    if request.method == "POST":
        with translation.override(_language(request, language)):
            raw = request.POST.get("rating", "")
            comment = request.POST.get("comment", "").strip()
            context["values"] = {"rating": raw, "comment": comment}
            if raw not in {"1", "2", "3", "4", "5"}:
                context["errors"]["rating"] = _("Choose a rating from 1 to 5.")
            if len(comment) > MAX_COMMENT:
                context["errors"]["comment"] = _("Keep the comment under 2,000 characters.")
            if not context["errors"]:
                try:
                    csat.submit(token=token, rating=int(raw), comment=comment)
                except (AlreadyRated, SurveyClosed) as refused:
                    context["problem"], status = _problem(refused)
                else:
                    return redirect(reverse("shop:csat", args=[token]))
            else:
                status = 422
    if conversation.satisfaction is not None and "problem" not in context:
        context["thanks"] = True
    return _page(request, context, status, language=language)


def _language(request: HttpRequest, language: str) -> str:
    """The conversation's language unless the shopper picked one with the switcher."""
    if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or not language:
        return translation.get_language() or settings.LANGUAGE_CODE
    return language


def _page(request: HttpRequest, context: dict, status: int, *, language: str) -> HttpResponse:
    with translation.override(_language(request, language)):
        context["ratings"] = [
            (5, _("5 — Very satisfied")),
            (4, _("4 — Satisfied")),
            (3, _("3 — Neither satisfied nor dissatisfied")),
            (2, _("2 — Dissatisfied")),
            (1, _("1 — Very dissatisfied")),
        ]
        response = render(request, "storefront/csat.html", context, status=status)
    # The token must not leak to other sites; same-origin (not no-referrer) keeps the form's Origin header,
    # which the CSRF check needs (with no-referrer the browser sends "Origin: null").
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response
