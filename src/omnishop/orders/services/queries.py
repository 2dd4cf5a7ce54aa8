"""Reading orders: who may see which, the back-office order search and order page, and the orders section of
the customer 360 view."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from omnishop.core.errors import DomainError
from omnishop.core.money import quantize
from omnishop.customers.normalise import normalise_phone
from omnishop.payments.models import Payment, StoreCreditEntry

from ..errors import OrderNotFound
from ..models import Fulfilment, Order, OrderLine, ReturnRequest


def visible_orders(principal) -> QuerySet:
    """Staff see every order, a channel key its channel's, a shopper their own customer's."""
    qs = Order.objects.select_related("channel")
    if principal.kind == "staff":
        return qs
    if principal.kind == "channel":
        return qs.filter(channel=principal.channel)
    return qs.filter(customer=principal.customer)


def orders_for_customer(*, customer, channel=None) -> list[dict]:
    """The customer's orders from every channel (only `channel`'s when given), newest first, JSON-ready."""
    qs = Order.objects.filter(customer=customer).select_related("channel").order_by("-created_at", "-pk")
    if channel is not None:
        qs = qs.filter(channel=channel)
    return [
        {
            "number": o.number,
            "channel": o.channel.code,
            "status": o.status,
            "total": str(quantize(o.total, o.currency)),
            "currency": o.currency,
            "created_at": o.created_at.isoformat().replace("+00:00", "Z"),
        }
        for o in qs[:100]
    ]


def customer_overview(*, customer) -> dict:
    """The back-office customer 360 in one read with a fixed number of queries, whatever the history's size:
    the customers context's view (identities, addresses, consents, preferences, orders of every channel)
    plus returns, payments, store credit and the merges that involved the customer."""
    from django.db.models import Q

    from omnishop.customers.models import MergeRecord
    from omnishop.customers.services import customer_360
    from omnishop.payments.models import Payment, StoreCreditAccount, StoreCreditEntry

    from ..models import ReturnRequest

    view = customer_360(customer=customer)
    view["returns"] = list(
        ReturnRequest.objects.filter(order__customer=customer)
        .select_related("order", "order__channel")
        .order_by("-created_at", "-pk")[:OVERVIEW_LIMIT]
    )
    view["payments"] = list(
        Payment.objects.filter(customer=customer)
        .select_related("channel")
        .order_by("-created_at", "-pk")[:OVERVIEW_LIMIT]
    )
    accounts = list(StoreCreditAccount.objects.filter(customer=customer).order_by("currency"))
    view["credit_accounts"] = accounts
    view["credit_entries"] = (
        list(
            StoreCreditEntry.objects.filter(account__in=accounts)
            .select_related("account")
            .order_by("-created_at", "-pk")[:OVERVIEW_LIMIT]
        )
        if accounts
        else []
    )
    view["merges"] = list(
        MergeRecord.objects.filter(Q(survivor=customer) | Q(merged=customer))
        .select_related("survivor", "merged", "actor")
        .order_by("-created_at", "-pk")[:OVERVIEW_LIMIT]
    )
    return view


OVERVIEW_LIMIT = 50  # per section; the full history is in the admin's lists and the API


def search_orders(
    *,
    text: str = "",
    sku: str = "",
    status: str = "",
    channel: str = "",
    placed_from: date | None = None,
    placed_to: date | None = None,
    within: QuerySet | None = None,
) -> QuerySet:
    """The order search of the back-office and of `GET /orders?q=`, newest first, with channel and customer
    joined (no per-row queries); `within` narrows it to the orders a caller may see.

    `text` finds an order by its number (or the start of it), the channel's external id, the e-mail of the
    order or its customer, the customer's phone, or every word of the customer's name. `placed_to` is
    inclusive (the whole day, in the site's time zone)."""
    base = within if within is not None else Order.objects.all()
    qs = base.select_related("channel", "customer").order_by("-created_at", "-pk")
    text = " ".join(text.split())
    if text:
        match = (
            Q(number__iexact=text)
            | Q(number__istartswith=text)
            | Q(external_id=text)
            | Q(email__iexact=text)
            | Q(customer__email__iexact=text)
        )
        name = Q()
        for word in text.split(" "):
            name &= Q(customer__first_name__istartswith=word) | Q(customer__last_name__istartswith=word)
        match |= name
        if any(c.isdigit() for c in text):
            with contextlib.suppress(DomainError):  # not a phone number: the other criteria still apply
                match |= Q(customer__phone=normalise_phone(text))
        qs = qs.filter(match)
    if sku:
        qs = qs.filter(Exists(OrderLine.objects.filter(order=OuterRef("pk"), sku__iexact=sku.strip())))
    if status:
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel__code=channel)
    zone = timezone.get_current_timezone()
    if placed_from:
        qs = qs.filter(created_at__gte=datetime.combine(placed_from, time.min, tzinfo=zone))
    if placed_to:
        qs = qs.filter(created_at__lt=datetime.combine(placed_to + timedelta(days=1), time.min, tzinfo=zone))
    return qs


def order_for_desk(number: str) -> Order:
    """One order with everything its back-office page shows, fetched in a fixed number of queries."""
    order = (
        Order.objects.select_related("channel", "customer", "parent", "merged_into", "shipping_method")
        .prefetch_related(
            "lines",
            Prefetch(
                "fulfilments",
                queryset=Fulfilment.objects.select_related("location").prefetch_related("lines__order_line"),
            ),
            Prefetch("returns", queryset=ReturnRequest.objects.prefetch_related("lines__order_line")),
            "exceptions",
            "events",
            "children",
        )
        .filter(number=number)
        .first()
    )
    if order is None:
        raise OrderNotFound(f"No order {number}.", field="number")
    return order


def money_of(order: Order) -> dict:
    """What was paid for an order and given back: payments (with their refunds) of its payment reference,
    captured, refunded, refundable, and the store credit issued against the order."""
    payments = list(Payment.objects.filter(reference=order.payment_reference).prefetch_related("refunds"))
    captured = sum((p.captured for p in payments), Decimal(0))
    refunded = sum((p.refunded for p in payments), Decimal(0))
    refundable = sum((p.net for p in payments if p.status == Payment.Status.CAPTURED), Decimal(0))
    credits = list(
        StoreCreditEntry.objects.filter(reference=order.number, kind=StoreCreditEntry.Kind.ISSUE)
        .select_related("account")
        .order_by("created_at", "pk")
    )
    c = order.currency
    return {
        "payments": payments,
        "captured": quantize(captured, c),
        "refunded": quantize(refunded, c),
        "paid": quantize(captured - refunded, c),
        "refundable": quantize(refundable, c),
        "credits": credits,
        "credited": quantize(sum((e.amount for e in credits), Decimal(0)), c),
    }


def mergeable_with(order: Order) -> QuerySet:
    """The customer's other orders that could merge with this one (same channel, not shipped, own payments)."""
    if order.customer_id is None:
        return Order.objects.none()
    return (
        Order.objects.filter(
            customer_id=order.customer_id,
            channel_id=order.channel_id,
            status__in=[Order.Status.PAID, Order.Status.PENDING_PAYMENT],
        )
        .exclude(pk=order.pk)
        .exclude(
            Exists(
                Fulfilment.objects.filter(
                    order=OuterRef("pk"), status__in=[Fulfilment.Status.SHIPPED, Fulfilment.Status.DELIVERED]
                )
            )
        )
        .order_by("-created_at", "-pk")
    )
