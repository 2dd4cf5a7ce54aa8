"""Pulling the channel's orders: by cursor, idempotently by the channel's order id, then acknowledged.

Every order the channel shows as paid becomes one Omnishop order through `orders.create_channel_order`
(deduplicated there too, by channel + external id), mapped in `OrderMapping`. An order we cannot take
(a SKU we do not know, a currency the channel does not sell in, an address we cannot read) is recorded on
its mapping as failed with the channel's payload and the reason — nothing is lost; the next pull of a changed
order, or "retry" in the admin, tries again. The cursor moves only past pages that were fully recorded.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from omnishop.catalog.models import Variant
from omnishop.core.errors import DomainError
from omnishop.orders import services as orders

from ..base import Connector, RemoteOrder, connector_for
from ..errors import ChannelError, CurrencyMismatch, UnknownSku
from ..models import ChannelConnection, OrderMapping, SyncCursor
from .logs import write_log

ORDERS_CURSOR = "orders.updated_at"


def get_cursor(connection: ChannelConnection, name: str) -> str:
    row = SyncCursor.objects.filter(connection=connection, name=name).first()
    return row.value if row else ""


def set_cursor(connection: ChannelConnection, name: str, value: str) -> None:
    SyncCursor.objects.update_or_create(connection=connection, name=name, defaults={"value": value})


def pull_orders(*, connection: ChannelConnection, connector: Connector | None = None) -> dict[str, int]:
    """Pull orders updated since the cursor, page by page; returns counts by outcome."""
    connector = connector or connector_for(connection)
    started = timezone.now()
    cursor = get_cursor(connection, ORDERS_CURSOR)
    since = parse_datetime(cursor) if cursor else None
    newest: datetime | None = since
    counts = {"imported": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    page_token = None
    first_error = None
    # A ChannelError leaves the loop: the worker logs and retries it; recorded pages keep their cursor.
    while True:
        page = connector.pull_orders(updated_since=since, page=page_token)
        for remote in page.orders:
            before = OrderMapping.objects.filter(
                connection=connection, remote_order_id=remote.remote_id, status="imported"
            ).exists()
            mapping = import_remote_order(connection=connection, connector=connector, remote=remote)
            if mapping is None:
                counts["skipped"] += 1
            elif mapping.status == OrderMapping.Status.FAILED:
                counts["failed"] += 1
                first_error = first_error or mapping
            else:
                counts["unchanged" if before else "imported"] += 1
            if newest is None or remote.updated_at > newest:
                newest = remote.updated_at
        if newest is not None:
            set_cursor(connection, ORDERS_CURSOR, newest.isoformat())
        if not page.next_page:
            break
        page_token = page.next_page
    write_log(
        connection=connection,
        operation="pull_orders",
        direction="pull",
        started_at=started,
        ok=counts["imported"] + counts["unchanged"],
        failed=counts["failed"],
        error_code=first_error.error_code if first_error else "",
        error_message=f"{first_error.remote_name}: {first_error.error_message}" if first_error else "",
    )
    return counts


def import_remote_order(
    *, connection: ChannelConnection, connector: Connector, remote: RemoteOrder
) -> OrderMapping | None:
    """One channel order → one Omnishop order (or a recorded failure). Pulling it again changes nothing."""
    if remote.error:
        return _record(
            connection, remote, status="failed", error_code="malformed_order", error_message=remote.error
        )
    mapping = OrderMapping.objects.filter(connection=connection, remote_order_id=remote.remote_id).first()
    if mapping is not None and mapping.status == OrderMapping.Status.IMPORTED:
        OrderMapping.objects.filter(pk=mapping.pk).update(
            remote_status=remote.status[:50], remote_updated_at=remote.updated_at, payload=remote.raw
        )
        if remote.cancelled:
            _follow_cancellation(mapping)
        if mapping.acknowledged_at is None:
            _acknowledge(connector, mapping)
        return mapping
    if remote.cancelled or not remote.paid:
        # Not (yet) paid on the channel: not ours to fulfil. Its payment will change updated_at and bring it back.
        return mapping
    channel = connection.channel
    try:
        _check(remote, channel)
        order, _ = orders.create_channel_order(
            channel=channel,
            lines=[
                orders.ChannelLine(sku=x.sku, quantity=x.quantity, unit_price=x.unit_price)
                for x in remote.lines
            ],
            external_id=remote.remote_id,
            email=remote.email,
            shipping_address=remote.shipping_address,
            shipping_total=remote.shipping_total,
            payment_label=f"paid on {connection.kind} ({remote.name})",
            actor=f"connector:{connection.kind}",
        )
    except DomainError as exc:
        return _record(connection, remote, status="failed", error_code=exc.code, error_message=exc.message)
    mapping = _record(connection, remote, status="imported", order=order)
    _acknowledge(connector, mapping)
    return mapping


def _check(remote: RemoteOrder, channel) -> None:
    if remote.currency and remote.currency != channel.currency:
        raise CurrencyMismatch(
            f"Order {remote.name} is in {remote.currency}; channel {channel.code} sells in {channel.currency}.",
            field="currency",
        )
    skus = [x.sku for x in remote.lines]
    known = set(Variant.objects.filter(sku__in=skus).values_list("sku", flat=True))
    unknown = [s or "(no SKU)" for s in skus if s not in known]
    if unknown:
        raise UnknownSku(
            f"Order {remote.name} names SKUs we do not know: {', '.join(unknown)}.", skus=unknown
        )


def _record(
    connection, remote: RemoteOrder, *, status: str, order=None, error_code="", error_message=""
) -> OrderMapping:
    fields = {
        "remote_name": remote.name[:100],
        "status": status,
        "order": order,
        "remote_status": remote.status[:50],
        "remote_updated_at": remote.updated_at,
        "error_code": error_code[:50],
        "error_message": error_message,
        "payload": remote.raw,
    }
    for _ in range(2):
        mapping = OrderMapping.objects.filter(connection=connection, remote_order_id=remote.remote_id).first()
        if mapping is not None:
            if mapping.status == OrderMapping.Status.IMPORTED:
                return mapping  # a concurrent pull imported it meanwhile
            for k, v in fields.items():
                setattr(mapping, k, v)
            mapping.attempts += 1
            mapping.save()
            return mapping
        try:
            with transaction.atomic():
                return OrderMapping.objects.create(
                    connection=connection, remote_order_id=remote.remote_id, attempts=1, **fields
                )
        except IntegrityError:
            continue
    raise IntegrityError(f"Could not record channel order {remote.remote_id}.")


def _acknowledge(connector: Connector, mapping: OrderMapping) -> None:
    if mapping.order is None:
        return  # a skipped remote order: nothing of ours to acknowledge with
    try:
        connector.acknowledge_order(remote_id=mapping.remote_order_id, our_number=mapping.order.number)
    except ChannelError:
        return  # the next pull of this order acknowledges it; the order itself is safely ours already
    OrderMapping.objects.filter(pk=mapping.pk).update(acknowledged_at=timezone.now())
    mapping.acknowledged_at = timezone.now()


def _follow_cancellation(mapping: OrderMapping) -> None:
    order = mapping.order
    if order is None or order.status == "cancelled":
        return
    try:
        orders.cancel_order(
            order=order, actor=f"connector:{mapping.connection.kind}", reason="Cancelled on the channel."
        )
    except DomainError as exc:
        OrderMapping.objects.filter(pk=mapping.pk).update(error_code=exc.code[:50], error_message=exc.message)


def retry_failed_order(*, mapping: OrderMapping) -> OrderMapping | None:
    """Admin "retry": fetch the order again and import it (after the SKU was created, say)."""
    connector = connector_for(mapping.connection)
    return import_remote_order(
        connection=mapping.connection,
        connector=connector,
        remote=connector.fetch_order(mapping.remote_order_id),
    )
