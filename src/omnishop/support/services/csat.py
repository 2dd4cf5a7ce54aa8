"""Customer satisfaction (CSAT): after a conversation is resolved the shopper gets one e-mail, in the
conversation's language, with a signed and expiring link to rate the help 1-5; the figures per inbox and per
agent. A link names one resolution: once the conversation reopens (and `receive` clears the rating) the old
link is closed, and each resolution is rated at most once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from omnishop.core.lookups import keyed_in

from ..errors import AlreadyRated, SurveyClosed, SurveyLinkExpired, SurveyLinkInvalid
from ..models import Conversation, Message
from . import conversations

SALT = "omnishop.support.csat"
Status = Conversation.Status


def max_age() -> timedelta:
    return timedelta(days=int(getattr(settings, "OMNISHOP_SUPPORT_SURVEY_DAYS", 14)))


def _resolution_mark(conversation: Conversation) -> str:
    if conversation.resolved_at is None:
        raise SurveyClosed(field="token")
    return str(int(conversation.resolved_at.timestamp() * 1_000_000))


def survey_token(conversation: Conversation) -> str:
    """Signed (conversation, resolution) pair: the only credential of the rating page."""
    return signing.dumps([conversation.pk, _resolution_mark(conversation)], salt=SALT, compress=True)


def survey_url(conversation: Conversation) -> str:
    base = str(getattr(settings, "OMNISHOP_SITE_URL", "")).rstrip("/")
    return base + reverse("shop:csat", args=[survey_token(conversation)])


def sent_marker(conversation: Conversation) -> str:
    """The external id of the 'survey sent' event: one per conversation and resolution."""
    return f"csat:{conversation.pk}:{_resolution_mark(conversation)}"


def open_survey(token: str) -> Conversation:
    """The conversation a survey link rates, while the link is genuine, fresh and its resolution stands."""
    try:
        pk, mark = signing.loads(token, salt=SALT, max_age=max_age())
    except signing.SignatureExpired:
        raise SurveyLinkExpired(field="token") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise SurveyLinkInvalid(field="token") from None
    conversation = (
        Conversation.objects.select_related("customer", "inbox").filter(pk=pk).first()
        if isinstance(pk, int)
        else None
    )
    if conversation is None:
        raise SurveyLinkInvalid(field="token")
    if conversation.status != Status.RESOLVED or conversation.resolved_at is None:
        raise SurveyClosed(field="token")
    if _resolution_mark(conversation) != mark:
        raise SurveyClosed(field="token")  # resolved again since: the newer survey rates that resolution
    return conversation


def submit(*, token: str, rating: int, comment: str = "") -> Conversation:
    """The shopper's rating through the survey link: once per resolution."""
    conversation = open_survey(token)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.satisfaction is not None:
            raise AlreadyRated(field="rating")
        return conversations.rate(conversation=locked, rating=rating, comment=comment.strip())


@dataclass(frozen=True)
class Survey:
    subject: str
    body: str


def compose(conversation: Conversation) -> Survey:
    """The survey e-mail in the conversation's language (English when the shop has no such translation)."""
    with translation.override(conversation.language or "en"):
        name = conversation.customer.first_name or _("there")
        subject = _("How did we do? (%(number)s)") % {"number": conversation.number}
        body = "\n\n".join(
            [
                _("Hello %(name)s,") % {"name": name},
                _(
                    "We have marked your conversation %(number)s (“%(subject)s”) as resolved. Would you tell "
                    "us how we did? It only takes a moment:"
                )
                % {"number": conversation.number, "subject": conversation.subject[:120]},
                survey_url(conversation),
                _(
                    "The link works for %(days)d days. If something is still not right, just reply to our last "
                    "message and the conversation opens again."
                )
                % {"days": max_age().days},
                _("Thank you for shopping with us."),
            ]
        )
    return Survey(subject=subject, body=body + "\n")


def send_survey(*, conversation: Conversation) -> bool:
    """E-mail the survey for the conversation's current resolution, once; False when it was already sent or
    the customer has no e-mail address."""
    if conversation.status != Status.RESOLVED or conversation.resolved_at is None:
        return False
    email = conversation.customer.email
    if not email:
        return False
    marker = sent_marker(conversation)
    survey = compose(conversation)
    try:
        with transaction.atomic():
            # The event row claims the sending (unique via + external id), so two job runs send once.
            Message.objects.create(
                conversation=conversation,
                direction=Message.Direction.EVENT,
                via=Message.Via.DESK,
                body_text=f"Satisfaction survey sent to {email}.",
                external_id=marker,
                delivery_status="sent",
            )
            send_mail(survey.subject, survey.body, None, [email])
    except IntegrityError:
        return False
    return True


def surveys_due(*, now: datetime | None = None) -> list[Conversation]:
    """Resolved conversations, still within the link's lifetime, unrated and not yet surveyed."""
    now = now or timezone.now()
    candidates = list(
        Conversation.objects.filter(
            status=Status.RESOLVED,
            resolved_at__gt=now - max_age(),
            resolved_at__lte=now,
            satisfaction__isnull=True,
        )
        .exclude(customer__email="")
        .select_related("customer")
        .order_by("resolved_at", "pk")
    )
    markers = {c.pk: sent_marker(c) for c in candidates}
    sent = set(
        keyed_in(Message.objects.filter(via=Message.Via.DESK), markers.values()).values_list(
            "external_id", flat=True
        )
    )
    return [c for c in candidates if markers[c.pk] not in sent]


def send_due_surveys(*, now: datetime | None = None) -> int:
    """The periodic job: a survey for every newly resolved conversation."""
    return sum(1 for conversation in surveys_due(now=now) if send_survey(conversation=conversation))


@dataclass(frozen=True)
class Figure:
    key: int | None
    name: str
    average: float | None
    responses: int
    resolved: int

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.resolved if self.resolved else None


def figures(*, since: datetime | None = None, until: datetime | None = None) -> dict[str, list[Figure]]:
    """CSAT per inbox and per agent (the assignee): average rating, ratings received, resolutions."""
    qs = Conversation.objects.filter(resolved_at__isnull=False)
    if since is not None:
        qs = qs.filter(resolved_at__gte=since)
    if until is not None:
        qs = qs.filter(resolved_at__lt=until)
    aggregates = {
        "average": Avg("satisfaction"),
        "responses": Count("pk", filter=Q(satisfaction__isnull=False)),
        "resolved": Count("pk"),
    }
    by_inbox = qs.values("inbox_id", "inbox__name").annotate(**aggregates).order_by("inbox__name")
    by_agent = (
        qs.values("assignee_id", "assignee__username").annotate(**aggregates).order_by("assignee__username")
    )

    def row(key, name, r) -> Figure:
        average = round(float(r["average"]), 2) if r["average"] is not None else None
        return Figure(key=key, name=name, average=average, responses=r["responses"], resolved=r["resolved"])

    return {
        "inboxes": [row(r["inbox_id"], r["inbox__name"], r) for r in by_inbox],
        "agents": [row(r["assignee_id"], r["assignee__username"] or "(unassigned)", r) for r in by_agent],
    }


__all__ = [
    "Figure",
    "compose",
    "figures",
    "open_survey",
    "send_due_surveys",
    "send_survey",
    "submit",
    "survey_token",
    "survey_url",
    "surveys_due",
]
