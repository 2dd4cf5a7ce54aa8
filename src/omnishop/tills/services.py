"""Store tills, offline first: register a till, take its queued sales, hand it prices and stock by cursor.

A sale uploaded by a till was already paid and handed over, so it becomes a paid, fulfilled order of the
till's POS channel (orders.create_channel_order, stock leaving the till's location). Each sale is its own
transaction and is claimed first by its till-generated UUID (`TillSale.sale_id`, unique): the same sale
again — later, or at the same moment on another connection — returns the first result and writes nothing.
A sale beyond the stock left is never lost: at a location that allows negative stock it is booked anyway
and flagged; elsewhere its order waits in the orders exception queue. Protocol: docs/pos-protocol.md.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast, Replace
from django.utils import timezone

from omnishop.catalog.models import ChannelListing, Variant
from omnishop.channels.models import Channel
from omnishop.core.errors import DomainError
from omnishop.core.money import CurrencyMismatch, parse_amount, quantize
from omnishop.core.pagination import InvalidCursor, decode_cursor, encode_cursor
from omnishop.customers.services import resolve_customer
from omnishop.inventory.errors import InvalidQuantity, UnknownSku
from omnishop.inventory.models import Allocation, ChannelLocation, StockLevel, StockLocation
from omnishop.inventory.services.stock import MAX_QUANTITY
from omnishop.orders import services as orders
from omnishop.orders.models import Order, OrderException, ShippingMethod

from .errors import (
    InvalidSaleId,
    InvalidSaleTime,
    NotAStoreChannel,
    PaymentMismatch,
    SaleIdReused,
    TillLocationInvalid,
    TillNotFound,
    TooManySales,
)
from .models import Till, TillSale

MAX_SALES_PER_BATCH = 100
MAX_PAGE = 1000
PAYMENT_METHODS = ("cash", "card")


# --- tills ----------------------------------------------------------------------------------------------


def register_till(
    *, channel: Channel, device_id: str, location_code: str, name: str = ""
) -> tuple[Till, bool]:
    """A device joins a store channel at one of its locations; the same device again gets the same till."""
    if channel.kind != Channel.Kind.POS_STORE:
        raise NotAStoreChannel(field="channel")
    device_id = (device_id or "").strip()
    if not device_id or len(device_id) > 100:
        raise TillLocationInvalid("device_id is 1 to 100 characters.", field="device_id")
    existing = Till.objects.select_related("channel", "location").filter(channel=channel, device_id=device_id)
    if (till := existing.first()) is not None:
        return till, False
    location = StockLocation.objects.filter(code=location_code, is_active=True).first()
    if (
        location is None
        or not location.serves_pickup
        or not ChannelLocation.objects.filter(channel=channel, location=location).exists()
    ):
        raise TillLocationInvalid(field="location")
    try:
        with transaction.atomic():
            till = Till.objects.create(
                public_id=f"till_{secrets.token_hex(8)}",
                channel=channel,
                location=location,
                device_id=device_id,
                name=name[:200],
            )
            _counter_method(channel, location)
    except IntegrityError:  # the same device registering twice at once
        return existing.get(), False
    return till, True


def _counter_method_code(location: StockLocation) -> str:
    return f"till-{location.code}"[:50]


def _counter_method(channel: Channel, location: StockLocation) -> ShippingMethod:
    """The 'handed over at the till' method: a pick-up at the till's location, so the sale's stock is taken
    there and nowhere else (orders allocate a pick-up order at its pick-up location)."""
    method = ShippingMethod.objects.filter(
        channel=channel, kind=ShippingMethod.Kind.PICKUP, pickup_location=location, is_active=True
    ).first()
    if method is not None:
        return method
    return orders.create_shipping_method(
        channel=channel,
        code=_counter_method_code(location),
        name="Handed over at the till",
        kind="pickup",
        price="0",
        pickup_location=location.code,
    )


def get_till(*, channel: Channel, public_id: str, device_id: str) -> Till:
    """The till `public_id` of this channel, presented by its own device; anything else is not found."""
    till = (
        Till.objects.select_related("channel", "location")
        .filter(channel=channel, public_id=public_id, is_active=True)
        .first()
    )
    if till is None or not secrets.compare_digest(till.device_id.encode(), (device_id or "").encode()):
        raise TillNotFound(field="till")
    return till


# --- sales ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleLine:
    sku: str
    quantity: int
    unit_price: str


@dataclass(frozen=True)
class SalePayment:
    method: str
    amount: str


@dataclass(frozen=True)
class Sale:
    id: str
    sold_at: datetime
    currency: str
    lines: list[SaleLine]
    payments: list[SalePayment]
    customer_email: str = ""
    customer_phone: str = ""


@dataclass
class SaleResult:
    sale_id: str
    outcome: str  # created | exception | duplicate | rejected
    order_number: str | None = None
    exception: str = ""  # negative_stock | out_of_stock
    exception_details: dict = field(default_factory=dict)
    error: DomainError | None = None


def record_sales(*, till: Till, sales: Sequence[Sale], sent_at: datetime | None = None) -> list[SaleResult]:
    """An upload of queued sales: each one recorded on its own, so one bad sale never holds back the rest."""
    if len(sales) > MAX_SALES_PER_BATCH:
        raise TooManySales(f"At most {MAX_SALES_PER_BATCH} sales per batch.", field="sales")
    now = timezone.now()
    skew = round((now - sent_at).total_seconds()) if sent_at is not None else None
    results = []
    for sale in sales:
        try:
            results.append(record_sale(till=till, sale=sale, clock_skew_seconds=skew))
        except DomainError as error:
            results.append(SaleResult(sale_id=str(sale.id), outcome="rejected", error=error))
    Till.objects.filter(pk=till.pk).update(last_upload_at=now)
    return results


def fingerprint(sale: Sale) -> str:
    data = asdict(sale)
    data["sold_at"] = sale.sold_at.isoformat() if isinstance(sale.sold_at, datetime) else sale.sold_at
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def _sale_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise InvalidSaleId(f"'{raw}' is not a UUID.", field="id") from None


def _previous(sale_uuid: uuid.UUID, digest: str) -> SaleResult | None:
    done = TillSale.objects.select_related("order").filter(sale_id=sale_uuid).first()
    if done is None:
        return None
    # A committed sale always has its order (the row is null only inside the transaction that claims it).
    number = done.order.number if done.order is not None else ""
    if done.fingerprint != digest:
        raise SaleIdReused(field="id", order=number)
    return SaleResult(
        sale_id=str(sale_uuid),
        outcome="duplicate",
        order_number=number,
        exception=done.exception,
        exception_details=done.exception_details,
    )


def _check(till: Till, sale: Sale) -> tuple[Decimal, dict[str, Variant]]:
    """Everything that can be refused without writing: time, currency, quantities, prices, SKUs, payments."""
    if not isinstance(sale.sold_at, datetime) or sale.sold_at.tzinfo is None:
        raise InvalidSaleTime(field="sold_at")
    currency = till.channel.currency
    if (sale.currency or "").upper() != currency:
        raise CurrencyMismatch(
            f"This till's channel sells in {currency}, not '{sale.currency}'.",
            field="currency",
            expected=currency,
        )
    if not sale.lines:
        raise InvalidQuantity("A sale has at least one line.", field="lines")
    for i, line in enumerate(sale.lines):
        q = line.quantity
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= MAX_QUANTITY:
            raise InvalidQuantity(
                f"A quantity is a whole number from 1 (a refund is a return, not a sale): {q!r}.",
                field=f"lines[{i}].quantity",
            )
        parse_amount(line.unit_price, currency, field=f"lines[{i}].unit_price")
    variants = {v.sku: v for v in Variant.objects.filter(sku__in=[x.sku for x in sale.lines])}
    for i, line in enumerate(sale.lines):
        if line.sku not in variants:
            raise UnknownSku(f"No variant with SKU '{line.sku}'.", field=f"lines[{i}].sku", sku=line.sku)
    paid = Decimal(0)
    for i, payment in enumerate(sale.payments):
        if payment.method not in PAYMENT_METHODS:
            raise PaymentMismatch(
                f"A payment is one of {', '.join(PAYMENT_METHODS)}.", field=f"payments[{i}].method"
            )
        paid += parse_amount(payment.amount, currency, field=f"payments[{i}].amount")
    return quantize(paid, currency), variants


def _payment_label(till: Till, sale: Sale) -> str:
    parts = [f"{p.method} {p.amount}" for p in sale.payments]
    return f"till {till.public_id}: " + (" + ".join(parts) or "nothing taken")


def record_sale(*, till: Till, sale: Sale, clock_skew_seconds: int | None = None) -> SaleResult:
    """One sale from a till's queue: a paid order handed over at the till, exactly once per sale id."""
    sale_uuid = _sale_uuid(sale.id)
    digest = fingerprint(sale)
    done = _previous(sale_uuid, digest)
    if done is not None:
        return done
    paid, _ = _check(till, sale)
    actor = f"till:{till.public_id}"
    try:
        with transaction.atomic():
            # The claim comes first: a twin upload on another connection waits on this row's unique index
            # until we commit, then fails and answers as a duplicate. Nothing else is written before it.
            claim = TillSale.objects.create(
                sale_id=sale_uuid,
                till=till,
                outcome=TillSale.Outcome.CREATED,
                fingerprint=digest,
                sold_at=sale.sold_at.astimezone(UTC),
                clock_skew_seconds=clock_skew_seconds,
            )
            customer, email = None, ""
            if sale.customer_email or sale.customer_phone:
                customer = resolve_customer(
                    channel=till.channel,
                    email=sale.customer_email or None,
                    phone=sale.customer_phone or None,
                    seen_at=sale.sold_at,
                ).customer
                email = customer.email
            method = _counter_method(till.channel, till.location)
            order, _ = orders.create_channel_order(
                channel=till.channel,
                lines=[
                    orders.ChannelLine(sku=x.sku, quantity=x.quantity, unit_price=x.unit_price)
                    for x in sale.lines
                ],
                external_id=f"till:{sale_uuid}",
                customer=customer,
                email=email,
                shipping_method=method.code,
                shipping_total="0",
                paid_amount=str(paid),
                payment_label=_payment_label(till, sale)[:200],
                handed_over=True,
                actor=actor,
            )
            if paid != quantize(order.total, order.currency):
                raise PaymentMismatch(
                    f"The payments add up to {paid}; the sale's total is "
                    f"{quantize(order.total, order.currency)}.",
                    field="payments",
                    paid=str(paid),
                    total=str(quantize(order.total, order.currency)),
                )
            kind, details = _stock_exception(till, order)
            claim.order = order
            claim.exception = kind
            claim.exception_details = details
            claim.outcome = TillSale.Outcome.EXCEPTION if kind else TillSale.Outcome.CREATED
            claim.save(update_fields=["order", "exception", "exception_details", "outcome"])
    except IntegrityError:
        done = _previous(sale_uuid, digest)
        if done is None:
            raise
        return done
    return SaleResult(
        sale_id=str(sale_uuid),
        outcome=claim.outcome,
        order_number=order.number,
        exception=kind,
        exception_details=details,
    )


