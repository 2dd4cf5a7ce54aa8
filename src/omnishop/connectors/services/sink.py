"""The outbox sink: outbox events of connected channels become connector tasks (rows only, no network).

Called by `core.outbox.relay_once` inside its transaction (settings `OMNISHOP_OUTBOX_SINKS`).
"""

from __future__ import annotations

from ..models import ChannelConnection, OrderMapping
from .queue import enqueue


def sink(events) -> None:
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
                enqueue(
                    connection=connection,
                    operation="cancel",
                    key=number,
                    payload={
                        "number": number,
                        "reason": after.get("reason") or "Cancelled in Omnishop",
                        "event": e.event_id,
                    },
                )
            else:
                enqueue(
                    connection=connection,
                    operation="refund",
                    key=e.event_id,
                    payload={
                        "number": number,
                        "amount": str(after.get("amount") or after.get("refunded") or "0"),
                        "currency": order.get("currency", ""),
                        "reason": "Refunded in Omnishop",
                        "event": e.event_id,
                    },
                )
