"""Guest orders find their owner: when a shopper proves an e-mail address, the guest orders placed with it
become the shopper's (order history, returns, the customer 360).

Customers announces a proven address through `customers.services.on_email_verified`; orders subscribes in
its AppConfig.ready, so customers never imports orders (docs/ARCHITECTURE.md). Only a *proven* address
claims orders: anyone can sign up with somebody else's e-mail, and an unproven sign-up must not open that
person's orders, addresses or tracking links.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from ..models import Order, OrderEvent

LINKED_EVENT = "customer_linked"


def link_guest_orders(*, customer, emails: Iterable[str]) -> int:
    """Give `customer` every order without a customer whose e-mail (trimmed, lower-case) is one of `emails`,
    which the caller has seen proven. Orders that already belong to someone stay theirs. Idempotent;
    answers how many orders were linked."""
    wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
    if not wanted:
        return 0
    with transaction.atomic():
        guest_orders = (
            Order.objects.select_for_update()
            .filter(customer__isnull=True)
            .exclude(email="")
            .annotate(normalised_email=Lower(Trim("email")))
            .filter(normalised_email__in=wanted)
        )
        found = list(guest_orders.values_list("pk", "email"))
        if not found:
            return 0
        # The customer__isnull guard again: a row claimed in between is not taken over.
        linked = Order.objects.filter(pk__in=[pk for pk, _ in found], customer__isnull=True).update(
            customer=customer, updated_at=timezone.now()
        )
        OrderEvent.objects.bulk_create(
            OrderEvent(
                order_id=pk,
                kind=LINKED_EVENT,
                actor="verified-email",
                message=f"Linked to customer {customer.pk}: the shopper proved {email.strip().lower()}",
                after={"customer": customer.pk},
            )
            for pk, email in found
        )
    return linked
