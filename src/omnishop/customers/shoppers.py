"""Shoppers with accounts: the customer behind a signed-in user, verified e-mails that bring guest orders
along, and the profile a shopper edits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import Q, QuerySet

from .identities import active, fill_blanks
from .merging import (
    MergeConflict,
    merge_customers,
)
from .models import Customer
from .normalise import InvalidEmail, optional_email, optional_phone

logger = logging.getLogger(__name__)


def customer_for_user(*, user) -> Customer:
    """The signed-in user's customer record, created on first use. A guest customer with the user's
    *verified* e-mail becomes theirs; an unverified address never claims someone's order history."""
    existing = Customer.objects.filter(user=user).first()
    if existing is not None:
        return active(existing)
    with transaction.atomic():
        existing = Customer.objects.select_for_update().filter(user=user).first()
        if existing is not None:
            return active(existing)
        email = _safe_email(user.email)
        guest = None
        for verified in _verified_emails(user):
            guest = _oldest_guest_with_email(verified)
            if guest is not None:
                break
        if guest is not None:
            guest.user = user
            guest.save(update_fields=["user", "updated_at"])
            fill_blanks(guest, first_name=user.first_name, last_name=user.last_name, email=email)
            customer = guest
        else:
            customer = Customer.objects.create(
                user=user, email=email, first_name=user.first_name, last_name=user.last_name
            )
        _merge_other_guests(customer=customer, user=user)
        _announce_verified_emails(customer=customer, emails=_verified_emails(user))
        return customer


def link_verified_email(*, user, email: str) -> Customer:
    """Called when a shopper proves an e-mail address: guest customers with that address are merged into
    the shopper's customer (each merge recorded and undoable)."""
    customer = customer_for_user(user=user)
    email = _safe_email(email)
    with transaction.atomic():
        _merge_other_guests(customer=customer, user=user, emails=[email])
        customer.refresh_from_db()
        # Records other contexts keep by e-mail (guest orders) follow only an address the account has
        # proven: the caller says this one is, and allauth's own table must agree.
        _announce_verified_emails(customer=customer, emails=[e for e in _verified_emails(user) if e == email])
        # The account's proven primary address is the profile's e-mail too.
        if email and email == _safe_email(user.email) and customer.email != email:
            customer.email = email
            customer.save(update_fields=["email", "updated_at"])
    return customer


def _merge_other_guests(*, customer: Customer, user, emails: Iterable[str] | None = None) -> None:
    for email in emails if emails is not None else _verified_emails(user):
        if not email:
            continue
        for guest in _guests_with_email(email).exclude(pk=customer.pk):
            try:
                merge_customers(
                    survivor=customer,
                    merged=guest,
                    actor=None,
                    actor_label="verified-email",
                    reason=f"Shopper verified {email}",
                    score=1.0,
                )
            except MergeConflict as exc:
                # Proving an e-mail must not fail because two records cannot be combined automatically
                # (e.g. two store-credit balances in one currency); staff see the pair in find_duplicates.
                logger.warning("Guest customer %s not merged into %s: %s", guest.pk, customer.pk, exc.message)
            customer.refresh_from_db()


# Contexts that keep records by e-mail without a customer (orders: guest checkouts) subscribe at start-up
# (their AppConfig.ready) to hear which addresses a shopper has proven, so customers never imports them.
_VERIFIED_EMAIL_LISTENERS: list[Callable] = []


def on_email_verified(listener: Callable) -> None:
    """`listener(customer=, emails=)` runs inside the transaction that links the shopper's proven e-mail
    addresses (normalised) to `customer`; a failure rolls the linking back."""
    if listener not in _VERIFIED_EMAIL_LISTENERS:
        _VERIFIED_EMAIL_LISTENERS.append(listener)


def _announce_verified_emails(*, customer: Customer, emails: list[str]) -> None:
    emails = [e for e in emails if e]
    if not emails:
        return
    for listener in _VERIFIED_EMAIL_LISTENERS:
        listener(customer=customer, emails=emails)


def _guests_with_email(email: str) -> QuerySet:
    return (
        Customer.objects.filter(user__isnull=True, merged_into__isnull=True)
        .filter(Q(email=email) | Q(identities__email=email))
        .distinct()
        .order_by("created_at", "pk")
    )


def _oldest_guest_with_email(email: str) -> Customer | None:
    return _guests_with_email(email).first()


def _verified_emails(user) -> list[str]:
    from allauth.account.models import EmailAddress

    rows = EmailAddress.objects.filter(user=user, verified=True).order_by("-primary", "pk")
    return [e for e in (_safe_email(row.email) for row in rows) if e]


def _safe_email(raw: str | None) -> str:
    try:
        return optional_email(raw)
    except InvalidEmail:
        return ""


def update_profile(
    *,
    customer: Customer,
    first_name: str | None = None,
    last_name: str | None = None,
    phone: str | None = None,
) -> Customer:
    """Change the shopper's name or phone; the e-mail changes only through the account (it must be proven)."""
    if first_name is not None:
        customer.first_name = first_name.strip()
    if last_name is not None:
        customer.last_name = last_name.strip()
    if phone is not None:
        customer.phone = optional_phone(phone)
    customer.save()
    return customer
