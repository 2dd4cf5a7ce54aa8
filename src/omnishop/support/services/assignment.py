"""Who takes a new conversation: nobody (agents pick), round-robin or the least busy of the inbox's online agents."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import AgentPresence, Conversation, Inbox

OPEN = [Conversation.Status.OPEN, Conversation.Status.PENDING, Conversation.Status.SNOOZED]


def online_agents(inbox: Inbox):
    return get_user_model().objects.filter(
        support_inboxes=inbox, is_active=True, is_staff=True, support_presence__is_online=True
    )


def choose_assignee(inbox: Inbox):
    """The agent a new conversation of this inbox goes to, or None (manual inbox, nobody online)."""
    if inbox.assignment == Inbox.Assignment.MANUAL:
        return None
    agents = online_agents(inbox)
    if inbox.assignment == Inbox.Assignment.LEAST_OPEN:
        open_count = (
            Conversation.objects.filter(assignee=OuterRef("pk"), status__in=OPEN)
            .values("assignee")
            .annotate(n=Count("pk"))
            .values("n")
        )
        agents = agents.annotate(
            open_now=Coalesce(Subquery(open_count, output_field=IntegerField()), Value(0))
        )
        ordering = [F("open_now").asc(), F("support_presence__last_assigned_at").asc(nulls_first=True), "pk"]
    else:
        ordering = [F("support_presence__last_assigned_at").asc(nulls_first=True), "pk"]
    chosen = agents.order_by(*ordering).first()
    if chosen is not None:
        AgentPresence.objects.filter(user=chosen).update(last_assigned_at=timezone.now())
    return chosen


def set_online(*, user, online: bool) -> AgentPresence:
    presence, _ = AgentPresence.objects.get_or_create(user=user)
    presence.is_online = online
    presence.last_seen_at = timezone.now()
    presence.save(update_fields=["is_online", "last_seen_at"])
    return presence


__all__ = ["choose_assignee", "online_agents", "set_online"]
