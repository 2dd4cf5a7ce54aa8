"""The outbox sink: outbox events of connected channels become connector tasks (rows only, no network).

Called by `core.outbox.relay_once` inside its transaction (settings `OMNISHOP_OUTBOX_SINKS`).
"""

from __future__ import annotations

from ..models import ChannelConnection, OrderMapping
from .queue import enqueue


def sink(events) -> None:
    _imports_finished([e for e in events if e.type == "import.finished"])
    codes = {e.channel for e in events if e.channel}
    if not codes:
        return
    connections = {
        c.channel.code: c
        for c in ChannelConnection.objects.filter(is_active=True, channel__code__in=codes).select_related(
            "channel"
        )
    }
    if not connections:
        return
    order_numbers = {
        (e.payload.get("order") or {}).get("number")
        for e in events
        if e.type.startswith("order.") and e.channel in connections
    }
    from_channel = set(
        OrderMapping.objects.filter(order__number__in=order_numbers, status="imported").values_list(
            "order__number", flat=True
        )
    )
    for e in events:
        connection = connections.get(e.channel)
        if connection is None:
            continue
        data = e.payload or {}
        if e.type in ("stock.availability_changed", "listing.changed") and not data.get("sku"):
            continue  # malformed: nothing to push (the event stays in the outbox for inspection)
        if e.type == "stock.availability_changed":
            enqueue(
                connection=connection,
                operation="stock",
                key=data["sku"],
                payload={"available": data.get("available"), "event": e.event_id},
            )
        elif e.type == "listing.changed":
            enqueue(
                connection=connection,
                operation="listing",
                key=data["sku"],
                payload={k: data.get(k) for k in ("price", "compare_at_price", "currency", "published")}
                | {"event": e.event_id},
            )
        elif e.type in ("order.shipped", "order.cancelled", "order.refunded"):
            order = data.get("order") or {}
            number = order.get("number")
            if number not in from_channel:
                continue  # only orders the channel sent us go back to it
            after = (data.get("change") or {}).get("after") or {}
            if e.type == "order.shipped":
                enqueue(
                    connection=connection,
                    operation="fulfilment",
                    key=f"{number}:{after.get('fulfilment')}",
                    payload={
                        "number": number,
                        "fulfilment": after.get("fulfilment"),
                        "carrier": after.get("carrier", ""),
                        "tracking_number": after.get("tracking_number", ""),
                        "tracking_url": after.get("tracking_url", ""),
                        "event": e.event_id,
                    },
                )
            elif e.type == "order.cancelled":
                if (data.get("change") or {}).get("kind") == "cancelled_lines":
                    continue  # some units only: the channel hears of it as the refund that follows
                enqueue(
                    connection=connection,
                    operation="cancel",
                    key=number,
                    payload={"number": number, "reason": "Cancelled in Omnishop", "event": e.event_id},
                )
            else:
                # data.change.after.refunded is the order's cumulative refund: the latest figure wins.
                enqueue(
                    connection=connection,
                    operation="refund",
                    key=number,
                    payload={
                        "number": number,
                        "refunded_total": str(after.get("refunded") or "0"),
                        "currency": order.get("currency", ""),
                        "event": e.event_id,
                    },
                )


def _imports_finished(events) -> None:
    """Imports write in bulk and announce once (import.finished): a channel's import re-syncs that channel
    (listings and stock), a channel-less one (stock levels, shared products) the stock of every connection."""
    from .connections import sync_now

    for event in events:
        data = event.payload or {}
        if data.get("status") != "succeeded" or not (
            data.get("imported") or data.get("updated") or data.get("merged")
        ):
            continue
        targets = ChannelConnection.objects.filter(is_active=True)
        if event.channel:
            targets = targets.filter(channel__code=event.channel)
        for connection in targets.select_related("channel"):
            sync_now(connection=connection, listings=bool(event.channel))
