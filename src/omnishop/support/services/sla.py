"""Service-level clocks: first response and resolution targets counted in an inbox's business hours, skipping
its holidays, and paused while the conversation waits on the customer."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..models import Conversation, SlaPolicy

HORIZON_DAYS = 400  # a policy whose hours never come within this many days counts wall-clock time instead


def _windows(policy: SlaPolicy, day: date) -> list[tuple[datetime, datetime]]:
    """The business-hour windows of one local day, as aware UTC datetimes."""
    if day.isoformat() in set(policy.holidays or []):
        return []
    zone = ZoneInfo(policy.time_zone)
    found = []
    for start, end in (policy.business_hours or {}).get(str(day.weekday()), []):
        opens = datetime.combine(day, time.fromisoformat(start), tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, time.fromisoformat(end), tzinfo=zone).astimezone(UTC)
        if closes > opens:
            found.append((opens, closes))
    return found


def add_business_minutes(policy: SlaPolicy | None, start: datetime, minutes: int) -> datetime:
    """The moment `minutes` of business time after `start` (wall-clock time without a policy or hours)."""
    if policy is None or not policy.business_hours:
        return start + timedelta(minutes=minutes)
    remaining = timedelta(minutes=minutes)
    day = start.astimezone(ZoneInfo(policy.time_zone)).date()
    for _ in range(HORIZON_DAYS):
        for opens, closes in _windows(policy, day):
            begin = max(opens, start)
            if begin >= closes:
                continue
            if closes - begin >= remaining:
                return begin + remaining
            remaining -= closes - begin
        day += timedelta(days=1)
    return start + timedelta(minutes=minutes)


def business_minutes_between(policy: SlaPolicy | None, start: datetime, end: datetime) -> int:
    """Business minutes from `start` to `end` (0 when end is earlier)."""
    if end <= start:
        return 0
    if policy is None or not policy.business_hours:
        return int((end - start).total_seconds() // 60)
    zone = ZoneInfo(policy.time_zone)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    total = timedelta(0)
    while day <= last:
        for opens, closes in _windows(policy, day):
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return int(total.total_seconds() // 60)


def set_due_times(conversation: Conversation, policy: SlaPolicy | None) -> None:
    """(Re)compute both due times from the creation time plus the minutes the clock was paused."""
    if policy is None:
        conversation.first_response_due_at = conversation.resolution_due_at = None
        return
    paused = conversation.sla_paused_minutes
    created = conversation.created_at
    conversation.first_response_due_at = add_business_minutes(
        policy, created, policy.first_response_minutes + paused
    )
    conversation.resolution_due_at = add_business_minutes(policy, created, policy.resolution_minutes + paused)
