"""A token bucket per connection, kept on the connection's row so every process and machine shares it.

`take()` refills the bucket for the time since it was last touched and takes a token with one
compare-and-set UPDATE (guarded by the `tokens_at` it read); a lost race re-reads and tries again. A 429 or
a GraphQL THROTTLED answer pushes `next_allowed_at`, which beats the bucket: nobody calls before then.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .models import ChannelConnection


def take(connection_id: int, cost: float = 1.0) -> float:
    """Take `cost` tokens: 0.0 when taken, else the seconds to wait before asking again."""
    for _ in range(20):
        row = (
            ChannelConnection.objects.filter(pk=connection_id)
            .values("rate_per_second", "burst", "tokens", "tokens_at", "next_allowed_at")
            .first()
        )
        if row is None:
            return 60.0
        now = timezone.now()
        if row["next_allowed_at"] and row["next_allowed_at"] > now:
            return (row["next_allowed_at"] - now).total_seconds()
        rate, burst = max(row["rate_per_second"], 0.001), float(row["burst"])
        tokens = row["tokens"]
        if row["tokens_at"] is not None:
            tokens = min(burst, tokens + (now - row["tokens_at"]).total_seconds() * rate)
        else:
            tokens = burst
        if tokens < cost:
            return (cost - tokens) / rate
        guard = {"tokens_at": row["tokens_at"]} if row["tokens_at"] else {"tokens_at__isnull": True}
        if ChannelConnection.objects.filter(pk=connection_id, **guard).update(
            tokens=tokens - cost, tokens_at=now
        ):
            return 0.0
    return 0.1  # heavy contention: back off a moment


def hold_off(connection_id: int, seconds: float) -> None:
    """Nobody calls this channel for `seconds` (a 429's Retry-After); never shortens an existing hold."""
    until = timezone.now() + timedelta(seconds=seconds)
    ChannelConnection.objects.filter(pk=connection_id).exclude(next_allowed_at__gt=until).update(
        next_allowed_at=until
    )
