"""Reading orders: who may see which, and the orders section of the customer 360 view."""

from __future__ import annotations

from django.db.models import QuerySet

from omnishop.core.money import quantize

from ..models import Order


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
