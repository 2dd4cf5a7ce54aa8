"""Customer operations: recognise a person arriving from any channel, link shoppers' accounts, keep their
profile, and answer the 360° view. The address book (`addresses.py`), preferences and consent
(`preferences.py`), merging (`merging.py`) and duplicate detection (`duplicates.py`) live beside it and
are re-exported here, so callers have one module to import.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from omnishop.core.errors import NotFound, ValidationFailed

from . import events
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

logger = logging.getLogger(__name__)

__all__ = [
    "ADDRESS_FIELDS",
    "COUNTRIES",
    "AddressNotFound",
    "AlreadyMerged",
    "CategoryNotFound",
    "ChannelNotFound",
    "ConsentChange",
    "DuplicatePair",
    "InvalidCountry",
    "InvalidEmail",
    "InvalidLanguage",
    "InvalidPhone",
    "MergeAlreadyUndone",
    "MergeConflict",
    "MergeIntoSelf",
    "MergeNotLatest",
    "SameCustomer",
    "add_address",
    "delete_address",
    "find_customers",
    "find_duplicates",
    "get_address",
    "mark_distinct",
    "merge_customers",
    "preferences_of",
    "preview_merge",
    "undo_merge",
    "update_address",
    "update_preferences",
]


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class MergeRecordNotFound(NotFound):
    code = "merge_not_found"


class IdentifierRequired(ValidationFailed):
    code = "identifier_required"


# --- finding customers ----------------------------------------------------------------------------------


def active(customer: Customer) -> Customer:
    """The record that now stands for `customer`: itself, or the survivor it was merged into."""
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


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


# --- recognising a person -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    customer: Customer
    identity: ChannelIdentity
    created: bool  # a new customer was created


def ensure_channel_customers(
    *, channel, seen: dict[str, tuple[datetime, datetime]]
) -> tuple[dict[str, int], int]:
    """Many of a channel's customer ids at once (an import of its orders): the customer each id belongs to,
    creating an id-only customer plus its channel identity for ids never seen — what `resolve_customer`
    does for one id, in a few statements for thousands. `seen` maps each id to when it was first and last
    seen. Returns (id → customer id, how many were created). If another writer takes one of the new ids
    meanwhile, the new ones go through `resolve_customer` one by one."""
    found: dict[str, int] = {}
    refs = list(seen)
    for start in range(0, len(refs), 5000):
        found.update(
            ChannelIdentity.objects.filter(
                channel=channel, external_id__in=refs[start : start + 5000]
            ).values_list("external_id", "customer_id")
        )
    new = [ref for ref in refs if ref not in found]
    if not new:
        return found, 0
    try:
        with transaction.atomic():
            ids = _insert_blank_customers(len(new))
            events.created_in_bulk(ids)
            _insert_identities(channel, new, ids, seen)
    except IntegrityError:
        created = 0
        for ref in new:
            resolution = resolve_customer(channel=channel, external_id=ref, seen_at=seen[ref][0])
            found[ref] = resolution.customer.pk
            created += resolution.created
        return found, created
    found.update(zip(new, ids, strict=True))
    return found, len(new)


def _insert_blank_customers(count: int) -> list[int]:
    """`count` id-only customers in one INSERT … RETURNING per 5,000 (ids in insertion order, as Django's
    own bulk_create relies on), without building a model instance per row."""
    table = connection.ops.quote_name(Customer._meta.db_table)
    now = timezone.now()
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, count, 5000):
            n = min(5000, count - start)
            values = ", ".join(["('', '', '', '', %s, %s)"] * n)
            cursor.execute(
                f"INSERT INTO {table} (first_name, last_name, email, phone, created_at, updated_at) "
                f"VALUES {values} RETURNING id",
                [now, now] * n,
            )
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


def _insert_identities(channel, refs: list[str], ids: list[int], seen) -> None:
    from omnishop.core.bulk import insert_rows

    insert_rows(
        ChannelIdentity._meta.db_table,
        ("customer_id", "channel_id", "external_id", "email", "phone", "first_seen_at", "last_seen_at"),
        [
            (cid, channel.pk, ref, "", "", seen[ref][0], seen[ref][1])
            for ref, cid in zip(refs, ids, strict=True)
        ],
    )


def resolve_customer(
    *,
    channel,
    external_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    first_name: str = "",
    last_name: str = "",
    seen_at: datetime | None = None,
) -> Resolution:
    """Attach activity from a channel (a guest checkout, an import row, an event) to the one customer it
    belongs to: by the channel's own id, else by normalised e-mail, else phone; a stranger becomes a new
    customer. The channel identity is recorded or refreshed either way."""
    external_id = (external_id or "").strip()
    email = optional_email(email)
    phone = optional_phone(phone, region=channel.country)
    if not (external_id or email or phone):
        raise IdentifierRequired("Give at least one of external_id, email or phone.", field="email")
    now = seen_at or timezone.now()
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    try:
        with transaction.atomic():
            return _resolve(channel, external_id, email, phone, first_name, last_name, now)
    except IntegrityError:
        # Another request recorded the same (channel, external_id) a moment ago: it is ours to reuse now.
        with transaction.atomic():
            return _resolve(channel, external_id, email, phone, first_name, last_name, now)


def _lock_identifiers(*values: str) -> None:
    """Two checkouts by the same new shopper at the same moment must not create two customers: on
    PostgreSQL each identifier takes a transaction-scoped advisory lock (sorted, so never a deadlock).
    SQLite needs none: its IMMEDIATE transactions already admit one writer at a time."""
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {
            int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "big", signed=True)
            for v in values
            if v
        }
    )
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _resolve(channel, external_id, email, phone, first_name, last_name, now) -> Resolution:
    # A channel id alone needs no lock: its unique constraint turns a race into a retry (resolve_customer).
    _lock_identifiers(f"customer-email:{email}" if email else "", f"customer-phone:{phone}" if phone else "")
    identity = None
    if external_id:
        identity = (
            ChannelIdentity.objects.select_for_update()
            .filter(channel=channel, external_id=external_id)
            .select_related("customer")
            .first()
        )
    created = False
    if identity is not None:
        customer = active(identity.customer)
    else:
        found = _find_by_contact(email=email, phone=phone)
        if found is None:
            found = Customer.objects.create(
                first_name=first_name, last_name=last_name, email=email, phone=phone
            )
            created = True
        customer = found
    _fill_blanks(customer, first_name=first_name, last_name=last_name, email=email, phone=phone)
    if identity is None and not external_id:
        identity = ChannelIdentity.objects.filter(
            channel=channel, customer=customer, external_id="", email=email, phone=phone
        ).first()
    if identity is None:
        identity = ChannelIdentity.objects.create(
            customer=customer,
            channel=channel,
            external_id=external_id,
            email=email,
            phone=phone,
            first_seen_at=now,
            last_seen_at=now,
        )
    else:
        identity.customer = customer
        identity.email = email or identity.email
        identity.phone = phone or identity.phone
        identity.last_seen_at = max(identity.last_seen_at, now)
        identity.save(update_fields=["customer", "email", "phone", "last_seen_at"])
    return Resolution(customer=customer, identity=identity, created=created)


def _find_by_contact(*, email: str, phone: str) -> Customer | None:
    """The oldest active customer with this e-mail, else this phone (on the profile or any identity)."""
    for field, value in (("email", email), ("phone", phone)):
        if not value:
            continue
        found = (
            Customer.objects.filter(merged_into__isnull=True)
            .filter(Q(**{field: value}) | Q(**{f"identities__{field}": value}))
            .order_by("created_at", "pk")
            .first()
        )
        if found is not None:
            return found
    return None


def _fill_blanks(customer: Customer, **values: str) -> None:
    changed = [name for name, value in values.items() if value and not getattr(customer, name)]
    for name in changed:
        setattr(customer, name, values[name])
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])


# --- shoppers (signed-in users) -------------------------------------------------------------------------


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
            _fill_blanks(guest, first_name=user.first_name, last_name=user.last_name, email=email)
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
