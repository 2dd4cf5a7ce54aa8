"""Merging two customer records into one, and undoing it exactly.

Every row of every model that points at the merged customer moves to the survivor. The models are found
through Django's model metadata at run time, so orders, events, carts … that later apps add are moved
without changes here. What moved and the prior state of every row changed in place are kept in the
MergeRecord, which is all `undo_merge` needs.

Rules for rows that cannot simply move: a one-to-one row (preferences, or any other app's) moves only when
the survivor has none, otherwise it stays on the merged record; preferences are combined (favourite
categories united, language filled in); for a channel where both have a marketing consent the most recent
statement wins; a moved address loses its default flag when the survivor already has that default.
"""

from __future__ import annotations

import datetime
import json

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from omnishop.core.errors import Conflict

from . import events
from .models import Address, Customer, CustomerPreferences, DistinctPair, MarketingConsent, MergeRecord

PROFILE_FIELDS = ("first_name", "last_name", "email", "phone")


class MergeIntoSelf(Conflict):
    code = "merge_into_self"
    default_message = "A customer cannot be merged into itself."


class AlreadyMerged(Conflict):
    code = "customer_already_merged"
    default_message = "This customer was already merged into another one."


class MergeConflict(Conflict):
    code = "merge_conflict"
    default_message = "Rows of the two customers collide on a unique constraint; resolve them first."


class MergeAlreadyUndone(Conflict):
    code = "merge_already_undone"
    default_message = "This merge was already undone."


class MergeNotLatest(Conflict):
    code = "merge_not_latest"
    default_message = "A later merge involves these customers; undo that one first."


def customer_relations() -> list[models.ForeignKey]:
    """Every foreign key (and one-to-one) in any installed model that points at Customer, this context's
    bookkeeping (MergeRecord, DistinctPair) excepted. Hidden relations (related_name='+') and many-to-many link tables count too."""
    found = []
    for rel in Customer._meta.get_fields(include_hidden=True):
        if not (
            rel.auto_created and not rel.concrete and (rel.many_to_one or rel.one_to_many or rel.one_to_one)
        ):
            continue
        field = rel.field
        if field.model in (MergeRecord, DistinctPair) or not field.concrete or field.model._meta.proxy:
            continue
        if not field.model._meta.managed and not field.model._meta.auto_created:
            continue
        found.append(field)
    return sorted(found, key=lambda f: (f.model._meta.label_lower, f.name))


def _serialise(objects) -> list[dict]:
    """Rows as JSON-ready dicts at full precision (Django's JSON serializer cuts times to milliseconds,
    which would make an undo differ from the original)."""
    return json.loads(json.dumps(serializers.serialize("python", objects), cls=_FullPrecisionEncoder))


class _FullPrecisionEncoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def _restore(rows: list[dict]) -> None:
    for obj in serializers.deserialize("python", rows):
        obj.save()


def merge_customers(
    *,
    survivor: Customer,
    merged: Customer,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    score: float | None = None,
) -> MergeRecord:
    """Fold `merged` into `survivor` (same person seen twice); returns the record that can undo it."""
    if survivor.pk == merged.pk:
        raise MergeIntoSelf(field="merged", customer=survivor.pk)
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update()
            .filter(pk__in=[survivor.pk, merged.pk])
            .order_by("pk")
        }
        survivor, merged = locked[survivor.pk], locked[merged.pk]
        for role, customer in (("survivor", survivor), ("merged", merged)):
            if customer.merged_into_id is not None:
                raise AlreadyMerged(
                    f"Customer {customer.pk} was already merged into {customer.merged_into_id}.",
                    field=role,
                    customer=customer.pk,
                    merged_into=customer.merged_into_id,
                )
        snapshot = {"customers": _serialise([survivor, merged]), "moved": [], "kept": [], "restore": []}

        _move_special_rows(survivor, merged, snapshot)
        for field in customer_relations():
            if field.model is Customer and field.name == "merged_into":
                # Earlier merges into `merged` now point at the survivor, so chains stay one hop long.
                _move(field, survivor, merged, snapshot, Customer._base_manager.filter(merged_into=merged))
                continue
            if field.model in (CustomerPreferences, MarketingConsent):
                continue  # moved by _move_special_rows
            rows = field.model._base_manager.filter(**{field.name: merged})
            if field.one_to_one and field.model._base_manager.filter(**{field.name: survivor}).exists():
                _keep(field, rows, snapshot, "the survivor already has one")
                continue
            _move(field, survivor, merged, snapshot, rows)

        changed = []
        for name in PROFILE_FIELDS:
            if not getattr(survivor, name) and getattr(merged, name):
                setattr(survivor, name, getattr(merged, name))
                changed.append(name)
        if survivor.user_id is None and merged.user_id is not None:
            user_id = merged.user_id
            Customer.objects.filter(pk=merged.pk).update(user=None)
            survivor.user_id = user_id
            changed.append("user")
        survivor.save()
        Customer.objects.filter(pk=merged.pk).update(
            merged_into=survivor, user=None if "user" in changed else merged.user_id
        )
        merged.refresh_from_db()

        record = MergeRecord.objects.create(
            survivor=survivor,
            merged=merged,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor_label or (getattr(actor, "get_username", lambda: "")() if actor else ""),
            reason=reason[:500],
            score=score,
            snapshot=snapshot,
        )
        events.merged(survivor_id=survivor.pk, merged_id=merged.pk, merge_id=record.pk)
        return record


