"""Staff notes on an order's timeline: what someone learnt or promised, written where everyone will look."""

from __future__ import annotations

from omnishop.core.errors import ValidationFailed

from ..models import Order, OrderEvent
from ..states import event

NOTE_LIMIT = 500  # the timeline message's length


def add_note(*, order: Order, text: str, actor: str, key: str = "") -> OrderEvent:
    """A note event on the order's timeline, with the member of staff who wrote it; a `key` seen before on
    this order's notes returns that note (a form posted twice adds one note)."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Write the note.", field="text")
    if len(text) > NOTE_LIMIT:
        raise ValidationFailed(f"A note is at most {NOTE_LIMIT} characters.", field="text")
    if key:
        earlier = order.events.filter(kind="note", after__key=key).first()
        if earlier is not None:
            return earlier
    return event(order, "note", actor=actor, message=text, after={"key": key} if key else None)
