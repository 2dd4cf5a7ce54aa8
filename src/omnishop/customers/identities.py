"""Recognising a person: a channel's customer id, e-mail or phone leads to the one customer it belongs to
(one at a time for checkouts and events, thousands at once for imports)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from omnishop.core import rows
from omnishop.core.lookups import keyed_in

from . import events
from .errors import IdentifierRequired
from .models import ChannelIdentity, Customer
from .normalise import optional_email, optional_phone

logger = logging.getLogger(__name__)


def active(customer: Customer) -> Customer:
    """The record that now stands for `customer`: itself, or the survivor it was merged into."""
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


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
            keyed_in(ChannelIdentity.objects.filter(channel=channel), refs[start : start + 5000]).values_list(
                "external_id", "customer_id"
            )
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


def resolve_known_email(
    *, channel, email: str, first_name: str = "", last_name: str = "", seen_at: datetime | None = None
) -> Customer | None:
    """A sender the channel already knows by this e-mail alone (no channel id, no phone): the same customer
    `resolve_customer` would return, found by one exact lookup of that identity instead of the search over
    every customer's profile and identities; None when the channel does not know it (resolve_customer then).

    It takes the same identifier lock, so two messages of one sender still follow one another, and refreshes
    the identity's last-seen time and the customer's blank names as `resolve_customer` does."""
    email = optional_email(email)
    if not email:
        return None
    now = seen_at or timezone.now()
    # No savepoint inside the caller's transaction (it saved two statements per inbound e-mail): nothing here
    # is retried, so an error simply fails the caller's transaction as it would have anyway.
    with transaction.atomic(savepoint=False):
        _lock_identifiers(f"customer-email:{email}")
        found = _known_email_identity(channel.pk, email)
        if found is None:
            return None
        identity, customer = found
        if now > identity.last_seen_at:
            # As update(last_seen_at=Greatest("last_seen_at", now)): the time only ever moves forward.
            at = connection.ops.adapt_datetimefield_value(now)
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE customers_channelidentity SET last_seen_at = %s WHERE id = %s AND last_seen_at < %s",
                    [at, identity.pk, at],
                )
            identity.last_seen_at = now
        fill_blanks(
            customer, first_name=(first_name or "").strip(), last_name=(last_name or "").strip(), email=email
        )
    return customer


def _known_email_identity(channel_id: int, email: str) -> tuple[ChannelIdentity, Customer] | None:
    """The channel's e-mail-only identity of `email` with its unmerged customer, the oldest customer first (as
    _find_by_contact); one hand-written statement — this runs for every inbound e-mail, and compiling the
    equivalent queryset cost more CPU than the database's answer."""
    sql = (
        f"SELECT {rows.columns(ChannelIdentity, 'i')}, {rows.columns(Customer, 'c')}"
        " FROM customers_channelidentity i JOIN customers_customer c ON c.id = i.customer_id"
        " WHERE i.channel_id = %s AND i.external_id = '' AND i.email = %s AND i.phone = ''"
        " AND c.merged_into_id IS NULL ORDER BY c.created_at, i.customer_id, i.id LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel_id, email])
        row = cursor.fetchone()
    if row is None:
        return None
    identity = rows.instance(ChannelIdentity, row)
    customer = rows.instance(Customer, row, rows.width(ChannelIdentity))
    ChannelIdentity.customer.field.set_cached_value(identity, customer)
    return identity, customer


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
    fill_blanks(customer, first_name=first_name, last_name=last_name, email=email, phone=phone)
    if identity is None and not external_id and not created:  # a customer created just now has none
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


def fill_blanks(customer: Customer, **values: str) -> None:
    changed = [name for name, value in values.items() if value and not getattr(customer, name)]
    for name in changed:
        setattr(customer, name, values[name])
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
