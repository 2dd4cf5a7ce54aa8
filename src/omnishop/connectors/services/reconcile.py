"""Nightly reconcile: what the channel shows against what it should show, and the repairs.

For every mapped SKU of a connection: the channel's quantity against our available-to-promise for the
channel, its price and publication against our listing. Each difference enqueues the push that repairs it
(the stock push's compare-and-set starts from the figure the channel showed), and the report keeps the
counts and the first differences for the back-office.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from omnishop.catalog.models import ChannelListing
from omnishop.inventory import services as inventory

from ..base import connector_for
from ..errors import ChannelError
from ..models import ChannelConnection, ListingMapping, ReconcileReport
from .logs import write_log
from .queue import enqueue
from .worker import ref_of

MAX_DIFFERENCES = 50
CHUNK = 200


def reconcile(*, connection: ChannelConnection) -> ReconcileReport:
    started = timezone.now()
    report = ReconcileReport.objects.create(connection=connection, started_at=started)
    connector = connector_for(connection)
    channel = connection.channel
    differences: list[dict] = []
    counts = {"checked": 0, "stock_drift": 0, "price_drift": 0, "missing": 0, "repairs_enqueued": 0}

    def note(diff: dict) -> None:
        if len(differences) < MAX_DIFFERENCES:
            differences.append(diff)

    mappings = list(ListingMapping.objects.filter(connection=connection).order_by("pk"))
    try:
        for i in range(0, len(mappings), CHUNK):
            chunk = mappings[i : i + CHUNK]
            variant_ids = [m.variant_id for m in chunk]
            should_have = inventory.availability_for(channel=channel, variant_ids=variant_ids)
            listings = {
                x.variant_id: x
                for x in ChannelListing.objects.filter(channel=channel, variant_id__in=variant_ids)
            }
            shows = connector.read_listings([ref_of(m) for m in chunk])
            for m in chunk:
                counts["checked"] += 1
                view = shows.get(m.sku)
                listing = listings.get(m.variant_id)
                if view is None:
                    counts["missing"] += 1
                    note({"sku": m.sku, "kind": "missing"})
                    continue
                expected = should_have.get(m.variant_id, 0)
                if view.quantity != expected:
                    counts["stock_drift"] += 1
                    note({"sku": m.sku, "kind": "stock", "channel": view.quantity, "expected": expected})
                    # The compare-and-set of the repair starts from what the channel showed.
                    ListingMapping.objects.filter(pk=m.pk).update(last_quantity=view.quantity)
                    enqueue(
                        connection=connection, operation="stock", key=m.sku, payload={"reason": "reconcile"}
                    )
                    counts["repairs_enqueued"] += 1
                if listing is None:
                    continue
                price = Decimal(listing.price).quantize(Decimal("0.01"))
                published = listing.is_published
                if view.price != price or (view.published is not None and view.published != published):
                    counts["price_drift"] += 1
                    note(
                        {
                            "sku": m.sku,
                            "kind": "listing",
                            "channel": {"price": str(view.price), "published": view.published},
                            "expected": {"price": str(price), "published": published},
                        }
                    )
                    enqueue(
                        connection=connection, operation="listing", key=m.sku, payload={"reason": "reconcile"}
                    )
                    counts["repairs_enqueued"] += 1
    except ChannelError as exc:
        _finish(report, counts, differences, status="failed", error=exc.message)
        write_log(
            connection=connection,
            operation="reconcile",
            direction="pull",
            started_at=started,
            ok=counts["checked"],
            failed=1,
            error_code=exc.code,
            error_message=exc.message,
        )
        return report
    _finish(report, counts, differences, status="ok")
    write_log(
        connection=connection,
        operation="reconcile",
        direction="pull",
        started_at=started,
        ok=counts["checked"],
        failed=counts["stock_drift"] + counts["price_drift"] + counts["missing"],
        status="ok",
    )
    return report


def _finish(
    report: ReconcileReport, counts: dict, differences: list, *, status: str, error: str = ""
) -> None:
    for k, v in counts.items():
        setattr(report, k, v)
    report.differences = differences
    report.status = status
    report.error_message = error
    report.finished_at = timezone.now()
    report.save()


def reconcile_all() -> int:
    """The nightly job: every active connection, one after the other; a broken channel fails only its own."""
    n = 0
    for connection in ChannelConnection.objects.filter(is_active=True).select_related("channel"):
        reconcile(connection=connection)
        n += 1
    return n
