"""Back-office screens for the support desk's set-up: inboxes (their agents, SLA policy and assignment), SLA
policies (business hours checked with a clear error), teams and canned replies (placeholders checked by the
canned-reply service). Conversations, calls and their messages are read-only here: the desk changes them
through its services (backoffice/web/support.py); agents see only their inboxes' conversations."""

from __future__ import annotations

import re
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin

from .errors import UnknownPlaceholder
from .models import Call, CallbackTask, CannedReply, Conversation, Inbox, Message, SlaPolicy, Team
from .services import canned, visible_to

HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def business_hours_problems(value) -> list[str]:
    """What is wrong with a business-hours table ({"0": [["09:00", "17:30"]], …}), in words; [] when fine."""
    if value in (None, "", {}):
        return []
    if not isinstance(value, dict):
        return ['Business hours are an object keyed by weekday number: {"0": [["09:00", "17:30"]], …}.']
    problems = []
    for day, windows in value.items():
        if str(day) not in {str(n) for n in range(7)}:
            problems.append(f"'{day}' is not a weekday: use 0 (Monday) to 6 (Sunday).")
            continue
        name = WEEKDAYS[int(day)]
        if not isinstance(windows, list):
            problems.append(f'{name}: a list of ["HH:MM", "HH:MM"] pairs is expected.')
            continue
        previous_end = None
        for window in windows:
            if (
                not isinstance(window, list | tuple)
                or len(window) != 2
                or not all(isinstance(t, str) and HH_MM.match(t) for t in window)
            ):
                problems.append(f'{name}: {window!r} is not a ["HH:MM", "HH:MM"] pair (24-hour clock).')
                continue
            opens, closes = (time.fromisoformat(t) for t in window)
            if closes <= opens:
                problems.append(f"{name}: {window[0]}-{window[1]} closes before it opens.")
            elif previous_end is not None and opens < previous_end:
                problems.append(f"{name}: {window[0]}-{window[1]} overlaps the window before it.")
            previous_end = closes
    return problems


def holiday_problems(value) -> list[str]:
    if value in (None, "", []):
        return []
    if not isinstance(value, list):
        return ['Holidays are a list of dates: ["2026-12-25", "2026-12-28"].']
    problems = []
    for item in value:
        fine = isinstance(item, str) and len(item) == 10
        if fine:
            try:
                date.fromisoformat(item)
            except ValueError:
                fine = False
        if not fine:
            problems.append(f"{item!r} is not a date written YYYY-MM-DD.")
    return problems


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = (
            "name",
            "first_response_minutes",
            "resolution_minutes",
            "time_zone",
            "business_hours",
            "holidays",
        )

    def clean_business_hours(self):
        value = self.cleaned_data.get("business_hours")
        problems = business_hours_problems(value)
        if problems:
            raise forms.ValidationError(problems)
        return value or {}

    def clean_holidays(self):
        value = self.cleaned_data.get("holidays")
        problems = holiday_problems(value)
        if problems:
            raise forms.ValidationError(problems)
        return value or []

    def clean_time_zone(self):
        value = self.cleaned_data.get("time_zone", "")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"'{value}' is not a time zone name such as Europe/London.") from None
        return value


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyForm
    list_display = ("name", "first_response_minutes", "resolution_minutes", "time_zone")
    search_fields = ("name",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "address", "channel", "assignment", "sla_policy", "is_active")
    list_filter = ("kind", "assignment", "is_active")
    search_fields = ("code", "name", "address")
    prepopulated_fields = {"code": ("name",)}
    filter_horizontal = ("members",)
    fields = (
        "code",
        "name",
        "kind",
        "address",
        "channel",
        "language",
        "team",
        "members",
        "assignment",
        "sla_policy",
        "is_active",
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its conversations keep pointing at it; deactivate instead


class CannedReplyForm(forms.ModelForm):
    class Meta:
        model = CannedReply
        fields = ("key", "language", "title", "body")
        help_texts = {
            "body": "Placeholders: " + ", ".join("{{ " + name + " }}" for name in canned.PLACEHOLDERS) + "."
        }

    def clean_body(self):
        body = self.cleaned_data.get("body", "")
        try:
            canned.check_body(body)
        except UnknownPlaceholder as refused:
            raise forms.ValidationError(refused.message) from None
        return body


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    form = CannedReplyForm
    list_display = ("key", "language", "title")
    list_filter = ("language",)
    search_fields = ("key", "title", "body")


class MessageInline(admin.TabularInline):
    model = Message
    fields = (
        "created_at",
        "direction",
        "via",
        "sender_name",
        "sender_address",
        "body_text",
        "delivery_status",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "subject",
        "inbox",
        "customer",
        "status",
        "priority",
        "assignee",
        "first_response_due_at",
        "last_message_at",
        "satisfaction",
    )
    list_select_related = ("inbox", "customer", "assignee")
    list_filter = ("status", "priority", "inbox", "language")
    search_fields = ("=number", "subject", "customer__email", "=order__number")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Conversation._meta.fields] + ["tags"]
    exclude = ("reply_token",)  # the shopper's credential for the thread: never shown
    inlines = [MessageInline]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [name for name in self.readonly_fields if name != "reply_token"]

    def get_queryset(self, request):
        return visible_to(request.user)  # agents see their inboxes' conversations only

    def has_add_permission(self, request) -> bool:
        return False  # conversations arrive through the channels

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # erasure goes through the privacy service


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ("started_at", "from_number", "to_number", "outcome", "duration_seconds", "agent")
    list_filter = ("outcome", "direction")
    search_fields = ("from_number", "to_number", "=provider_sid", "=conversation__number")
    readonly_fields = [f.name for f in Call._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallbackTask)
class CallbackTaskAdmin(admin.ModelAdmin):
    list_display = ("due_at", "call", "conversation", "assignee", "done_at")
    list_filter = ("done_at",)
    list_select_related = ("call", "conversation", "assignee")
    fields = ("call", "conversation", "due_at", "assignee", "done_at")
    readonly_fields = ("call", "conversation")

    def has_add_permission(self, request) -> bool:
        return False  # a missed call makes one