def _move(field, survivor, merged, snapshot, rows) -> None:
    pks = list(rows.values_list("pk", flat=True))
    if not pks:
        return
    try:
        with transaction.atomic():
            field.model._base_manager.filter(pk__in=pks).update(**{field.name: survivor})
    except IntegrityError as exc:
        raise MergeConflict(
            f"{field.model._meta.label} rows of both customers collide on a unique constraint: {exc}",
            field="merged",
            model=field.model._meta.label,
        ) from None
    snapshot["moved"].append({"model": field.model._meta.label_lower, "field": field.name, "pks": pks})


def _keep(field, rows, snapshot, why: str) -> None:
    pks = list(rows.values_list("pk", flat=True))
    if pks:
        snapshot["kept"].append(
            {"model": field.model._meta.label_lower, "field": field.name, "pks": pks, "why": why}
        )


def _move_special_rows(survivor: Customer, merged: Customer, snapshot: dict) -> None:
    prefs_field = CustomerPreferences._meta.get_field("customer")
    consent_field = MarketingConsent._meta.get_field("customer")
    address_field = Address._meta.get_field("customer")

    mine = CustomerPreferences.objects.filter(customer=survivor).first()
    theirs = CustomerPreferences.objects.filter(customer=merged).first()
    if theirs is not None and mine is None:
        _move(prefs_field, survivor, merged, snapshot, CustomerPreferences.objects.filter(pk=theirs.pk))
    elif theirs is not None:
        snapshot["restore"].extend(_serialise([mine]))
        if not mine.language and theirs.language:
            mine.language = theirs.language
            mine.save(update_fields=["language", "updated_at"])
        mine.favourite_categories.add(*theirs.favourite_categories.all())
        _keep(
            prefs_field,
            CustomerPreferences.objects.filter(pk=theirs.pk),
            snapshot,
            "combined into the survivor's",
        )

    survivor_consents = {c.channel_id: c for c in MarketingConsent.objects.filter(customer=survivor)}
    movable, kept = [], []
    for consent in MarketingConsent.objects.filter(customer=merged):
        current = survivor_consents.get(consent.channel_id)
        if current is None:
            movable.append(consent.pk)
            continue
        kept.append(consent.pk)
        if consent.recorded_at > current.recorded_at:
            snapshot["restore"].extend(_serialise([current]))
            current.granted, current.recorded_at, current.source = (
                consent.granted,
                consent.recorded_at,
                consent.source,
            )
            current.save(update_fields=["granted", "recorded_at", "source"])
    _move(consent_field, survivor, merged, snapshot, MarketingConsent.objects.filter(pk__in=movable))
    _keep(
        consent_field,
        MarketingConsent.objects.filter(pk__in=kept),
        snapshot,
        "the survivor's consent is as recent",
    )

    # Address rows move with the generic pass; only their default flags may need to give way first.
    survivor_has = {
        "is_default_shipping": Address.objects.filter(customer=survivor, is_default_shipping=True).exists(),
        "is_default_billing": Address.objects.filter(customer=survivor, is_default_billing=True).exists(),
    }
    clash = Q()
    for flag, present in survivor_has.items():
        if present:
            clash |= Q(**{flag: True})
    if clash:
        clashing = list(Address.objects.filter(Q(customer=merged) & clash))
        if clashing:
            snapshot["restore"].extend(_serialise(clashing))
            for flag, present in survivor_has.items():
                if present:
                    Address.objects.filter(pk__in=[a.pk for a in clashing]).update(**{flag: False})
    del address_field


def undo_merge(*, record: MergeRecord, actor=None) -> MergeRecord:
    """Put both customers and every moved row back exactly as they were before the merge."""
    with transaction.atomic():
        record = MergeRecord.objects.select_for_update().get(pk=record.pk)
        if record.undone_at is not None:
            raise MergeAlreadyUndone(field="merge_id", undone_at=record.undone_at.isoformat())
        involved = [record.survivor_id, record.merged_id]
        later = (
            MergeRecord.objects.filter(pk__gt=record.pk, undone_at__isnull=True)
            .filter(Q(survivor_id__in=involved) | Q(merged_id__in=involved))
            .order_by("pk")
            .first()
        )
        if later is not None:
            raise MergeNotLatest(field="merge_id", later_merge=later.pk)
        snapshot = record.snapshot
        Customer.objects.filter(pk__in=involved).update(user=None)
        _restore(snapshot["customers"])
        from django.apps import apps

        for group in snapshot["moved"]:
            model = apps.get_model(group["model"])
            model._base_manager.filter(pk__in=group["pks"], **{group["field"]: record.survivor_id}).update(
                **{group["field"]: record.merged_id}
            )
        _restore(snapshot["restore"])
        record.undone_at = timezone.now()
        record.undone_by = actor if getattr(actor, "pk", None) else None
        record.save(update_fields=["undone_at", "undone_by"])
        events.merged(
            survivor_id=record.survivor_id, merged_id=record.merged_id, merge_id=record.pk, undone=True
        )
        return record
