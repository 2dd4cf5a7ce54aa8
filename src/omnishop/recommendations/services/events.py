"""Recording behaviour events: validated per item, written in bulk, append-only, kept for a retention period.

A batch is never all-or-nothing: each event that names an unknown product, a customer the channel does not
know, or a time in the future is rejected with a reason, and the rest is written in one bulk insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from omnishop.catalog.models import Product, Variant
from omnishop.customers import services as customer_services
from omnishop.customers.models import Customer

from ..errors import BatchTooLarge, IdentityRequired
from ..models import Click, Event
from . import performance

MAX_BATCH = 500
MAX_RESULT_IDS = 100
# Clocks of shops and devices drift; a little future is tolerated, more is a bug on the sender's side.
CLOCK_SKEW = timedelta(minutes=5)
# How much each kind of event says about what a customer wants (a purchase is full signal).
EVENT_WEIGHTS = {"purchase": 1.0, "add_to_cart": 0.5, "wishlist": 0.4, "view": 0.15, "search": 0.0}


@dataclass(frozen=True)
class Rejection:
    index: int
    code: str
    message: str
    field: str | None = None


@dataclass
class BatchResult:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)


def retention_days() -> int:
    return int(getattr(settings, "OMNISHOP_RECS_EVENT_RETENTION_DAYS", 400))


def record_events(
    *,
    channel,
    events: Sequence[dict],
    customer: Customer | None = None,
    source: str = "api",
    now: datetime | None = None,
) -> BatchResult:
    """Validate each event, write the good ones in one bulk insert, report the others with reasons.

    `customer` is the signed-in shopper (events are then theirs, whatever the payload says); a channel
    may attribute events to customers it knows, or to an anonymous visitor id linked later.
    """
    if len(events) > MAX_BATCH:
        raise BatchTooLarge(f"At most {MAX_BATCH} events per batch.", field="events", limit=MAX_BATCH)
    now = now or timezone.now()
    oldest = now - timedelta(days=retention_days())
    products, variants, customers = _lookups(channel, events, customer)
    result = BatchResult()
    rows: list[Event] = []
    shown: dict[datetime, dict[str, list[int]]] = {}
    clicks: list[Event] = []
    impressions = 0
    for index, raw in enumerate(events):
        if raw["kind"] == "impression":
            problem, ids = _impression(index, raw, products, now, oldest)
            if ids:
                impressions += 1
                shown.setdefault(raw.get("occurred_at") or now, {}).setdefault(raw["placement"], []).extend(
                    ids
                )
            elif problem:
                result.rejected.append(problem)
            continue
        if raw["kind"] == "click" and performance.placement(raw.get("placement")) is None:
            result.rejected.append(_unknown_placement(index))
            continue
        problem, row = _build(
            index, raw, channel, customer, products, variants, customers, now, oldest, source
        )
        if problem:
            result.rejected.append(problem)
        elif raw["kind"] == "click":
            row.query = raw["placement"]
            clicks.append(row)
        else:
            rows.append(row)
    if rows:
        with transaction.atomic():
            created = Event.objects.bulk_create(rows, batch_size=500)
        result.event_ids = [e.pk for e in created if e.pk is not None]
    # Impressions and clicks are performance counters (services/performance.py), no training signal.
    for when, placements in shown.items():
        performance.record_impressions(channel=channel, shown=placements, now=when)
    for click in clicks:
        if click.product_id is None:  # _build refuses a click without a product
            continue
        performance.record_click(
            channel=channel,
            placement_name=click.query,
            product_id=click.product_id,
            customer_id=click.customer_id,
            anonymous_id=click.anonymous_id,
            now=click.occurred_at,
        )
    result.accepted = len(rows) + len(clicks) + impressions
    return result


def record_search(
    *,
    channel,
    query: str,
    result_ids: Sequence[int],
    customer: Customer | None = None,
    anonymous_id: str = "",
) -> None:
    """The search service's own log line: one INSERT, no look-ups (it found those products itself), and on
    PostgreSQL committed without waiting for the WAL flush — a crash may lose the last fraction of a second
    of search events (analytics only; EVENT_WEIGHTS["search"] is 0), never a search's latency to an fsync."""
    row = Event(
        channel=channel,
        kind=Event.Kind.SEARCH,
        customer_id=customer.pk if customer is not None else None,
        anonymous_id=(anonymous_id or ("" if customer else "-")).strip(),
        query=query.strip()[:500],
        result_ids=list(result_ids)[:MAX_RESULT_IDS],
        source="search",
        occurred_at=timezone.now(),
    )
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        row.save(force_insert=True)  # inside a transaction, the caller's transaction decides how it commits
        return
    # One statement in its own (implicit) transaction; set_config(..., true) lasts for that transaction only.
    fields = [f for f in Event._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(f"%s::{f.db_type(connection)}" for f in fields)  # a SELECT list needs the types
    params = [f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH durability AS (SELECT set_config('synchronous_commit', 'off', true)) "
            f"INSERT INTO {Event._meta.db_table} ({columns}) SELECT {values} FROM durability",
            params,
        )


def _unknown_placement(index: int) -> Rejection:
    return Rejection(index, "unknown_placement", "No such placement (see PLACEMENTS).", "placement")


def _impression(index, raw, products, now, oldest) -> tuple[Rejection | None, list[int]]:
    """An app's impression: the known products it showed in a known placement, at a sane time."""
    if performance.placement(raw.get("placement")) is None:
        return _unknown_placement(index), []
    problem = _time_problem(index, raw.get("occurred_at") or now, now, oldest)
    if problem:
        return problem, []
    wanted = ([raw["product_id"]] if raw.get("product_id") is not None else []) + list(
        raw.get("result_ids") or []
    )
    ids = [i for i in wanted if i in products][:MAX_RESULT_IDS]
    if not ids:
        return Rejection(
            index, "product_required", "An impression lists the products shown.", "result_ids"
        ), []
    return None, ids


def _lookups(channel, events, customer):
    variant_ids = {e["variant_id"] for e in events if e.get("variant_id") is not None}
    variants = dict(Variant.objects.filter(pk__in=variant_ids).values_list("pk", "product_id"))
    # An event may name only its variant: the variant's product must count as known too.
    product_ids = {e["product_id"] for e in events if e.get("product_id") is not None} | set(
        variants.values()
    )
    for e in events:
        product_ids.update(i for i in (e.get("result_ids") or []) if isinstance(i, int))
    products = set(Product.objects.filter(pk__in=product_ids).values_list("pk", flat=True))
    customers: dict[int, int] = {}
    if customer is None:
        wanted = {e["customer_id"] for e in events if e.get("customer_id") is not None}
        if wanted:
            known = customer_services.customers_on_channel(Customer.objects.filter(pk__in=wanted), channel)
            customers = {c.pk: customer_services.active(c).pk for c in known}
    return products, variants, customers


def _time_problem(index: int, occurred_at: datetime, now: datetime, oldest: datetime) -> Rejection | None:
    if timezone.is_naive(occurred_at):
        return Rejection(index, "naive_timestamp", "Give occurred_at with a UTC offset.", "occurred_at")
    if occurred_at > now + CLOCK_SKEW:
        return Rejection(index, "future_timestamp", "occurred_at is in the future.", "occurred_at")
    if occurred_at < oldest:
        return Rejection(index, "too_old", "occurred_at is older than the retention period.", "occurred_at")
    return None


def _build(index, raw, channel, customer, products, variants, customers, now, oldest, source):
    kind = raw["kind"]
    occurred_at = raw.get("occurred_at") or now
    problem = _time_problem(index, occurred_at, now, oldest)
    if problem:
        return problem, None
    product_id = raw.get("product_id")
    variant_id = raw.get("variant_id")
    if variant_id is not None:
        if variant_id not in variants:
            return Rejection(index, "unknown_variant", f"No variant {variant_id}.", "variant_id"), None
        if product_id is not None and variants[variant_id] != product_id:
            return (
                Rejection(index, "variant_mismatch", "The variant is not of that product.", "variant_id"),
                None,
            )
        product_id = variants[variant_id]
    if kind == Event.Kind.SEARCH:
        query = (raw.get("query") or "").strip()
        if not query:
            return Rejection(index, "query_required", "A search event needs its query.", "query"), None
    else:
        query = ""
        if product_id is None:
            return Rejection(
                index, "product_required", f"A {kind} event needs a product.", "product_id"
            ), None
        if product_id not in products:
            return Rejection(index, "unknown_product", f"No product {product_id}.", "product_id"), None
    if customer is not None:
        if raw.get("customer_id") not in (None, customer.pk):
            return (
                Rejection(index, "customer_mismatch", "Shoppers send only their own events.", "customer_id"),
                None,
            )
        customer_id = customer.pk
    elif raw.get("customer_id") is not None:
        customer_id = customers.get(raw["customer_id"])
        if customer_id is None:
            return (
                Rejection(index, "unknown_customer", "No such customer on this channel.", "customer_id"),
                None,
            )
    else:
        customer_id = None
    anonymous_id = (raw.get("anonymous_id") or "").strip()
    if customer_id is None and not anonymous_id:
        return (
            Rejection(index, "identity_required", "Give customer_id or anonymous_id.", "anonymous_id"),
            None,
        )
    result_ids = [i for i in (raw.get("result_ids") or []) if i in products][:MAX_RESULT_IDS]
    row = Event(
        channel=channel,
        kind=kind,
        customer_id=customer_id,
        anonymous_id=anonymous_id,
        product_id=product_id,
        variant_id=variant_id,
        quantity=raw.get("quantity") or 1,
        query=query[:500],
        result_ids=result_ids,
        source=source,
        occurred_at=occurred_at,
    )
    return None, row


def link_anonymous(*, anonymous_id: str, customer: Customer) -> int:
    """Attribute a visitor's anonymous events to the customer they turned out to be (sign-in, merge)."""
    anonymous_id = (anonymous_id or "").strip()
    if not anonymous_id:
        raise IdentityRequired("anonymous_id is required.", field="anonymous_id")
    customer = customer_services.active(customer)
    with transaction.atomic():
        # The visitor's recommendation clicks become theirs too: their next order is attributed to them.
        Click.objects.filter(anonymous_id=anonymous_id, customer_id__isnull=True).update(
            customer_id=customer.pk
        )
        return Event.objects.filter(anonymous_id=anonymous_id, customer_id__isnull=True).update(
            customer_id=customer.pk
        )


def purge_old_events(*, now: datetime | None = None, batch: int = 10_000) -> int:
    """Delete events past the retention period, in batches so the table is never locked for long."""
    cutoff = (now or timezone.now()) - timedelta(days=retention_days())
    total = 0
    while True:
        ids = list(Event.objects.filter(occurred_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            total += Event.objects.filter(pk__in=ids).delete()[0]
