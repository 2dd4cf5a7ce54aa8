"""The connector worker: runs due tasks against the channels, outside any long transaction.

`work_due()` is an `OMNISHOP_RELAY_WORKERS` entry: per active connection whose rate limit allows a call, it
claims due tasks (with a lease), groups stock and listing tasks into the channel's batch size, takes a
token from the connection's bucket per call, and records the outcome: done, retry with backoff (5xx,
timeouts, 429 with Retry-After — which also holds the whole connection), or failed for good (the channel
refused it; kept with its error for a person). Checkouts never come here: they only write outbox events.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from omnishop.catalog.models import ChannelListing, Variant
from omnishop.core.errors import DomainError
from omnishop.inventory import services as inventory

from .. import ratelimit
from ..base import Connector, ItemResult, ListingUpdate, RemoteRef, StockUpdate, connector_for
from ..errors import ChannelError, ChannelRateLimited, CurrencyMismatch
from ..models import ChannelConnection, ConnectorTask, ListingMapping, OrderMapping, SyncLog
from . import queue
from .logs import write_log

logger = logging.getLogger(__name__)

BATCHED = ("listing", "stock")


def work_due(limit: int = 500) -> int:
    """Run due connector tasks; returns how many tasks were finished (done, failed or rescheduled)."""
    now = timezone.now()
    if not _any_task_due(now):
        return 0
    connections = (
        ChannelConnection.objects.filter(is_active=True)
        .filter(Q(next_allowed_at__isnull=True) | Q(next_allowed_at__lte=now))
        .select_related("channel")
        .filter(
            Q(tasks__status="pending", tasks__next_attempt_at__lte=now)
            | Q(tasks__status="running", tasks__locked_until__lt=now)
        )
        .distinct()
    )
    worked = 0
    for connection in connections:
        worked += work_connection(connection, limit=limit)
    return worked


def _any_task_due(now) -> bool:
    """One plain indexed look before the connections query: a relay runs this worker every round, and
    compiling that query (joins, DISTINCT, related channel) cost more CPU than the look (ADR 0048's relay work)."""
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM connectors_connectortask WHERE (status = 'pending' AND next_attempt_at <= %s) "
            "OR (status = 'running' AND locked_until < %s) LIMIT 1",
            [db_connection.ops.adapt_datetimefield_value(now)] * 2,
        )
        return cursor.fetchone() is not None


def work_connection(connection: ChannelConnection, *, limit: int = 500) -> int:
    tasks = queue.claim(connection=connection, limit=limit)
    if not tasks:
        return 0
    connector = connector_for(connection)
    # Pulls first (an imported order changes what we may promise), then listings (a listing created on the
    # channel can take its stock in the same round), stock, and the order updates.
    groups: list[tuple[str, list[ConnectorTask]]] = [
        (t.operation, [t]) for t in tasks if t.operation in ("pull_orders", "pull_order")
    ]
    for op in BATCHED:
        mine = [t for t in tasks if t.operation == op]
        size = connector.max_stock_batch if op == "stock" else connector.max_listing_batch
        groups += [(op, mine[i : i + size]) for i in range(0, len(mine), size)]
    groups += [
        (t.operation, [t]) for t in tasks if t.operation not in (*BATCHED, "pull_orders", "pull_order")
    ]
    for i, (op, batch) in enumerate(groups):
        wait = ratelimit.take(connection.pk)
        if wait > 0:
            for _, rest in groups[i:]:
                queue.release(rest, after=wait)
            break
        _run(connector, op, batch)
    return len(tasks)


