"""Customer operations: recognise a person arriving from any channel, link shoppers' accounts, keep their
profile, and answer the 360° view. The address book (`addresses.py`), preferences and consent
(`preferences.py`), merging (`merging.py`) and duplicate detection (`duplicates.py`) live beside it and
are re-exported here, so callers have one module to import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from .addresses import (
    ADDRESS_FIELDS,
    COUNTRIES,
    AddressNotFound,
    InvalidCountry,
    add_address,
    delete_address,
    get_address,
    update_address,
)
from .duplicates import DuplicatePair, SameCustomer, find_duplicates, mark_distinct
from .errors import CustomerNotFound, IdentifierRequired, MergeRecordNotFound
from .identities import (
    Resolution,
    active,
    ensure_channel_customers,
    resolve_customer,
    resolve_known_email,
)
from .merging import (
    AlreadyMerged,
    MergeAlreadyUndone,
    MergeConflict,
    MergeIntoSelf,
    MergeNotLatest,
    merge_customers,
    undo_merge,
)
from .models import ChannelIdentity, Customer, CustomerPreferences, MergeRecord
from .normalise import InvalidEmail, InvalidPhone, optional_email, optional_phone
from .preferences import (
    CategoryNotFound,
    ChannelNotFound,
    ConsentChange,
    InvalidLanguage,
    preferences_of,
    update_preferences,
)
from .shoppers import customer_for_user, link_verified_email, on_email_verified, update_profile

logger = logging.getLogger(__name__)

__all__ = [
    "ADDRESS_FIELDS",
    "COUNTRIES",
    "AddressNotFound",
    "AlreadyMerged",
    "CategoryNotFound",
    "ChannelNotFound",
    "ConsentChange",
    "CustomerNotFound",
    "DuplicatePair",
    "IdentifierRequired",
    "InvalidCountry",
    "InvalidEmail",
    "InvalidLanguage",
    "InvalidPhone",
    "MergeAlreadyUndone",
    "MergeConflict",
    "MergeIntoSelf",
    "MergeNotLatest",
    "MergeRecordNotFound",
    "Resolution",
    "SameCustomer",
    "active",
    "add_address",
    "customer_for_user",
    "delete_address",
    "ensure_channel_customers",
    "find_customers",
    "find_duplicates",
    "get_address",
    "link_verified_email",
    "mark_distinct",
    "merge_customers",
    "on_email_verified",
    "preferences_of",
    "preview_merge",
    "resolve_customer",
    "resolve_known_email",
    "undo_merge",
    "update_address",
    "update_preferences",
    "update_profile",
]


# --- finding customers ----------------------------------------------------------------------------------


def get_customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise CustomerNotFound(f"No customer {customer_id}.", field="customer_id")
    return customer


def customers_on_channel(queryset: QuerySet, channel) -> QuerySet:
    """Only customers the channel itself knows (an identity on it): a channel never discovers others."""
    return queryset.filter(Exists(ChannelIdentity.objects.filter(customer=OuterRef("pk"), channel=channel)))


def search_customers(
    *,
    q: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    channel=None,
    visible_to_channel=None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    include_merged: bool = False,
) -> QuerySet:
    """The customer list behind the staff screens and the API; every filter is optional."""
    qs = Customer.objects.all()
    if not include_merged:
        qs = qs.filter(merged_into__isnull=True)
    if visible_to_channel is not None:
        qs = customers_on_channel(qs, visible_to_channel)
    if channel is not None:
        qs = customers_on_channel(qs, channel)
    if email:
        value = optional_email(email)
        qs = qs.filter(Q(email=value) | Q(identities__email=value))
    if phone:
        value = optional_phone(phone)
        qs = qs.filter(Q(phone=value) | Q(identities__phone=value))
    if q:
        term = q.strip()
        cond = Q(first_name__icontains=term) | Q(last_name__icontains=term) | Q(email__icontains=term.lower())
        parts = term.split()
        if len(parts) > 1:
            cond |= Q(first_name__icontains=parts[0], last_name__icontains=" ".join(parts[1:]))
        digits = "".join(ch for ch in term if ch.isdigit())
        if len(digits) >= 4:
            cond |= Q(phone__contains=digits)
        qs = qs.filter(cond)
    if created_after:
        qs = qs.filter(created_at__gte=created_after)
    if created_before:
        qs = qs.filter(created_at__lt=created_before)
    return qs.distinct() if (email or phone) else qs


def find_customers(*, term: str = "", channel=None) -> QuerySet:
    """The staff search box: one term matched against names, e-mail, phone and any channel's customer id
    (a marketplace buyer id pasted from an order), active customers only, newest first."""
    qs = Customer.objects.filter(merged_into__isnull=True)
    if channel is not None:
        qs = customers_on_channel(qs, channel)
    term = (term or "").strip()
    if not term:
        return qs
    lowered = term.lower()
    cond = (
        Q(first_name__icontains=term)
        | Q(last_name__icontains=term)
        | Q(email__icontains=lowered)
        | Q(identities__email__icontains=lowered)
        | Q(identities__external_id=term)
    )
    parts = term.split()
    if len(parts) > 1:
        cond |= Q(first_name__icontains=parts[0], last_name__icontains=" ".join(parts[1:]))
    try:
        phone = optional_phone(term)
    except InvalidPhone:
        phone = ""
    if phone:
        cond |= Q(phone=phone) | Q(identities__phone=phone)
    digits = "".join(ch for ch in term if ch.isdigit())
    if len(digits) >= 4:
        cond |= Q(phone__contains=digits) | Q(identities__phone__contains=digits)
    matching = Customer.objects.filter(cond).values("pk")
    return qs.filter(pk__in=matching)


@dataclass(frozen=True)
class MergePreview:
    survivor: Customer
    merged: Customer
    moves: list[tuple[str, int]]  # (what, how many rows) that would move to the survivor
    fills: list[tuple[str, str]]  # (profile field, value) the survivor would take from the merged record


def preview_merge(*, survivor: Customer, merged: Customer) -> MergePreview:
    """What `merge_customers` would do, without doing it: the rows that would move and the blanks of the
    survivor's profile the merged record would fill. The same refusals as the merge itself."""
    from .merging import PROFILE_FIELDS, customer_relations

    if survivor.pk == merged.pk:
        raise MergeIntoSelf(field="merged", customer=survivor.pk)
    for role, customer in (("survivor", survivor), ("merged", merged)):
        if customer.merged_into_id is not None:
            raise AlreadyMerged(
                f"Customer {customer.pk} was already merged into {customer.merged_into_id}.",
                field=role,
                customer=customer.pk,
                merged_into=customer.merged_into_id,
            )
    moves = []
    for field in customer_relations():
        count = field.model._base_manager.filter(**{field.name: merged}).count()
        if count:
            label = (
                "earlier merged records" if field.model is Customer else field.model._meta.verbose_name_plural
            )
            moves.append((str(label), count))
    fills = [
        (name, getattr(merged, name))
        for name in PROFILE_FIELDS
        if not getattr(survivor, name) and getattr(merged, name)
    ]
    return MergePreview(survivor=survivor, merged=merged, moves=moves, fills=fills)