def _stock_exception(till: Till, order: Order) -> tuple[str, dict]:
    """Whether the sale went beyond the stock the till's location had, and what that left behind."""
    if order.status == Order.Status.ON_HOLD:
        item = OrderException.objects.filter(order=order).order_by("-pk").first()
        return TillSale.ExceptionKind.OUT_OF_STOCK, {
            "order_exception": item.pk if item else None,
            "reason": item.reason if item else "",
            "missing": (item.details or {}).get("missing", []) if item else [],
        }
    beyond = Allocation.objects.filter(
        channel=till.channel, order_reference=order.number, strategy="beyond_stock"
    ).exists()
    if not beyond:
        return "", {}
    skus = list(order.lines.values_list("sku", flat=True))
    levels = StockLevel.objects.filter(location=till.location, variant__sku__in=skus).values_list(
        "variant__sku", "on_hand"
    )
    return TillSale.ExceptionKind.NEGATIVE_STOCK, {
        "location": till.location.code,
        "on_hand_after": {sku: on_hand for sku, on_hand in sorted(levels) if on_hand < 0},
    }


def acknowledge_exceptions(*, sales: QuerySet[TillSale]) -> int:
    """Staff saw the flagged sales (stock counted, corrected or re-ordered)."""
    return (
        sales.filter(acknowledged_at__isnull=True)
        .exclude(exception="")
        .update(acknowledged_at=timezone.now())
    )