def _run(connector: Connector, op: str, batch: list[ConnectorTask]) -> None:
    connection = connector.connection
    started = timezone.now()
    direction = "pull" if op.startswith("pull") else "push"
    try:
        if op == "stock":
            _push_stock(connector, batch, started)
        elif op == "listing":
            _push_listings(connector, batch, started)
        else:
            _run_single(connector, op, batch[0], started)
    except ChannelRateLimited as exc:
        ratelimit.hold_off(connection.pk, exc.retry_after)
        for task in batch:
            queue.retry(task, code=exc.code, message=exc.message, after=exc.retry_after)
        write_log(
            connection=connection,
            operation=op,
            direction=direction,
            started_at=started,
            failed=len(batch),
            status=SyncLog.Status.RETRY,
            error_code=exc.code,
            error_message=exc.message,
        )
    except ChannelError as exc:
        for task in batch:
            if exc.retryable:
                queue.retry(task, code=exc.code, message=exc.message)
            else:
                queue.failed(task, code=exc.code, message=exc.message)
        write_log(
            connection=connection,
            operation=op,
            direction=direction,
            started_at=started,
            failed=len(batch),
            status=SyncLog.Status.RETRY if exc.retryable else SyncLog.Status.ERROR,
            error_code=exc.code,
            error_message=exc.message,
        )
    except DomainError as exc:
        for task in batch:
            queue.failed(task, code=exc.code, message=exc.message)
        write_log(
            connection=connection,
            operation=op,
            direction=direction,
            started_at=started,
            failed=len(batch),
            error_code=exc.code,
            error_message=exc.message,
        )
    except Exception as exc:  # a bug of ours must not stop every other channel's deliveries: logged, retried
        logger.exception("Connector task %s failed unexpectedly", [t.pk for t in batch])
        for task in batch:
            queue.retry(task, code="internal_error", message=f"{type(exc).__name__}: {exc}")
        write_log(
            connection=connection,
            operation=op,
            direction=direction,
            started_at=started,
            failed=len(batch),
            status=SyncLog.Status.RETRY,
            error_code="internal_error",
            error_message=f"{type(exc).__name__}: {exc}",
        )


# -- stock --------------------------------------------------------------------------------------------------
def mappings_for(connector: Connector, skus: list[str], *, lookup: bool = True) -> dict[str, ListingMapping]:
    """Our mappings for these SKUs; SKUs not mapped yet are looked up on the channel by SKU once."""
    connection = connector.connection
    found = {m.sku: m for m in ListingMapping.objects.filter(connection=connection, sku__in=skus)}
    missing = [s for s in skus if s not in found]
    if missing and lookup:
        refs = connector.find_listings(missing)
        variants = {v.sku: v for v in Variant.objects.filter(sku__in=list(refs))}
        for sku, ref in refs.items():
            if sku in variants:
                found[sku] = save_mapping(connection, variants[sku], ref)
    return found


def save_mapping(connection, variant, ref: RemoteRef) -> ListingMapping:
    mapping, _ = ListingMapping.objects.update_or_create(
        connection=connection,
        variant=variant,
        defaults={
            "sku": variant.sku,
            "remote_product_id": ref.product_id,
            "remote_variant_id": ref.variant_id,
            "remote_inventory_item_id": ref.inventory_item_id,
        },
    )
    return mapping


def ref_of(mapping: ListingMapping) -> RemoteRef:
    return RemoteRef(
        mapping.sku, mapping.remote_product_id, mapping.remote_variant_id, mapping.remote_inventory_item_id
    )


