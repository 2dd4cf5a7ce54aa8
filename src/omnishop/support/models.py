"""The support desk's tables: inboxes, conversations with their messages and attachments, calls, SLA policies,
canned replies and agents' presence. Workflows live in `support.services`; these are tables and invariants."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SlaPolicy(models.Model):
    """Targets an inbox promises: first response and resolution, counted in business hours only."""

    name = models.CharField(max_length=100, unique=True)
    first_response_minutes = models.PositiveIntegerField(default=60)
    resolution_minutes = models.PositiveIntegerField(default=60 * 24)
    time_zone = models.CharField(max_length=64, default="Europe/London")
    business_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per weekday (0 = Monday): [["09:00", "17:30"]]. Empty: around the clock.',
    )
    holidays = models.JSONField(
        default=list, blank=True, help_text='Dates without business hours: ["2026-12-25"].'
    )

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="support_teams")

    def __str__(self) -> str:
        return self.name


class Inbox(models.Model):
    """Where conversations arrive: an e-mail address, the web chat, a phone number, a channel's messages."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        CHAT = "chat", _("Web chat")
        PHONE = "phone", _("Phone")
        CHANNEL = "channel", _("Channel messages (marketplace, app)")
        CONTACT_FORM = "contact_form", _("The shop's contact form")

    class Assignment(models.TextChoices):
        MANUAL = "manual", _("Agents take conversations themselves")
        ROUND_ROBIN = "round_robin", _("Round-robin among online agents")
        LEAST_OPEN = "least_open", _("The online agent with the fewest open conversations")

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.ForeignKey(
        "channels.Channel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The sales channel whose customers write here (customer resolution, phone region).",
    )
    address = models.CharField(
        max_length=254, blank=True, help_text="The e-mail address or phone number shoppers write to or call."
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="inboxes")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="support_inboxes",
        help_text="Agents who see and answer this inbox's conversations.",
    )
    sla_policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignment = models.CharField(max_length=20, choices=Assignment.choices, default=Assignment.MANUAL)
    language = models.CharField(max_length=10, default="en")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "inboxes"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    """One customer problem, across every channel it was raised on."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Waiting for the customer")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    number = models.CharField(max_length=20, unique=True, help_text="Public id shown to the shopper: C-…")
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="conversations")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="support_conversations"
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="support_conversations"
    )
    return_request = models.ForeignKey(
        "orders.ReturnRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    language = models.CharField(max_length=10, default="en")
    reply_token = models.CharField(
        max_length=40,
        unique=True,
        help_text="Unguessable token in the reply-to address and the chat session.",
    )
    sender_verified = models.BooleanField(
        default=True,
        help_text="False when the last inbound e-mail failed SPF/DKIM: it may not act on orders.",
    )
    satisfaction = models.PositiveSmallIntegerField(null=True, blank=True, help_text="CSAT, 1-5.")
    satisfaction_comment = models.TextField(blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    sla_paused_minutes = models.PositiveIntegerField(
        default=0, help_text="Business minutes spent waiting on the customer; the due times move by as much."
    )
    pending_since = models.DateTimeField(
        null=True, blank=True, help_text="When the clock stopped (waiting on the customer)."
    )
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_message_at", "-pk"]
        indexes = [models.Index(fields=["customer", "status"]), models.Index(fields=["assignee", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | Q(satisfaction__gte=1, satisfaction__lte=5),
                name="support_satisfaction_1_to_5",
            ),
            models.CheckConstraint(
                condition=~Q(status="snoozed") | Q(snoozed_until__isnull=False),
                name="support_snoozed_has_until",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", _("From the customer")
        OUTBOUND = "outbound", _("To the customer")
        NOTE = "note", _("Internal note")
        EVENT = "event", _("Something that happened (an action, a call)")

    class Via(models.TextChoices):
        EMAIL = "email", _("E-mail")
        CHAT = "chat", _("Chat")
        PHONE = "phone", _("Phone")
        CHANNEL = "channel", _("Channel message")
        CONTACT_FORM = "contact_form", _("Contact form")
        DESK = "desk", _("The desk")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    via = models.CharField(max_length=20, choices=Via.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender_name = models.CharField(max_length=200, blank=True)
    sender_address = models.CharField(max_length=254, blank=True, help_text="E-mail address or phone number.")
    subject = models.CharField(max_length=300, blank=True)
    body_raw = models.TextField(blank=True, help_text="As received (the whole MIME message for e-mail).")
    body_text = models.TextField(blank=True, help_text="Plain text as shown, quoted history stripped.")
    body_html = models.TextField(blank=True, help_text="Sanitised HTML as shown.")
    external_id = models.CharField(
        max_length=300, blank=True, help_text="Message-ID, provider message id or the API's idempotency key."
    )
    in_reply_to = models.CharField(max_length=300, blank=True)
    references = models.TextField(blank=True)
    auth_results = models.JSONField(
        default=dict, blank=True, help_text="SPF/DKIM verdicts reported by the provider."
    )
    refused_attachments = models.JSONField(
        default=list,
        blank=True,
        help_text="Attachments not stored, each with the reason: [{filename, reason}].",
    )
    delivery_status = models.CharField(max_length=20, blank=True, help_text="Outbound: queued, sent, failed.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["via", "external_id"], condition=~Q(external_id=""), name="support_message_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.body_text[:60]}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to="support/%Y/%m/")

    def __str__(self) -> str:
        return self.filename


class Call(models.Model):
    """A phone call as the voice provider reported it."""

    class Outcome(models.TextChoices):
        RINGING = "ringing", _("Ringing")
        ANSWERED = "answered", _("Answered")
        MISSED = "missed", _("Missed")
        VOICEMAIL = "voicemail", _("Voicemail")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="calls")
    provider_sid = models.CharField(max_length=64, unique=True)
    direction = models.CharField(max_length=20, default="inbound")
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32, blank=True)
    provider_status = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RINGING)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    recording_url = models.URLField(max_length=500, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.from_number} {self.outcome}"


class CallbackTask(models.Model):
    """A missed call to return."""

    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="callback")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="callbacks")
    due_at = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"call back {self.call.from_number}"


class CannedReply(models.Model):
    """A prepared answer with placeholders ({{ customer.first_name }}, {{ order.number }}, {{ tracking_url }})."""

    key = models.SlugField(max_length=50)
    language = models.CharField(max_length=10, default="en")
    title = models.CharField(max_length=200)
    body = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "language"], name="support_canned_once")]
        ordering = ["key", "language"]

    def __str__(self) -> str:
        return f"{self.key} ({self.language})"


class AgentPresence(models.Model):
    """Whether an agent is taking conversations now (assignment picks only online agents)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_presence"
    )
    is_online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} {'online' if self.is_online else 'away'}"
