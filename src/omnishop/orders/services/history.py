"""Order history from other systems: a channel's past invoices and credit notes (imported by the data hub)
become completed orders — paid and shipped before Omnishop knew them — and the returns and refunds
recorded against them later.

Written in bulk, tens of thousands of orders per call (COPY on PostgreSQL, executemany on SQLite), because
an import of a year of invoices must not cost a checkout's worth of statements per order. The rules stay the
pipeline's: one line per variant, paid = captured − refunded on the order's payment reference, a return
only against units that were bought and not yet returned, a timeline event for every order and return.
Past orders touch no stock (it was shipped long ago) and are not new sales: the order-paid listeners are not
called; `listeners.on_past_orders_recorded` tells who wants to know (recommendations) after the commit.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

import orjson
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from omnishop.core.bulk import insert_rows
from omnishop.core.lookups import keyed_in
from omnishop.core.money import minor_unit_exponent, quantize
from omnishop.payments import services as payments

from ..errors import LinesNotMovable
from ..models import Order, OrderEvent, OrderLine, ReturnLine, ReturnRequest
from ..states import event
from . import listeners
from .common import new_token

ZERO = Decimal(0)
FOUR = Decimal("0.0001")


class PastLine(NamedTuple):
    variant_id: int
    sku: str
    title: str
    quantity: int
    amount: Decimal  # what the line charged, as invoiced


@dataclass
class PastSale:
    """One invoice of the channel: product lines plus the shipping and fees charged with them."""

    external_id: str
    occurred_at: datetime
    currency: str
    lines: list[PastLine]
    customer_id: int | None = None
    country: str = ""
    shipping: Decimal = ZERO
    fees: Decimal = ZERO


class PastReturnLine(NamedTuple):
    """Units given back (variant set) or money only (variant None: a refunded fee, discount, postage)."""

    variant_id: int | None
    sku: str
    quantity: int  # positive
    amount: Decimal  # positive: what the credit note gave back for this line


@dataclass
class PastReturn:
    """One credit note of the channel. Credit notes rarely name their invoice: lines are matched to the
    same customer's earlier purchases of the same variant, newest first."""

    external_id: str
    occurred_at: datetime
    currency: str
    lines: list[PastReturnLine]
    customer_id: int | None = None


@dataclass
class ReturnOutcome:
    matched: list[int] = field(default_factory=list)  # units matched, per line of the PastReturn
    refunded: list[Decimal] = field(default_factory=list)  # money refunded, per line
    recorded_before: bool = False  # an earlier import already applied this credit note: nothing done


def _number(channel, external_id: str, limit: int = 40) -> str:
    """The channel's code and its own document number ("WEB-536365"), or a hash of both when too long (two
    channels' numbers never collide: channel codes are unique)."""
    number = f"{channel.code.upper()}-{external_id}"
    if len(number) <= limit:
        return number
    return f"{number[: limit - 13]}-{hashlib.blake2b(number.encode(), digest_size=6).hexdigest()}"


