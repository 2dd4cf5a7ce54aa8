"""Until core.outbox is merged: an object with OutboxEvent's interface (docs in the common brief)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

_ids = itertools.count(1)


@dataclass
class StandInEvent:
    id: int
    event_id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    channel: str
    payload: dict
    version: int
    occurred_at: datetime

    @classmethod
    def make(cls, type, aggregate, sequence, channel, payload, event_id):
        return cls(
            next(_ids),
            event_id,
            type,
            aggregate[0],
            aggregate[1],
            sequence,
            channel,
            payload,
            1,
            timezone.now(),
        )

    def envelope(self) -> dict:
        return {
            "id": self.event_id,
            "type": self.type,
            "timestamp": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "aggregate": {"type": self.aggregate_type, "id": self.aggregate_id, "sequence": self.sequence},
            "channel": self.channel,
            "version": self.version,
            "data": self.payload,
        }