# --- prices and stock by cursor ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    items: list
    next_cursor: str
    has_more: bool


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _changes(qs: QuerySet, *, kind: str, till: Till, cursor: str | None, limit: int) -> Changes:
    """Rows changed after `cursor`, oldest first by (updated_at, id), so rows sharing a timestamp are never
    skipped; no cursor = from the beginning (a full snapshot). Rows younger than the settle window wait
    for the next call, so a write still committing with an earlier timestamp cannot be passed over."""
    limit = max(1, min(int(limit), MAX_PAGE))
    ordering = f"tills.{kind}.{till.public_id}"
    horizon = timezone.now() - timedelta(seconds=getattr(settings, "OMNISHOP_TILL_CURSOR_SETTLE_SECONDS", 5))
    qs = qs.filter(updated_at__lte=horizon)
    # SQLite keeps times as text, and rows written by raw SQL carry a "+00:00" suffix the ORM's do not: on
    # SQLite compare and sort on the text without it, or rows sharing a timestamp compare unequal.
    at: F | Replace = F("updated_at")
    if connection.vendor == "sqlite":
        at = Replace(Cast("updated_at", CharField()), Value("+00:00"), Value(""), output_field=CharField())
    qs = qs.annotate(cursor_at=at)
    if cursor:
        after, pk = decode_cursor(cursor, ordering)
        if not isinstance(after, datetime) or after.tzinfo is None or not isinstance(pk, int):
            raise InvalidCursor("The cursor is not one this API issued.", field="cursor")
        if connection.vendor == "sqlite":
            after = Value(str(after.astimezone(UTC).replace(tzinfo=None)))
        qs = qs.filter(Q(cursor_at__gt=after) | Q(cursor_at=after, pk__gt=pk))
    rows = list(qs.order_by("cursor_at", "pk")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        next_cursor = encode_cursor(ordering, rows[-1].updated_at, rows[-1].pk)
    else:
        next_cursor = cursor or encode_cursor(ordering, _EPOCH, 0)
    return Changes(items=rows, next_cursor=next_cursor, has_more=has_more)


def price_changes(*, till: Till, cursor: str | None = None, limit: int = 500) -> Changes:
    """The till's channel's price list: every listing changed since the cursor (unpublished ones too, so the
    till drops them)."""
    qs = ChannelListing.objects.filter(channel=till.channel).select_related("variant", "variant__product")
    return _changes(qs, kind="prices", till=till, cursor=cursor, limit=limit)


def stock_changes(*, till: Till, cursor: str | None = None, limit: int = 500) -> Changes:
    """Stock at the till's location: every level changed since the cursor."""
    qs = StockLevel.objects.filter(location=till.location).select_related("variant")
    return _changes(qs, kind="stock", till=till, cursor=cursor, limit=limit)