def _json(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def record_past_sales(*, channel, sales: list[PastSale], actor: str) -> dict[str, str]:
    """Completed, paid orders for past invoices, in bulk. Returns per invoice: "created", "replaced" (an
    earlier import of it had other lines), "conflict" (it changed after returns were recorded against it:
    left as it was) or "negative_total" (charges below zero cannot be a paid order)."""
    outcome: dict[str, str] = {}
    by_id: dict[str, PastSale] = {}
    for sale in sales:
        by_id[sale.external_id] = sale  # the same invoice twice in one call: the last one stands
    with transaction.atomic():
        existing = dict(
            keyed_in(Order.objects.filter(channel=channel), list(by_id)).values_list("external_id", "pk")
        )
        with_returns = set(
            ReturnRequest.objects.filter(order_id__in=existing.values()).values_list("order_id", flat=True)
        )
        now = timezone.now()
        orders, lines_of, totals, paid, events, replaced = [], {}, {}, [], [], []
        for external_id, sale in by_id.items():
            exponent = minor_unit_exponent(sale.currency)
            merged = [
                PastLine(variant, sku, title, quantity, amount.quantize(exponent, ROUND_HALF_UP))
                for variant, sku, title, quantity, amount in _merge_lines(sale)
            ]
            subtotal = sum([line.amount for line in merged], ZERO)
            shipping = quantize(sale.shipping, sale.currency)
            fees = quantize(sale.fees, sale.currency)
            total = subtotal + shipping + fees
            if total < 0:
                outcome[external_id] = "negative_total"
                continue
            if external_id in existing:
                order_id = existing[external_id]
                if order_id in with_returns:
                    outcome[external_id] = "conflict"
                    continue
                replaced.append((order_id, sale, merged, subtotal, shipping, fees, total))
                outcome[external_id] = "replaced"
                continue
            number = _number(channel, external_id)
            address = {"country": sale.country} if sale.country else None
            orders.append(
                (number, number, channel.pk, sale.customer_id, "", Order.Status.COMPLETED.value, sale.currency,
                 channel.prices_include_tax, _json(address), "", subtotal, shipping, ZERO, fees, total,
                 external_id, "", "", new_token(), sale.occurred_at, now)
            )  # fmt: skip
            lines_of[external_id] = merged
            totals[external_id] = total
            paid.append(
                payments.SettledPayment(
                    reference=number,
                    currency=sale.currency,
                    amount=total,
                    at=sale.occurred_at,
                    customer_id=sale.customer_id,
                )
            )
            outcome[external_id] = "created"
        insert_rows(Order._meta.db_table, _ORDER_COLUMNS, orders)
        ids = _order_ids(channel, list(lines_of))
        line_rows: list[tuple] = []
        for external_id, merged in lines_of.items():
            order_id = ids[external_id]
            line_rows.extend(_line_row(order_id, line, by_id[external_id].currency) for line in merged)
            sale = by_id[external_id]
            events.append(
                (order_id, "imported", actor[:100], f"Past order imported ({len(merged)} lines).", None,
                 _json({"total": str(totals[external_id]), "external_id": external_id}),
                 sale.occurred_at)
            )  # fmt: skip
        insert_rows(OrderLine._meta.db_table, _LINE_COLUMNS, line_rows)
        listeners.past_orders_recorded(
            channel,
            [
                listeners.PastOrder(
                    order_id=ids[external_id],
                    number=_number(channel, external_id),
                    customer_id=by_id[external_id].customer_id,
                    occurred_at=by_id[external_id].occurred_at,
                    lines=tuple([(line[0], line[3]) for line in merged]),  # (variant id, quantity)
                )
                for external_id, merged in lines_of.items()
            ],
        )
        payments.record_settled_payments(channel=channel, payments=paid, label=f"paid on {channel.code}")
        for order_id, sale, merged, subtotal, shipping, fees, total in replaced:
            _replace(order_id, sale, merged, subtotal, shipping, fees, total, actor)
            events.append(
                (order_id, "reimported", actor[:100], "The channel's invoice changed; lines replaced.", None,
                 _json({"total": str(total)}), now)
            )  # fmt: skip
        insert_rows(OrderEvent._meta.db_table, _EVENT_COLUMNS, events)
    return outcome


def _merge_lines(sale: PastSale) -> list[PastLine]:
    """One order line per variant: repeated lines of the same product in an invoice add up."""
    lines = sale.lines
    variants = {line[0] for line in lines}
    if len(variants) == len(lines) and all(line[3] > 0 for line in lines):
        return lines  # each variant once, nothing to drop: most invoices
    merged: dict[int, PastLine] = {}
    for line in lines:
        if line.quantity <= 0:
            continue
        seen = merged.get(line.variant_id)
        if seen is None:
            merged[line.variant_id] = line
        else:
            merged[line.variant_id] = seen._replace(
                title=seen.title or line.title,
                quantity=seen.quantity + line.quantity,
                amount=seen.amount + line.amount,
            )
    return list(merged.values())


def _line_row(order_id: int, line: PastLine, currency: str) -> tuple:
    """An order line of a past invoice; `line.amount` is already rounded to the currency."""
    q = line.quantity
    unit = (line.amount / q).quantize(FOUR)
    return (order_id, line.variant_id, line.sku[:64], line.title[:500], q, q, q, 0, 0, unit, ZERO, line.amount,
            ZERO, line.amount, 0)  # fmt: skip


def move_past_lines(
    *, channel, sku: str, from_variant_id: int, to_variant_id: int, actor: str, message: str
) -> list[int]:
    """The channel's order lines that named `sku` but were booked on another variant (the data hub resolved
    the channel's SKU through an alias it has since taken back) move to `to_variant_id`; each order's timeline
    says so, which brings the dashboard's rollups along. Returns the orders changed."""
    with transaction.atomic(savepoint=False):
        lines = OrderLine.objects.filter(order__channel=channel, sku=sku, variant_id=from_variant_id)
        order_ids = sorted(set(lines.values_list("order_id", flat=True)))
        if not order_ids:
            return []
        if OrderLine.objects.filter(order_id__in=order_ids, variant_id=to_variant_id).exists():
            raise LinesNotMovable(
                f"An order of {channel.code} already has a line of the variant {sku} would move to.",
                field="sku",
            )
        lines.update(variant_id=to_variant_id)
        for order in Order.objects.filter(pk__in=order_ids).select_related("channel"):
            event(
                order,
                "lines_relinked",
                actor=actor,
                message=message,
                before={"sku": sku, "variant": from_variant_id},
                after={"sku": sku, "variant": to_variant_id},
            )
        return order_ids


def _order_ids(channel, external_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(external_ids), 5000):
        chunk = external_ids[start : start + 5000]
        found.update(keyed_in(Order.objects.filter(channel=channel), chunk).values_list("external_id", "pk"))
    return found


def _replace(order_id, sale, merged, subtotal, shipping, fees, total, actor) -> None:
    OrderLine.objects.filter(order_id=order_id).delete()  # `merged` amounts are rounded by the caller
    insert_rows(
        OrderLine._meta.db_table, _LINE_COLUMNS, [_line_row(order_id, x, sale.currency) for x in merged]
    )
    order = Order.objects.get(pk=order_id)
    Order.objects.filter(pk=order_id).update(
        customer_id=sale.customer_id,
        currency=sale.currency,
        subtotal=subtotal,
        shipping_total=shipping,
        fees_total=fees,
        total=total,
        created_at=sale.occurred_at,
        updated_at=timezone.now(),
    )
    payments.restate_settled_payment(reference=order.payment_reference, amount=total, currency=sale.currency)


def record_past_returns(*, channel, returns: list[PastReturn], actor: str) -> dict[str, ReturnOutcome]:
    """Returns and refunds for past credit notes, in bulk, against the same customer's earlier orders of
    this channel (newest purchase first, never more units than were bought and not yet returned, never
    more money than the order's payment still holds). Lines that match nothing are reported, not forced:
    guest credit notes, purchases from before the imported period, more units than were bought."""
    outcomes = {r.external_id: ReturnOutcome([0] * len(r.lines), [ZERO] * len(r.lines)) for r in returns}
    applied = set(
        ReturnRequest.objects.filter(
            order__channel=channel,
            number__in=[_number(channel, f"{r.external_id}-1", limit=50) for r in returns],
        ).values_list("number", flat=True)
    )
    for credit in returns:
        if _number(channel, f"{credit.external_id}-1", limit=50) in applied:
            outcomes[credit.external_id].recorded_before = True
    known = [r for r in returns if r.customer_id is not None and not outcomes[r.external_id].recorded_before]
    if not known:
        return outcomes
    known.sort(key=lambda r: (r.occurred_at, r.external_id))
    customers = {r.customer_id for r in known}
    latest = max(r.occurred_at for r in known)
    with transaction.atomic():
        variants = {line.variant_id for r in known for line in r.lines if line.variant_id is not None}
        lines = _returnable_lines(channel, customers, variants, latest)
        orders = _refundable_orders(channel, customers, latest)
        requests: dict[tuple[str, int], dict] = {}
        for credit in known:
            outcome = outcomes[credit.external_id]
            for index, line in enumerate(credit.lines):
                if line.variant_id is None:
                    _refund_money(credit, index, line, orders, requests, outcome)
                else:
                    _return_units(credit, index, line, lines, orders, requests, outcome)
        _write_returns(channel, requests, orders, actor)
    return outcomes


def _returnable_lines(channel, customers, variants, latest) -> dict[tuple[int, int], list[dict]]:
    """(customer, variant) → that customer's order lines still returnable, newest order first."""
    found: dict[tuple[int, int], list[dict]] = defaultdict(list)
    rows = (
        OrderLine.objects.filter(
            order__channel=channel,
            order__customer_id__in=customers,
            variant_id__in=variants,
            order__created_at__lte=latest,
            order__status__in=[
                Order.Status.COMPLETED,
                Order.Status.DELIVERED,
                Order.Status.FULFILLED,
                Order.Status.PARTIALLY_RETURNED,
            ],
            returned__lt=F("fulfilled"),
        )
        .order_by("-order__created_at", "-order_id", "pk")
        .values_list("pk", "order_id", "order__customer_id", "variant_id", "fulfilled", "returned",
                     "unit_price", "order__created_at")
    )  # fmt: skip
    for pk, order_id, customer, variant, fulfilled, returned, unit, at in rows:
        found[(customer, variant)].append(
            {"id": pk, "order": order_id, "left": fulfilled - returned, "unit": unit, "at": at}
        )
    return found


def _refundable_orders(channel, customers, latest) -> dict[int, dict[str, Any]]:
    """order id → its customer, time, payment reference and money still refundable."""
    orders: dict[int, dict[str, Any]] = {
        pk: {"customer": customer, "at": at, "reference": reference, "currency": currency}
        for pk, customer, at, reference, currency in Order.objects.filter(
            channel=channel, customer_id__in=customers, created_at__lte=latest
        )
        .exclude(status__in=[Order.Status.CANCELLED, Order.Status.MERGED, Order.Status.PENDING_PAYMENT])
        .values_list("pk", "customer_id", "created_at", "payment_reference", "currency")
    }
    held = payments.refundable_by_reference(references={o["reference"] for o in orders.values()})
    for order in orders.values():
        order["money"] = held.get(order["reference"], ZERO)
    return orders


def _request(requests, credit: PastReturn, order_id: int) -> dict:
    key = (credit.external_id, order_id)
    if key not in requests:
        requests[key] = {"credit": credit, "order": order_id, "lines": defaultdict(int), "amount": ZERO}
    return requests[key]


def _return_units(credit, index, line, lines, orders, requests, outcome) -> None:
    wanted, refunded = line.quantity, ZERO
    unit_amount = line.amount / line.quantity if line.quantity else ZERO
    for candidate in lines.get((credit.customer_id, line.variant_id), ()):
        if wanted == 0:
            break
        if candidate["left"] <= 0 or candidate["at"] > credit.occurred_at:
            continue
        order = orders.get(candidate["order"])
        if order is None:
            continue
        take = min(wanted, candidate["left"])
        money = min(quantize(unit_amount * take, credit.currency), order["money"])
        candidate["left"] -= take
        order["money"] -= money
        wanted -= take
        refunded += money
        request = _request(requests, credit, candidate["order"])
        request["lines"][candidate["id"]] += take
        request["amount"] += money
    outcome.matched[index] = line.quantity - wanted
    outcome.refunded[index] = refunded


def _refund_money(credit, index, line, orders, requests, outcome) -> None:
    """Money-only credit lines (fees, discounts, postage): the customer's latest earlier order that still
    holds the money — preferring one this credit note already returns goods from."""
    amount = quantize(line.amount, credit.currency)
    if amount <= 0:
        return
    touched = [order_id for (external_id, order_id) in requests if external_id == credit.external_id]
    candidates = [
        (order_id, order)
        for order_id, order in orders.items()
        if order["customer"] == credit.customer_id and order["at"] <= credit.occurred_at
    ]
    candidates.sort(key=lambda item: (item[0] in touched, item[1]["at"], item[0]), reverse=True)
    for order_id, order in candidates:
        if order["money"] >= amount and order["currency"] == credit.currency:
            order["money"] -= amount
            _request(requests, credit, order_id)["amount"] += amount
            outcome.refunded[index] = amount
            return


def _write_returns(channel, requests, orders, actor) -> None:
    if not requests:
        return
    counters: dict[str, int] = defaultdict(int)
    rows, refunds, events = [], [], []
    numbers: dict[str, tuple[str, int]] = {}
    for (external_id, order_id), request in requests.items():
        counters[external_id] += 1
        number = _number(channel, f"{external_id}-{counters[external_id]}", limit=50)
        credit = request["credit"]
        rows.append(
            (order_id, number, ReturnRequest.Status.RECEIVED.value, ReturnRequest.RefundTo.ORIGINAL.value,
             request["amount"], f"Credit note {external_id} (imported)."[:500], credit.occurred_at,
             credit.occurred_at)
        )  # fmt: skip
        numbers[number] = (external_id, order_id)
        order = orders[order_id]
        if request["amount"] > 0:
            refunds.append(
                payments.SettledRefund(
                    reference=order["reference"],
                    amount=request["amount"],
                    key=f"credit-note:{external_id}",
                    reason=f"Credit note {external_id}",
                    at=credit.occurred_at,
                )
            )
        events.append((order_id, "returned", actor[:100], f"Credit note {external_id} imported.", None,
                       _json({"return": number, "refund": str(request["amount"])}), credit.occurred_at))  # fmt: skip
    insert_rows(ReturnRequest._meta.db_table, _RETURN_COLUMNS, rows)
    ids = dict(ReturnRequest.objects.filter(number__in=list(numbers)).values_list("number", "pk"))
    return_lines: list[tuple] = []
    returned: defaultdict[int, int] = defaultdict(int)
    for number, (external_id, order_id) in numbers.items():
        for line_id, quantity in requests[(external_id, order_id)]["lines"].items():
            return_lines.append((ids[number], line_id, quantity, "imported credit note", ""))
            returned[line_id] += quantity
    insert_rows(ReturnLine._meta.db_table, _RETURN_LINE_COLUMNS, return_lines)
    if returned:
        table = connection.ops.quote_name(OrderLine._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":  # one statement, not one per line
                cursor.execute(
                    f"UPDATE {table} AS line SET returned = line.returned + d.quantity "
                    "FROM unnest(%s::bigint[], %s::integer[]) AS d (id, quantity) WHERE line.id = d.id",
                    [list(returned), list(returned.values())],
                )
            else:
                cursor.executemany(
                    f"UPDATE {table} SET returned = returned + %s WHERE id = %s",
                    [(q, pk) for pk, q in returned.items()],
                )
    payments.record_settled_refunds(refunds=refunds)
    _restate_return_status({order_id for (_, order_id) in requests})
    insert_rows(OrderEvent._meta.db_table, _EVENT_COLUMNS, events)


def _restate_return_status(order_ids: set[int]) -> None:
    """Returned when every shipped unit came back, partly returned when some did."""
    from django.db.models import Sum

    sums = (
        OrderLine.objects.filter(order_id__in=order_ids)
        .values("order_id")
        .annotate(fulfilled=Sum("fulfilled"), returned=Sum("returned"))
    )
    full, partial = [], []
    for row in sums:
        if row["returned"] and row["returned"] >= row["fulfilled"]:
            full.append(row["order_id"])
        elif row["returned"]:
            partial.append(row["order_id"])
    now = timezone.now()
    Order.objects.filter(pk__in=full).update(status=Order.Status.RETURNED, updated_at=now)
    Order.objects.filter(pk__in=partial).exclude(status=Order.Status.RETURNED).update(
        status=Order.Status.PARTIALLY_RETURNED, updated_at=now
    )


_ORDER_COLUMNS = (
    "number", "payment_reference", "channel_id", "customer_id", "email", "status", "currency",
    "prices_include_tax", "shipping_address", "shipping_method_name", "subtotal", "shipping_total",
    "tax_total", "fees_total", "total", "external_id", "checkout_key", "checkout_hash", "tracking_token",
    "created_at", "updated_at",
)  # fmt: skip
_LINE_COLUMNS = (
    "order_id", "variant_id", "sku", "title", "quantity", "allocated", "fulfilled", "returned", "cancelled",
    "unit_price", "tax_rate", "line_net", "line_tax", "line_total", "weight_grams",
)  # fmt: skip
_EVENT_COLUMNS = ("order_id", "kind", "actor", "message", "before", "after", "created_at")
_RETURN_COLUMNS = (
    "order_id", "number", "status", "refund_to", "refund_amount", "note", "created_at", "closed_at",
)  # fmt: skip
_RETURN_LINE_COLUMNS = ("request_id", "order_line_id", "quantity", "reason", "disposition")
