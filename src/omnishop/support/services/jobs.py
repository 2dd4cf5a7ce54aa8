"""The desk's periodic jobs (support/tasks.py wraps them; settings.CELERY_BEAT_SCHEDULE runs them): snoozed
conversations wake, conversations past their SLA targets are marked once and their agents alerted, resolved
conversations get their satisfaction survey, and missed calls not returned in time are flagged.

"Once" is kept by the thread itself: each mark is an event message whose external id names the breach (the
conversation, the target and its due time), unique per `via`, so a job run twice, or by two schedulers at
the same moment, marks and alerts once; a due time that moves (the clock was paused) is a new target."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from omnishop.core.lookups import keyed_in

from ..models import CallbackTask, Conversation, Message
from . import conversations, csat

log = logging.getLogger(__name__)
Status = Conversation.Status

# The clock runs while the conversation is open or snoozed; waiting on the customer (pending) stops it.
CLOCK_RUNNING = (Status.OPEN, Status.SNOOZED)
FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"


@dataclass(frozen=True)
class Breach:
    conversation: Conversation
    target: str  # FIRST_RESPONSE or RESOLUTION
    due_at: datetime

    @property
    def marker(self) -> str:
        return f"sla:{self.target}:{self.conversation.pk}:{int(self.due_at.timestamp())}"

    @property
    def text(self) -> str:
        what = "First response" if self.target == FIRST_RESPONSE else "Resolution"
        return f"SLA breached: {what.lower()} was due {self.due_at:%Y-%m-%d %H:%M} UTC."


def breached(*, now: datetime | None = None):
    """The conversations past a target while their clock runs: unanswered past the first-response due time,
    or unresolved past the resolution due time (a queryset: the dashboard counts it, the job reads it)."""
    now = now or timezone.now()
    return Conversation.objects.filter(status__in=CLOCK_RUNNING).filter(
        Q(first_response_at__isnull=True, first_response_due_at__lt=now) | Q(resolution_due_at__lt=now)
    )


def sla_breaches(*, now: datetime | None = None) -> list[Breach]:
    """Conversations past a target while their clock runs: unanswered past the first-response due time, or
    unresolved past the resolution due time (one conversation can be both)."""
    now = now or timezone.now()
    late = (
        breached(now=now)
        .select_related("inbox", "customer", "assignee")
        .order_by("first_response_due_at", "pk")
    )
    found = []
    for conversation in late:
        due = conversation.first_response_due_at
        if conversation.first_response_at is None and due is not None and due < now:
            found.append(Breach(conversation, FIRST_RESPONSE, due))
        due = conversation.resolution_due_at
        if due is not None and due < now:
            found.append(Breach(conversation, RESOLUTION, due))
    return found


def _alert(breaches: list[Breach]) -> None:
    """One e-mail per agent with the breaches they are answerable for (the assignee, else the inbox's
    agents)."""
    by_address: dict[str, list[Breach]] = {}
    for breach in breaches:
        conversation = breach.conversation
        agents = (
            [conversation.assignee]
            if conversation.assignee is not None
            else list(conversation.inbox.members.filter(is_active=True))
        )
        for agent in agents:
            if agent.email:
                by_address.setdefault(agent.email, []).append(breach)
    for address, mine in by_address.items():
        lines = [f"{b.conversation.number} ({b.conversation.inbox.name}): {b.text}" for b in mine]
        send_mail(
            f"[Support] {len(mine)} conversation(s) past their SLA target",
            "\n".join(lines) + "\n",
            None,
            [address],
            fail_silently=True,  # the marks stay in the threads and the desk's lists; mail is a nudge
        )


def mark_sla_breaches(*, now: datetime | None = None) -> list[Breach]:
    """Mark each breach once in its conversation's thread and alert its agents; returns the new ones."""
    marked = []
    breaches = sla_breaches(now=now)
    # Breaches marked by earlier runs are known in one query, not found by a failing insert each minute.
    seen = set(
        keyed_in(Message.objects.filter(via=Message.Via.DESK), [b.marker for b in breaches]).values_list(
            "external_id", flat=True
        )
    )
    for breach in breaches:
        if breach.marker in seen:
            continue
        try:
            with transaction.atomic():
                Message.objects.create(
                    conversation=breach.conversation,
                    direction=Message.Direction.EVENT,
                    via=Message.Via.DESK,
                    body_text=breach.text,
                    external_id=breach.marker,
                )
        except IntegrityError:
            continue  # marked by an earlier run
        marked.append(breach)
    if marked:
        log.warning(
            "Support: %d new SLA breach(es): %s",
            len(marked),
            ", ".join(f"{b.conversation.number} ({b.target})" for b in marked[:20]),
        )
        _alert(marked)
    return marked


def overdue_callbacks(*, now: datetime | None = None):
    """Missed calls not yet returned whose callback time has passed, oldest first."""
    now = now or timezone.now()
    return (
        CallbackTask.objects.filter(done_at__isnull=True, due_at__lt=now)
        .select_related("call", "conversation", "assignee")
        .order_by("due_at", "pk")
    )


def flag_overdue_callbacks(*, now: datetime | None = None) -> list[CallbackTask]:
    """Note each overdue callback once in its conversation (and raise the conversation to high priority)."""
    flagged = []
    tasks = list(overdue_callbacks(now=now))
    seen = set(
        keyed_in(
            Message.objects.filter(via=Message.Via.DESK), [f"callback-overdue:{t.pk}" for t in tasks]
        ).values_list("external_id", flat=True)
    )
    for task in tasks:
        if f"callback-overdue:{task.pk}" in seen:
            continue
        try:
            with transaction.atomic():
                Message.objects.create(
                    conversation=task.conversation,
                    direction=Message.Direction.EVENT,
                    via=Message.Via.DESK,
                    body_text=f"Callback to {task.call.from_number} is overdue (was due "
                    f"{task.due_at:%Y-%m-%d %H:%M} UTC).",
                    external_id=f"callback-overdue:{task.pk}",
                )
                Conversation.objects.filter(
                    pk=task.conversation_id,
                    priority__in=[Conversation.Priority.LOW, Conversation.Priority.NORMAL],
                ).update(priority=Conversation.Priority.HIGH, updated_at=timezone.now())
        except IntegrityError:
            continue
        flagged.append(task)
    return flagged


def wake_snoozed(*, now: datetime | None = None) -> int:
    return conversations.wake_snoozed(now=now)


def send_surveys(*, now: datetime | None = None) -> int:
    return csat.send_due_surveys(now=now)


def run_all(*, now: datetime | None = None) -> dict[str, int]:
    """Every desk job once (`omnishop support run-jobs`, tests): how many each touched."""
    return {
        "woken": wake_snoozed(now=now),
        "sla_breaches": len(mark_sla_breaches(now=now)),
        "surveys": send_surveys(now=now),
        "overdue_callbacks": len(flag_overdue_callbacks(now=now)),
    }


__all__ = [
    "Breach",
    "flag_overdue_callbacks",
    "mark_sla_breaches",
    "overdue_callbacks",
    "run_all",
    "send_surveys",
    "sla_breaches",
    "wake_snoozed",
]