def _push_stock(connector: Connector, batch: list[ConnectorTask], started) -> None:
    connection = connector.connection
    by_sku = {t.key: t for t in batch}
    mappings = mappings_for(connector, list(by_sku))
    for sku, task in by_sku.items():
        if sku not in mappings:
            queue.done(task, note="not_on_channel")  # not sold there: nothing is owed
    mapped = {sku: m for sku, m in mappings.items() if sku in by_sku}
    if not mapped:
        return
    # The figure pushed is the channel's available-to-promise now, not the one in the event: a late task
    # never sets an older figure.
    available = inventory.availability_for(
        channel=connection.channel, variant_ids=[m.variant_id for m in mapped.values()]
    )
    unknown = [m for m in mapped.values() if m.last_quantity is None]
    if unknown and connector.kind == "shopify":
        _learn_quantities(connector, unknown)
    updates = [
        StockUpdate(ref=ref_of(m), quantity=available[m.variant_id], expected=m.last_quantity)
        for m in mapped.values()
    ]
    results = connector.push_stock(updates)
    stale = [r for r in results if r.error_code == "compare_quantity_stale"]
    if stale:
        # Someone else changed the figure on the channel (a sale there): learn it and set ours once more,
        # with the items the all-or-nothing batch refused alongside.
        _learn_quantities(connector, [mapped[r.key] for r in stale])
        again_maps = [mapped[r.key] for r in results if not r.ok and r.retryable]
        again = [
            StockUpdate(ref=ref_of(m), quantity=available[m.variant_id], expected=m.last_quantity)
            for m in again_maps
        ]
        retried = {r.key: r for r in connector.push_stock(again)}
        results = [retried.get(r.key, r) for r in results]
    _finish_items(connection, "stock", by_sku, results, started)
    for r in results:
        if r.ok:
            ListingMapping.objects.filter(pk=mapped[r.key].pk).update(last_quantity=r.quantity)


def _learn_quantities(connector: Connector, mappings: list[ListingMapping]) -> None:
    views = connector.read_listings([ref_of(m) for m in mappings])
    for m in mappings:
        view = views.get(m.sku)
        m.last_quantity = view.quantity if view and view.quantity is not None else 0
        ListingMapping.objects.filter(pk=m.pk).update(last_quantity=m.last_quantity)


def _finish_items(
    connection, op: str, by_key: dict[str, ConnectorTask], results: list[ItemResult], started
) -> None:
    ok = failed = 0
    first_error = None
    for r in results:
        task = by_key[r.key]
        if r.ok:
            queue.done(task)
            ok += 1
            continue
        failed += 1
        first_error = first_error or r
        if r.retryable:
            queue.retry(task, code=r.error_code, message=r.error_message)
        else:
            queue.failed(task, code=r.error_code, message=r.error_message)
    write_log(
        connection=connection,
        operation=op,
        direction="push",
        started_at=started,
        ok=ok,
        failed=failed,
        error_code=first_error.error_code if first_error else "",
        error_message=f"{first_error.key}: {first_error.error_message}" if first_error else "",
    )


# -- listings ----------------------------------------------------------------------------------------------
def _push_listings(connector: Connector, batch: list[ConnectorTask], started) -> None:
    connection = connector.connection
    channel = connection.channel
    by_sku = {t.key: t for t in batch}
    listings = {
        x.variant.sku: x
        for x in ChannelListing.objects.filter(channel=channel, variant__sku__in=list(by_sku)).select_related(
            "variant", "variant__product"
        )
    }
    mappings = mappings_for(connector, list(by_sku))
    updates: list[ListingUpdate] = []
    for sku, task in by_sku.items():
        listing = listings.get(sku)
        if listing is None:
            queue.done(task, note="not_listed")
            continue
        currency = task.payload.get("currency") or listing.currency
        if listing.currency != channel.currency or currency != channel.currency:
            # A price in another currency would be shown to the channel's buyers as theirs: refused, kept.
            error = CurrencyMismatch(
                f"The price of {sku} is in {listing.currency}; channel {channel.code} sells in {channel.currency}.",
                field="currency",
            )
            queue.failed(task, code=error.code, message=error.message)
            write_log(
                connection=connection,
                operation="listing",
                direction="push",
                started_at=started,
                failed=1,
                error_code=error.code,
                error_message=error.message,
            )
            continue
        mapping = mappings.get(sku)
        if mapping is None and not listing.is_published:
            queue.done(task, note="not_on_channel")  # unpublished and never created there: nothing to do
            continue
        product = listing.variant.product
        updates.append(
            ListingUpdate(
                sku=sku,
                price=Decimal(listing.price).quantize(Decimal("0.01")),
                compare_at_price=Decimal(listing.compare_at_price).quantize(Decimal("0.01"))
                if listing.compare_at_price is not None
                else None,
                currency=listing.currency,
                published=listing.is_published and listing.variant.is_active,
                ref=ref_of(mapping) if mapping else None,
                title=listing.title or f"{product.title} {listing.variant.title}".strip(),
                description=product.description,
                images=[i.url for i in product.images.order_by("position")[:10]],
                attributes={str(k): str(v) for k, v in (listing.variant.attributes or {}).items()},
            )
        )
    if not updates:
        return
    results = connector.publish_listings(updates)
    variants = {x.variant.sku: x.variant for x in listings.values()}
    for r in results:
        if r.ok and r.ref is not None and r.key not in mappings:
            save_mapping(connection, variants[r.key], r.ref)
            queue.enqueue(connection=connection, operation="stock", key=r.key, payload={"reason": "created"})
        if r.ok:
            ListingMapping.objects.filter(connection=connection, sku=r.key).update(
                last_price=listings[r.key].price
            )
    _finish_items(connection, "listing", by_sku, results, started)


