"""The event types Omnishop sends to webhook endpoints, and how a subscription's patterns match them.

A subscription lists exact types (`order.shipped`), a family (`order.*`) or everything (`*`). Patterns are
checked against this list when saved, so a typo is a 422 rather than an endpoint that silently never
receives anything. The list is the transactional outbox's (`core.outbox.EVENT_TYPES`).
"""

from __future__ import annotations

from collections.abc import Iterable

from omnishop.core.outbox import EVENT_TYPES as _ALL_TYPES
from omnishop.core.outbox import UnknownEventType

PING = "webhook.ping"

# What an endpoint can subscribe to: everything the outbox emits (a ping is sent on request, to one endpoint).
EVENT_TYPES: tuple[str, ...] = tuple(t for t in _ALL_TYPES if t != PING)


def clean_patterns(patterns: Iterable[str], *, field: str = "event_types") -> list[str]:
    """The patterns, trimmed and without repeats, each matching at least one known type."""
    cleaned: list[str] = []
    for raw in patterns:
        pattern = raw.strip()
        if pattern in cleaned:
            continue
        if (
            pattern == "*"
            or pattern in EVENT_TYPES
            or (pattern.endswith(".*") and any(t.startswith(pattern[:-1]) for t in EVENT_TYPES))
        ):
            cleaned.append(pattern)
        else:
            raise UnknownEventType(
                f"'{pattern}' is not an event type or family Omnishop sends.",
                field=field,
                allowed=list(EVENT_TYPES),
            )
    if not cleaned:
        raise UnknownEventType("Subscribe to at least one event type ('*' for all).", field=field)
    return cleaned


def matches(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
