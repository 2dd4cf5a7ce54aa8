"""Which conversation a new message belongs to, and which order it is about.

One thread per customer problem across channels: a message joins the conversation its reply token or its
e-mail headers name, else the customer's conversation that is still open (a call about an open e-mail
conversation), else it starts a new one."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from omnishop.core import rows
from omnishop.orders.models import Order, ReturnRequest

from ..models import Conversation, Message

# Order numbers are a channel prefix (up to 6 characters) and 10 base-32 characters (orders.services.common).
ORDER_NUMBER = re.compile(r"\b([A-Z0-9][A-Z0-9-]{0,5}-[A-HJ-NP-Z2-9]{10})\b", re.IGNORECASE)
# An open conversation older than this no longer collects new messages of its customer by itself.
JOIN_WINDOW = timedelta(days=14)
OPEN_ORDER = [
    Order.Status.PENDING_PAYMENT,
    Order.Status.PAID,
    Order.Status.ON_HOLD,
    Order.Status.PARTIALLY_FULFILLED,
    Order.Status.FULFILLED,
]


def message_ids(*headers: str) -> list[str]:
    """The Message-IDs named in In-Reply-To / References headers, without angle brackets."""
    found: list[str] = []
    for header in headers:
        for raw in re.findall(r"<([^<>\s]+)>", header or "") or (header or "").split():
            if raw and raw not in found:
                found.append(raw.strip("<>"))
    return found


def order_numbers_in(*texts: str) -> list[str]:
    seen: list[str] = []
    for text in texts:
        for match in ORDER_NUMBER.findall(text or ""):
            number = match.upper()
            if number not in seen:
                seen.append(number)
    return seen


def find_conversation(
    *,
    customer,
    reply_token: str = "",
    in_reply_to: str = "",
    references: str = "",
    order_numbers: Iterable[str] = (),
    lock: bool = False,
) -> Conversation | None:
    """`lock`: the conversation comes locked for update (inside the caller's transaction)."""
    conversations = Conversation.objects.all()
    if lock:
        conversations = conversations.select_for_update(of=("self",))  # not the joined message or order
    if reply_token:
        by_token = conversations.filter(reply_token=reply_token).first()
        if by_token is not None:
            return by_token
    ids = message_ids(in_reply_to, references)
    if ids:
        # The conversation of the latest of our messages the headers name.
        earlier = _conversation_of_messages(ids + [f"<{i}>" for i in ids], lock=lock)
        if earlier is not None:
            return earlier
    candidate = _open_conversation_of(customer.pk, timezone.now() - JOIN_WINDOW, lock=lock)
    if candidate is None:
        return None
    numbers = list(order_numbers)
    if numbers and candidate.order is not None and candidate.order.number not in numbers:
        return None  # a message about another order is another problem
    return candidate


# The two reads every inbound message makes are written by hand (core.rows): compiling them as querysets
# cost more CPU than PostgreSQL's answer. Each does what the queryset in its docstring does.


def _conversation_of_messages(external_ids: list[str], *, lock: bool) -> Conversation | None:
    """Conversation.objects.filter(messages__external_id__in=…, messages__via="email")
    .order_by("-messages__created_at").first(), locked `of=("self",)` when asked."""
    marks = ", ".join(["%s"] * len(external_ids))
    sql = (
        f"SELECT {rows.columns(Conversation, 'c')} FROM support_conversation c"
        " JOIN support_message m ON m.conversation_id = c.id"
        f" WHERE m.external_id IN ({marks}) AND m.via = %s ORDER BY m.created_at DESC LIMIT 1"
    ) + (rows.lock_suffix("c") if lock else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*external_ids, Message.Via.EMAIL])
        row = cursor.fetchone()
    return None if row is None else rows.instance(Conversation, row)


def _open_conversation_of(customer_id: int, since, *, lock: bool) -> Conversation | None:
    """Conversation.objects.filter(customer=…, last_message_at__gte=since).select_related("order")
    .exclude(status=RESOLVED).order_by("-last_message_at", "-pk").first(), locked `of=("self",)` when asked."""
    sql = (
        f"SELECT {rows.columns(Conversation, 'c')}, {rows.columns(Order, 'o')} FROM support_conversation c"
        " LEFT JOIN orders_order o ON o.id = c.order_id"
        " WHERE c.customer_id = %s AND c.last_message_at >= %s AND NOT (c.status = %s)"
        " ORDER BY c.last_message_at DESC, c.id DESC LIMIT 1"
    ) + (rows.lock_suffix("c") if lock else "")
    params = [customer_id, connection.ops.adapt_datetimefield_value(since), Conversation.Status.RESOLVED]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    conversation = rows.instance(Conversation, row)
    order = rows.instance(Order, row, rows.width(Conversation)) if conversation.order_id is not None else None
    Conversation.order.field.set_cached_value(conversation, order)
    return conversation


def order_for(*, customer, email: str, numbers: Iterable[str]) -> Order | None:
    """The order a message is about: one it names that belongs to the sender, else the customer's only open one.

    An order number of someone else's order is never linked (a stranger must not reach it by naming it)."""
    numbers = list(numbers)
    if numbers:
        # Order.objects.filter(number__in=numbers).order_by("-created_at"), written by hand (core.rows)
        named = _orders(f"number IN ({', '.join(['%s'] * len(numbers))}) ORDER BY created_at DESC", numbers)
        for order in named:
            if order.customer_id == customer.pk or (email and order.email.lower() == email.lower()):
                return order
    # Order.objects.filter(customer=customer, status__in=OPEN_ORDER).order_by("-created_at")[:2]
    marks = ", ".join(["%s"] * len(OPEN_ORDER))
    open_orders = _orders(
        f"customer_id = %s AND status IN ({marks}) ORDER BY created_at DESC LIMIT 2",
        [customer.pk, *OPEN_ORDER],
    )
    return open_orders[0] if len(open_orders) == 1 else None


def _orders(where: str, params: list) -> list[Order]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rows.columns(Order, 'o')} FROM orders_order o WHERE {where}", params)
        return [rows.instance(Order, row) for row in cursor.fetchall()]


def open_return_of(order: Order) -> ReturnRequest | None:
    returns = list(
        ReturnRequest.objects.filter(
            order=order, status__in=[ReturnRequest.Status.REQUESTED, ReturnRequest.Status.APPROVED]
        )[:2]
    )
    return returns[0] if len(returns) == 1 else None