# -- single tasks ------------------------------------------------------------------------------------------
def _run_single(connector: Connector, op: str, task: ConnectorTask, started) -> None:
    from .orders import import_remote_order, pull_orders

    connection = connector.connection
    if op == "pull_orders":
        pull_orders(connection=connection, connector=connector)
        queue.done(task)
        return
    if op == "pull_order":
        remote = connector.fetch_order(task.key)
        mapping = import_remote_order(connection=connection, connector=connector, remote=remote)
        queue.done(task, note=mapping.status if mapping else "skipped")
        write_log(
            connection=connection,
            operation=op,
            direction="pull",
            started_at=started,
            ok=int(bool(mapping and mapping.status == "imported")),
            failed=int(bool(mapping and mapping.status == "failed")),
            error_code=mapping.error_code if mapping else "",
            error_message=mapping.error_message if mapping else "",
        )
        return
    number = task.payload.get("number", "")
    mapping = OrderMapping.objects.filter(connection=connection, order__number=number).first()
    if mapping is None:
        queue.done(task, note="not_from_channel")
        return
    if op == "fulfilment":
        applied = connector.push_fulfilment(
            remote_id=mapping.remote_order_id,
            marker=f"omnishop-fulfilment-{task.payload.get('fulfilment')}",
            carrier=task.payload.get("carrier") or "",
            tracking_number=task.payload.get("tracking_number") or "",
            tracking_url=task.payload.get("tracking_url") or "",
        )
    elif op == "cancel":
        applied = connector.push_cancellation(
            remote_id=mapping.remote_order_id, reason=task.payload.get("reason") or "Cancelled in Omnishop"
        )
    elif op == "refund":
        order = mapping.order
        if order is None:
            queue.done(task, note="no_order")  # a skipped remote order: nothing of ours was refunded
            return
        if order.status == "cancelled":
            queue.done(task, note="covered_by_cancellation")  # the cancellation refunds on the channel
            return
        currency = task.payload.get("currency") or order.currency
        if currency != connection.channel.currency:
            raise CurrencyMismatch(
                f"A refund in {currency} on a channel that sells in {connection.channel.currency}.",
                field="currency",
            )
        total = Decimal(str(task.payload.get("refunded_total") or "0"))
        amount = total - mapping.refunded_pushed
        if amount <= 0:
            queue.done(task, note="already_applied")
            return
        applied = connector.push_refund(
            remote_id=mapping.remote_order_id,
            amount=amount.quantize(Decimal("0.01")),
            currency=currency,
            reason="Refunded in Omnishop",
            marker=f"omnishop-refund-{order.number}-{total.quantize(Decimal('0.01'))}",
        )
        OrderMapping.objects.filter(pk=mapping.pk).update(refunded_pushed=total)
    else:
        raise ChannelError(f"Unknown operation {op}.", code="unknown_operation")
    queue.done(task, note="" if applied else "already_applied")
    write_log(connection=connection, operation=op, direction="push", started_at=started, ok=1)