# --- the 360° view --------------------------------------------------------------------------------------


ORDERS_NOT_AVAILABLE = "Orders appear here once the orders context is installed; none is yet."


def customer_360(*, customer: Customer, channel=None) -> dict:
    """Everything we know about one customer across channels. With `channel`, only what that channel may
    see: its own identities and consent, no address book, no other channel's data."""
    identities = customer.identities.select_related("channel")
    consents = customer.consents.select_related("channel")
    merged_ids = list(Customer.objects.filter(merged_into=customer).values_list("pk", flat=True))
    if channel is not None:
        identities = identities.filter(channel=channel)
        consents = consents.filter(channel=channel)
    prefs = CustomerPreferences.objects.filter(customer=customer).first()
    return {
        "customer": customer,
        "identities": list(identities),
        "addresses": [] if channel is not None else list(customer.addresses.all()),
        "preferences": {
            "language": prefs.language if prefs else "",
            "favourite_categories": (
                list(prefs.favourite_categories.values_list("pk", flat=True))
                if prefs and channel is None
                else []
            ),
            "marketing_consent": list(consents),
        },
        "merged_from": merged_ids if channel is None else [],
        "orders": _orders_section(customer=customer, channel=channel),
    }


# Contexts that depend on customers (orders, …) contribute their part of the 360 view by registering a
# provider at start-up (their AppConfig.ready), so customers never imports them.
_360_SECTIONS: dict[str, Callable] = {}


def register_360_section(name: str, provider: Callable) -> None:
    """`provider(customer=, channel=)` returns JSON-ready dicts for the section `name` of the 360 view."""
    _360_SECTIONS[name] = provider


def _orders_section(*, customer: Customer, channel) -> dict:
    provider = _360_SECTIONS.get("orders")
    if provider is None:
        return {"available": False, "note": ORDERS_NOT_AVAILABLE, "items": []}
    return {"available": True, "note": "", "items": list(provider(customer=customer, channel=channel))}


def get_merge_record(merge_id: int) -> MergeRecord:
    record = MergeRecord.objects.filter(pk=merge_id).first()
    if record is None:
        raise MergeRecordNotFound(f"No merge {merge_id}.", field="merge_id")
    return record
