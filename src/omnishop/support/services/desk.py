"""The agent's desk: what an agent does for a customer from a conversation — refund, store credit, a return,
a new address, a cancel, reshipping a missing item, resending the tracking link — through the orders
context's services (which write the order's timeline) and recorded on the conversation's thread too; the
guard that keeps an unverified sender from acting on an order; answering without talking over a colleague;
and the light presence that says who else has the conversation open."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from omnishop.core.errors import DomainError, PermissionDenied
from omnishop.core.money import quantize
from omnishop.orders import services as orders
from omnishop.orders.models import Order, ReturnRequest
from omnishop.shipping import services as shipping

from ..errors import NoOrderLinked, ReplyCollision, UnverifiedSender
from ..models import CannedReply, Conversation, Message
from . import conversations

T = TypeVar("T")

# The permissions each action needs: the same ones the orders desk and the orders/payments APIs ask for.
CHANGE_ORDER = "orders.change_order"
REFUND = "payments.change_payment"
REFUND_ABOVE_LIMIT = "payments.change_refund"
STORE_CREDIT = "payments.add_storecreditentry"
ANSWER = "support.change_conversation"
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "refund": (ANSWER, REFUND),
    "credit": (ANSWER, STORE_CREDIT),
    "start_return": (ANSWER, CHANGE_ORDER),
    "decide_return": (ANSWER, CHANGE_ORDER),
    "address": (ANSWER, CHANGE_ORDER),
    "cancel": (ANSWER, CHANGE_ORDER),
    "reship": (ANSWER, CHANGE_ORDER),
    "tracking": (ANSWER,),
}

PRESENCE_SECONDS = 60  # "has it open" means: opened or refreshed it within the last minute


def actor_of(user) -> str:
    """How the orders timeline names the agent (the same as the back-office's desks)."""
    return f"staff:{user.pk}"


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _guard(
    conversation: Conversation, user, action: str, *, verified_elsewhere: bool, how: str = ""
) -> Order:
    """The order an action is about, once the agent may do it and the sender may ask for it."""
    if not user.has_perms(PERMISSIONS[action]):
        raise PermissionDenied("Your role does not allow this.", field=None, action=action)
    if conversation.order_id is None:
        raise NoOrderLinked(field="order")
    if not conversation.sender_verified:
        if not verified_elsewhere:
            raise UnverifiedSender(field="verified_elsewhere")
        detail = f" ({how.strip()[:200]})" if how.strip() else ""
        conversations.record_event(
            conversation=conversation,
            text=f"{_name(user)} confirmed the customer's identity another way{detail} before: {action}.",
            author=user,
        )
    return Order.objects.select_related("customer").get(pk=conversation.order_id)


def _act(
    conversation: Conversation,
    user,
    action: str,
    call: Callable[[Order], T],
    describe: Callable[[T, Order], str],
    *,
    verified_elsewhere: bool,
    how: str,
) -> T:
    with transaction.atomic():
        order = _guard(conversation, user, action, verified_elsewhere=verified_elsewhere, how=how)
        result = call(order)
        conversations.record_event(conversation=conversation, text=describe(result, order), author=user)
    return result


def _money(amount: Decimal, currency: str) -> str:
    return f"{quantize(amount, currency)} {currency}"


def refund(
    *,
    conversation: Conversation,
    user,
    amount: Decimal,
    key: str,
    reason: str = "",
    verified_elsewhere: bool = False,
    how: str = "",
) -> list:
    """Money back to the original payment method; the same key refunds once."""
    return _act(
        conversation,
        user,
        "refund",
        lambda order: orders.refund_order(
            order=order, amount=amount, key=key, reason=reason, actor=actor_of(user)
        ),
        lambda _refunds, order_of: (
            f"Refunded {_money(amount, order_of.currency)} on order {order_of.number}"
            f"{': ' + reason if reason else ''}."
        ),
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


def credit(
    *,
    conversation: Conversation,
    user,
    amount: Decimal,
    key: str,
    reason: str = "",
    verified_elsewhere: bool = False,
    how: str = "",
):
    """Store credit instead of money back; the payment stays as it is."""
    return _act(
        conversation,
        user,
        "credit",
        lambda order: orders.credit_order(
            order=order, amount=amount, key=key, reason=reason, actor=actor_of(user)
        ),
        lambda _entry, order_of: (
            f"Gave {_money(amount, order_of.currency)} of store credit for order {order_of.number}."
        ),
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


def start_return(
    *,
    conversation: Conversation,
    user,
    lines: Sequence[tuple[int, int, str]],
    refund_to: str = "original",
    note: str = "",
    verified_elsewhere: bool = False,
    how: str = "",
) -> ReturnRequest:
    """A return on the customer's behalf; the conversation then follows it."""

    def call(order: Order) -> ReturnRequest:
        rma = orders.request_return(
            order=order, lines=list(lines), refund_to=refund_to, note=note, actor=actor_of(user)
        )
        Conversation.objects.filter(pk=conversation.pk).update(return_request=rma)
        conversation.return_request = rma
        return rma

    return _act(
        conversation,
        user,
        "start_return",
        call,
        lambda rma, _order: f"Return {rma.number} requested on order {rma.order.number}.",
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


def decide_return(
    *,
    conversation: Conversation,
    user,
    rma: ReturnRequest,
    approve: bool,
    note: str = "",
    verified_elsewhere: bool = False,
    how: str = "",
) -> ReturnRequest:
    def call(order: Order) -> ReturnRequest:
        if rma.order_id != order.pk:
            raise NoOrderLinked("That return is not of the conversation's order.", field="rma")
        return orders.decide_return(rma=rma, approve=approve, note=note, actor=actor_of(user))

    return _act(
        conversation,
        user,
        "decide_return",
        call,
        lambda r, _order: (
            f"Return {r.number} {'approved' if approve else 'rejected'}{': ' + note if note else ''}."
        ),
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


def change_address(
    *, conversation: Conversation, user, address: dict, verified_elsewhere: bool = False, how: str = ""
) -> Order:
    """A new delivery address while nothing has shipped (the orders context refuses it afterwards)."""
    return _act(
        conversation,
        user,
        "address",
        lambda order: orders.change_address(order=order, address=address, actor=actor_of(user)),
        lambda order, _locked: (
            f"Delivery address of order {order.number} changed to "
            f"{', '.join(v for v in (order.shipping_address or {}).values() if v)}."
        ),
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


def cancel(
    *,
    conversation: Conversation,
    user,
    quantities: dict[int, int] | None = None,
    reason: str = "",
    verified_elsewhere: bool = False,
    how: str = "",
) -> Order:
    """Cancel the order's unshipped units (all, or `quantities` per line); the orders context refunds them."""
    return _act(
        conversation,
        user,
        "cancel",
        lambda order: orders.cancel_order(
            order=order, quantities=quantities, reason=reason, actor=actor_of(user)
        ),
        lambda order, _locked: (
            f"Order {order.number} {'cancelled' if quantities is None else 'partly cancelled'}"
            f"{': ' + reason if reason else ''}."
        ),
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


def reship(
    *,
    conversation: Conversation,
    user,
    quantities: dict[int, int],
    verified_elsewhere: bool = False,
    how: str = "",
) -> Order:
    """Split the missing units off into their own order, which ships on its own (with its own tracking)
    while the rest of the order goes now: `orders.split_order`, the closest real operation the orders
    context has. Units already shipped and lost in transit are not re-sent here (no free replacement order
    exists in the orders context yet)."""
    return _act(
        conversation,
        user,
        "reship",
        lambda order: orders.split_order(order=order, quantities=quantities, actor=actor_of(user)),
        lambda child, _order: f"Split the missing item(s) off into order {child.number}, shipped on its own.",
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


def tracking_links(order: Order) -> list[str]:
    """Each parcel's carrier tracking URL (those whose carrier has a URL template)."""
    view = shipping.tracking_view(token=order.tracking_token)
    return [p["tracking_url"] for p in view.get("parcels", []) if p.get("tracking_url")]


def resend_tracking(
    *,
    conversation: Conversation,
    user,
    tracking_page_url: str,
    verified_elsewhere: bool = False,
    how: str = "",
) -> Message:
    """Send the customer the order's tracking page (and each parcel's carrier link) as a reply."""

    def call(order: Order) -> Message:
        lines = [
            f"Here is where your order {order.number} is: {tracking_page_url}",
            *(f"Parcel: {url}" for url in tracking_links(order)),
        ]
        return conversations.reply(conversation=conversation, author=user, body_text="\n".join(lines))

    return _act(
        conversation,
        user,
        "tracking",
        call,
        lambda _m, order: f"Tracking link of order {order.number} sent to the customer.",
        verified_elsewhere=verified_elsewhere,
        how=how,
    )


# --- Answering without talking over a colleague ---------------------------------------------------------


def arrived_since(*, conversation: Conversation, last_seen: int, user) -> list[Message]:
    """What the agent has not seen: the customer's new messages and other agents' replies and notes."""
    return list(
        conversation.messages.filter(pk__gt=last_seen)
        .filter(
            Q(direction=Message.Direction.INBOUND)
            | (Q(direction__in=[Message.Direction.OUTBOUND, Message.Direction.NOTE]) & ~Q(author=user))
        )
        .select_related("author")
        .order_by("pk")
    )


def answer(
    *,
    conversation: Conversation,
    user,
    body_text: str,
    last_seen: int,
    note: bool = False,
    then: str | None = None,
    send_anyway: bool = False,
) -> Message:
    """Reply or add a note, unless something arrived since the agent's page showed message `last_seen`
    (then ReplyCollision lists it, and the agent sends again with `send_anyway` once they have read it)."""
    if not user.has_perm(ANSWER):
        raise PermissionDenied("Your role does not allow this.")
    if not send_anyway:
        arrived = arrived_since(conversation=conversation, last_seen=last_seen, user=user)
        if arrived:
            raise ReplyCollision(field="body", arrived=[m.pk for m in arrived])
    return conversations.reply(
        conversation=conversation, author=user, body_text=body_text, note=note, then=then
    )


def canned_text(reply: CannedReply, conversation: Conversation, agent=None) -> str:
    """A canned reply's text for this conversation, placeholders filled (the one place the desk fills one)."""
    from . import canned

    return canned.render(reply, conversation, agent)


# --- Presence ---------------------------------------------------------------------------------------------


def _presence_key(conversation: Conversation) -> str:
    return f"support:viewing:{conversation.pk}"


def viewed(*, conversation: Conversation, user, now: datetime | None = None) -> None:
    """Note that `user` has the conversation open now."""
    now = now or timezone.now()
    key = _presence_key(conversation)
    seen: dict[str, Any] = cache.get(key) or {}
    seen[str(user.pk)] = {"name": _name(user), "at": now.isoformat()}
    cache.set(key, seen, timeout=PRESENCE_SECONDS * 5)


def viewers(*, conversation: Conversation, user, now: datetime | None = None) -> list[dict]:
    """Other agents who opened the conversation within the last minute: [{name, at}], latest first."""
    now = now or timezone.now()
    seen: dict[str, Any] = cache.get(_presence_key(conversation)) or {}
    found = []
    for pk, entry in seen.items():
        at = datetime.fromisoformat(entry["at"])
        if pk != str(user.pk) and now - at <= timedelta(seconds=PRESENCE_SECONDS):
            found.append({"name": entry["name"], "at": at})
    return sorted(found, key=lambda e: e["at"], reverse=True)


# --- Finding conversations ------------------------------------------------------------------------------

DUE_SOON_HOURS = 4


def due_at(conversation: Conversation) -> datetime | None:
    """The SLA time the conversation must meet next: its first response, else its resolution."""
    if conversation.status == Conversation.Status.RESOLVED:
        return None
    if conversation.first_response_at is None and conversation.first_response_due_at is not None:
        return conversation.first_response_due_at
    return conversation.resolution_due_at


def sla_state(conversation: Conversation, *, now: datetime, within_hours: int = DUE_SOON_HOURS) -> str:
    """'overdue', 'due_soon' (within the hours) or '' — shown as a worded badge, not a colour."""
    due = due_at(conversation)
    if due is None:
        return ""
    if due <= now:
        return "overdue"
    return "due_soon" if due <= now + timedelta(hours=within_hours) else ""


def find(
    *,
    user,
    box: str = "all",
    status: str = "",
    inbox_id: int | None = None,
    priority: str = "",
    due_within_hours: int | None = None,
    text: str = "",
    now: datetime | None = None,
):
    """The agent's inbox list: only conversations of their inboxes, newest activity first.

    `box` is mine / unassigned / all; `due_within_hours` keeps the conversations whose next SLA time
    (first response, else resolution) falls within that many hours or has passed; `text` finds a customer
    (every word of the name, the e-mail, the phone), an order number, or words of the subject or a message."""
    from omnishop.customers.normalise import normalise_phone

    now = now or timezone.now()
    qs = conversations.visible_to(user).select_related("customer", "order", "assignee", "inbox")
    if box == "mine":
        qs = qs.filter(assignee=user)
    elif box == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    if status:
        qs = qs.filter(status=status)
    if inbox_id:
        qs = qs.filter(inbox_id=inbox_id)
    if priority:
        qs = qs.filter(priority=priority)
    if due_within_hours is not None:
        cutoff = now + timedelta(hours=due_within_hours)
        qs = qs.exclude(status=Conversation.Status.RESOLVED).filter(
            Q(first_response_at__isnull=True, first_response_due_at__lte=cutoff)
            | Q(
                Q(first_response_at__isnull=False) | Q(first_response_due_at__isnull=True),
                resolution_due_at__lte=cutoff,
            )
        )
    text = " ".join(text.split())
    if text:
        match = (
            Q(number__iexact=text)
            | Q(customer__email__iexact=text)
            | Q(order__number__iexact=text)
            | Q(customer__orders__number__iexact=text)
            | Q(subject__icontains=text)
            | Q(messages__body_text__icontains=text)
        )
        name = Q()
        for word in text.split(" "):
            name &= Q(customer__first_name__istartswith=word) | Q(customer__last_name__istartswith=word)
        match |= name
        if any(c.isdigit() for c in text):
            with contextlib.suppress(DomainError):  # not a phone number: the other criteria still apply
                match |= Q(customer__phone=normalise_phone(text))
        ids = Conversation.objects.filter(match).values("pk")
        qs = qs.filter(pk__in=ids)
    return qs.prefetch_related("tags").order_by("-last_message_at", "-pk")


def shipments_of(customer) -> list[dict]:
    """Every parcel of the customer's orders (all channels), newest first, with its carrier tracking link."""
    from omnishop.orders.models import Fulfilment
    from omnishop.shipping.models import Carrier

    parcels = list(
        Fulfilment.objects.filter(order__customer=customer)
        .exclude(status=Fulfilment.Status.CANCELLED)
        .select_related("order")
        .order_by("-created_at", "-pk")[:50]
    )
    carriers = {c.code: c for c in Carrier.objects.filter(code__in={p.carrier for p in parcels if p.carrier})}
    found = []
    for p in parcels:
        carrier = carriers.get(p.carrier)
        url = ""
        if carrier and carrier.tracking_url_template and p.tracking_number:
            url = carrier.tracking_url_template.replace("{tracking_number}", p.tracking_number)
        found.append({"parcel": p, "order": p.order, "tracking_url": url})
    return found
