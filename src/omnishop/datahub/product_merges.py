"""Product merges across channels: staff accept a review candidate (the right product folds into the left),
and any merge — made at import time by the products target or accepted here — can be undone exactly.

A merge never overwrites the kept product's curated fields: it fills only what is missing and records each
filled field's value before and after. It moves the folded product's variants, images and ledger entries
(so its source's re-imports keep landing on the kept product, filling missing fields only) and deactivates
the folded product rather than deleting it, so undo gives the very same rows back. See docs/adr/0028.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from omnishop.catalog.models import Category, ChannelListing, Product, ProductImage, Variant
from omnishop.core.errors import ValidationFailed

from .errors import MergeAlreadyUndone, MergeNotUndoable, ProductMergeNotFound
from .models import (
    AliasStockCount,
    ImportedRecord,
    MatchCandidate,
    ProductMerge,
    SkuAlias,
    StagedTransactionLine,
)
from .targets.product_match import fill_missing
from .targets.variant_match import option_key

FIELD_OF = {"category": "category_id"}


def _user(user):
    return user if getattr(user, "pk", None) else None


def _ledger_of(product_id: int) -> QuerySet[ImportedRecord]:
    """The ledger entries that name a product (not its variants or images)."""
    return ImportedRecord.objects.filter(object_id=product_id).filter(
        Q(entity="product") | Q(entity="row", natural_key__startswith="product:")
    )


def merge_products(
    *, keep: Product, merged: Product, score: float, reasons: list, candidate=None, user=None
) -> ProductMerge:
    """Fold `merged` into `keep`: variants, images and ledger entries move, `keep` gets only the fields it
    lacks, `merged` is deactivated. A variant with the option values of exactly one of `keep`'s variants is
    folded into it (`_fold_variants`); one that cannot be folded safely stays side by side and is listed
    in `variant_conflicts` with the reason."""
    if keep.pk == merged.pk:
        raise ValidationFailed("A product cannot be merged into itself.", field="candidate_id")
    with transaction.atomic():
        keep = Product.objects.select_for_update().get(pk=keep.pk)
        merged = Product.objects.select_for_update().get(pk=merged.pk)
        filled = fill_missing(
            keep,
            {
                "brand": merged.brand,
                "description": merged.description,
                "category": merged.category,
                "attributes": merged.attributes,
            },
        )
        folded, conflicts = _fold_variants(keep, merged)
        theirs = list(Variant.objects.filter(product=merged).values_list("pk", "sku", "attributes"))
        images = list(ProductImage.objects.filter(product=merged).values_list("pk", flat=True))
        records = list(_ledger_of(merged.pk).values_list("pk", "source", "entity"))
        Variant.objects.filter(pk__in=[pk for pk, _sku, _a in theirs]).update(product_id=keep.pk)
        ProductImage.objects.filter(pk__in=images).update(product_id=keep.pk)
        ImportedRecord.objects.filter(pk__in=[pk for pk, _s, _e in records]).update(object_id=keep.pk)
        keep.save(update_fields=[*filled, "updated_at"])
        previous = {"is_active": merged.is_active}
        merged.is_active = False
        merged.save(update_fields=["is_active", "updated_at"])
        return ProductMerge.objects.create(
            kind=ProductMerge.Kind.REVIEW,
            product=keep,
            merged_product_id=merged.pk,
            sources=sorted({source for _pk, source, entity in records if entity == "product"}),
            candidate=candidate,
            job=candidate.job if candidate is not None else None,
            decided_by=_user(user),
            score=score,
            reasons=list(reasons),
            filled=filled,
            moved={
                "variants": [pk for pk, _s, _a in theirs],
                "images": images,
                "records": [r[0] for r in records],
                "option_matches": folded,
            },
            previous=previous,
            variant_conflicts=conflicts,
        )


def get_product_merge(*, merge_id: int) -> ProductMerge:
    merge = ProductMerge.objects.filter(pk=merge_id).first()
    if merge is None:
        raise ProductMergeNotFound(field="merge_id")
    return merge


def product_merges(*, product_id: int | None = None, undone: bool | None = None) -> QuerySet[ProductMerge]:
    qs = ProductMerge.objects.all()
    if product_id is not None:
        qs = qs.filter(Q(product_id=product_id) | Q(merged_product_id=product_id))
    if undone is not None:
        qs = qs.filter(undone_at__isnull=not undone)
    return qs


def undo_product_merge(*, merge: ProductMerge, user=None) -> ProductMerge:
    """Undo a merge exactly: the kept product's filled fields go back, the source's (or the folded)
    product gets back what it contributed — including what its later imports added — its ledger entries
    point at it again, and the pair is recorded as rejected so it is never proposed or merged again.
    Refused (`merge_not_undoable`) when that can no longer be exact."""
    with transaction.atomic():
        merge = ProductMerge.objects.select_for_update().get(pk=merge.pk)
        if merge.undone_at is not None:
            raise MergeAlreadyUndone(field="merge_id")
        if merge.product_id is None:
            raise MergeNotUndoable("The kept product was deleted since the merge.", field="merge_id")
        keep = Product.objects.select_for_update().get(pk=merge.product_id)
        variants, images = _check_contributions(merge, keep)
        restored = _restore_filled(keep, merge.filled)
        if merge.kind == ProductMerge.Kind.REVIEW:
            other = Product.objects.select_for_update().filter(pk=merge.merged_product_id).first()
            if other is None:
                raise MergeNotUndoable("The folded product was deleted since the merge.", field="merge_id")
            ImportedRecord.objects.filter(pk__in=merge.moved.get("records", [])).update(object_id=other.pk)
            other.is_active = merge.previous.get("is_active", True)
            other.save(update_fields=["is_active", "updated_at"])
        else:
            other = _own_product_of(merge)
            _ledger_of(keep.pk).filter(source__in=merge.sources).update(object_id=other.pk)
        Variant.objects.filter(pk__in=variants).update(product_id=other.pk)
        ProductImage.objects.filter(pk__in=images).update(product_id=other.pk)
        for entry in (merge.moved or {}).get("option_matches", []):
            _unfold(entry, keep=keep, other=other, merge=merge)
        keep.save(update_fields=[*restored, "updated_at"])
        now = timezone.now()
        candidate = merge.candidate or MatchCandidate(
            entity="product", left_id=keep.pk, right_id=other.pk, score=merge.score, reasons=merge.reasons
        )
        if candidate.pk is None:
            MatchCandidate.objects.filter(entity="product", left_id=keep.pk, right_id=other.pk).delete()
            candidate.job = merge.job
        candidate.status = MatchCandidate.Status.REJECTED
        candidate.decided_by = _user(user)
        candidate.decided_at = now
        candidate.save()
        merge.merged_product_id = other.pk
        merge.undone_at = now
        merge.undone_by = _user(user)
        merge.save(update_fields=["merged_product_id", "undone_at", "undone_by"])
    return merge


def _check_contributions(merge: ProductMerge, keep: Product) -> tuple[list[int], list[int]]:
    """What the merge moved or its source added must still sit on the kept product."""
    moved = merge.moved or {}
    if moved.get("shared_listings"):
        raise MergeNotUndoable(
            "The source listed variants the product had before the merge (same SKU or GTIN); undoing would "
            "take those listings from its channel. Decide those variants first.",
            field="merge_id",
        )
    variants, images = list(moved.get("variants", [])), list(moved.get("images", []))
    if Variant.objects.filter(pk__in=variants, product=keep).count() != len(set(variants)):
        raise MergeNotUndoable(
            "A variant the merge brought was moved or deleted since; it cannot be given back.",
            field="merge_id",
        )
    if ProductImage.objects.filter(pk__in=images, product=keep).count() != len(set(images)):
        raise MergeNotUndoable(
            "An image the merge brought was moved or deleted since; it cannot be given back.",
            field="merge_id",
        )
    return variants, images


def _fold_variants(keep: Product, merged: Product) -> tuple[list[dict], list[dict]]:
    """Variant matching on an accepted merge: each of `merged`'s variants whose option values name exactly
    one of `keep`'s variants (and no other of `merged`'s) is folded into it — its listings move to the kept
    variant, its SKU becomes a `SkuAlias` (option_values) of its listings' channels, its ledger entries
    point at the kept variant, and it is deleted (every field is recorded, so undo recreates the very same
    row). One with stock, order lines or any other reference, a listing on a channel the kept variant is
    already listed on, another GTIN, or a taken alias, stays side by side: a `variant_conflicts` entry."""
    ours: dict[tuple, list[Variant]] = {}
    for variant in Variant.objects.filter(product=keep):
        ours.setdefault(option_key(variant.attributes), []).append(variant)
    theirs = list(Variant.objects.filter(product=merged))
    keys = Counter(option_key(v.attributes) for v in theirs)
    folded, conflicts = [], []
    for variant in theirs:
        key = option_key(variant.attributes)
        same = ours.get(key, [])
        if not same:
            continue
        if len(same) > 1 or keys[key] > 1:
            if variant.attributes:
                conflicts += [_conflict(variant, o, "several variants with these options") for o in same]
            continue
        kept = same[0]
        reason = _unsafe_to_fold(variant, kept)
        if reason:
            conflicts.append(_conflict(variant, kept, reason))
            continue
        folded.append(_fold(variant, kept))
    return folded, conflicts


def _conflict(variant: Variant, other: Variant, reason: str) -> dict:
    return {"variant": variant.sku, "same_as": other.sku, "options": variant.attributes, "reason": reason}


def _unsafe_to_fold(variant: Variant, kept: Variant) -> str:
    """Why folding `variant` into `kept` could not be undone exactly or would lose a reference ('' if safe)."""
    if variant.gtin and kept.gtin and variant.gtin != kept.gtin:
        return "another GTIN"
    for relation in Variant._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and relation.one_to_many):
            continue
        if relation.related_model is ChannelListing:
            continue
        if relation.related_model._default_manager.filter(**{relation.field.name: variant}).exists():
            return f"has {relation.related_model._meta.verbose_name_plural}"
    channels = list(ChannelListing.objects.filter(variant=variant).values_list("channel_id", flat=True))
    if ChannelListing.objects.filter(variant=kept, channel_id__in=channels).exists():
        return "both are listed on the same channel"
    if SkuAlias.objects.filter(channel_id__in=channels, external_sku=variant.sku).exists():
        return "the channel already has an alias for this SKU"
    return ""


def _fold(variant: Variant, kept: Variant) -> dict:
    listings = list(ChannelListing.objects.filter(variant=variant).values_list("pk", "channel_id"))
    records = list(
        ImportedRecord.objects.filter(
            entity="row", natural_key=f"variant:{variant.sku}", object_id=variant.pk
        ).values_list("pk", "source")
    )
    entry = {
        "sku": variant.sku,
        "variant": kept.pk,
        "id": variant.pk,
        "fields": {
            "title": variant.title,
            "attributes": variant.attributes,
            "weight_grams": variant.weight_grams,
            "gtin": variant.gtin,
            "position": variant.position,
            "is_active": variant.is_active,
            "created_at": variant.created_at.isoformat(),
        },
        "filled": {},
        "listings": [pk for pk, _c in listings],
        "records": [pk for pk, _s in records],
    }
    source = records[0][1] if records else "product merge"
    ChannelListing.objects.filter(pk__in=entry["listings"]).update(variant_id=kept.pk)
    ImportedRecord.objects.filter(pk__in=entry["records"]).update(object_id=kept.pk)
    variant.delete()  # nothing refers to it any more; its GTIN may go to the kept variant
    for name in ("weight_grams", "gtin"):
        value = entry["fields"][name]
        if value not in (None, "") and getattr(kept, name) in (None, ""):
            entry["filled"][name] = {"before": getattr(kept, name), "after": value}
            setattr(kept, name, value)
    if entry["filled"]:
        kept.save(update_fields=[*entry["filled"], "updated_at"])
    aliases = SkuAlias.objects.bulk_create(
        SkuAlias(
            channel_id=channel,
            source=source[:80],
            external_sku=entry["sku"],
            variant_id=kept.pk,
            how=SkuAlias.How.OPTION_VALUES,
        )
        for channel in sorted({c for _pk, c in listings})
    )
    entry["aliases"] = [a.pk for a in aliases]
    return entry


def _unfold(entry: dict, *, keep: Product, other: Product, merge: ProductMerge) -> None:
    """Give back a variant that variant matching put on a kept variant: the very row (accepted merge) or
    the source's own variant as its row had it (import), with its listings, ledger entries and no alias."""
    kept = Variant.objects.select_for_update().filter(pk=entry["variant"], product=keep).first()
    if kept is None:
        raise MergeNotUndoable(
            f"The variant {entry['sku']} was matched into was moved or deleted since.", field="merge_id"
        )
    if Variant.objects.filter(sku=entry["sku"]).exists():
        raise MergeNotUndoable(f"The SKU {entry['sku']} is a variant of its own now.", field="merge_id")
    for name, change in entry.get("filled", {}).items():
        if getattr(kept, name) != change["after"]:
            raise MergeNotUndoable(
                f"The {name} of variant {kept.sku} was changed after the merge filled it.", field="merge_id"
            )
        setattr(kept, name, change["before"])
    if entry.get("filled"):
        kept.save(update_fields=[*entry["filled"], "updated_at"])
    fields = dict(entry["fields"])
    created_at = fields.pop("created_at", None)
    own = Variant(product=other, sku=entry["sku"], **fields)
    if entry.get("id") is not None:
        own.pk = entry["id"]
    own.save(force_insert=True)
    if created_at:
        Variant.objects.filter(pk=own.pk).update(created_at=datetime.fromisoformat(created_at))
    ChannelListing.objects.filter(pk__in=entry.get("listings", []), variant=kept).update(variant_id=own.pk)
    if "aliases" in entry:
        aliases = SkuAlias.objects.filter(pk__in=entry["aliases"])
        scopes = [{"channel_id": c} for c in sorted(set(aliases.values_list("channel_id", flat=True)))]
        aliases.delete()
        ImportedRecord.objects.filter(pk__in=entry.get("records", [])).update(object_id=own.pk)
    else:  # an import-time match: the alias and the ledger entry the products target wrote
        scope = {"channel_id": entry["channel"]} if entry.get("channel") else {"channel__isnull": True}
        scopes = [scope if entry.get("channel") else {**scope, "source__in": merge.sources}]
        SkuAlias.objects.filter(
            **scope, external_sku=entry["sku"], variant=kept, how=SkuAlias.How.OPTION_VALUES
        ).delete()
        ImportedRecord.objects.filter(
            source__in=merge.sources, entity="row", natural_key=f"variant:{entry['sku']}", object_id=kept.pk
        ).update(object_id=own.pk)
    for scope in scopes:
        _give_back_bookings(scope, sku=entry["sku"], kept=kept, own=own, merge=merge)


def _give_back_bookings(scope: dict, *, sku: str, kept: Variant, own: Variant, merge: ProductMerge) -> None:
    """What the channel's order and stock imports booked on the kept variant through the alias goes to
    its own variant, as if the alias had never been: its staged lines and the past orders built from them
    (the orders context writes a timeline entry per order, which brings the rollups along), and its stock
    counts — the kept variant's corrections are reversed, the own variant receives the last count — each
    as a new movement, so on hand stays the sum of the ledger."""
    from omnishop.channels.models import Channel
    from omnishop.core.errors import DomainError
    from omnishop.inventory.services import adjust_stock
    from omnishop.orders.services import history

    actor = f"datahub:product-merge:{merge.pk}"
    message = f"Undo of product merge #{merge.pk}: the channel's SKU {sku} names its own variant again."
    staged = StagedTransactionLine.objects.filter(**scope, sku=sku, variant_id=kept.pk)
    documents = set(staged.values_list("source", "document_no"))
    if documents:
        # A document with this SKU and another naming the kept variant became one order line of both.
        shared = StagedTransactionLine.objects.filter(
            source__in={s for s, _d in documents},
            document_no__in={d for _s, d in documents},
            variant_id=kept.pk,
        ).exclude(sku=sku)
        if any((s, d) in documents for s, d in shared.values_list("source", "document_no")):
            raise MergeNotUndoable(
                f"An order of the channel has {sku} and {kept.sku} in one line; it cannot be split.",
                field="merge_id",
            )
        staged.update(variant_id=own.pk)
    channel_id = scope.get("channel_id")
    if channel_id is not None:
        try:
            history.move_past_lines(
                channel=Channel.objects.get(pk=channel_id),
                sku=sku,
                from_variant_id=kept.pk,
                to_variant_id=own.pk,
                actor=actor,
                message=message,
            )
        except DomainError as exc:
            raise MergeNotUndoable(exc.message, field="merge_id") from exc
    for count in AliasStockCount.objects.filter(**scope, external_sku=sku, variant=kept).select_related(
        "location"
    ):
        try:
            if count.booked:
                adjust_stock(
                    variant=kept,
                    location=count.location,
                    delta=-count.booked,
                    reason_code="correction",
                    note=message,
                    actor=actor,
                )
            if count.on_hand:
                adjust_stock(
                    variant=own,
                    location=count.location,
                    delta=count.on_hand,
                    reason_code="correction",
                    note=message,
                    actor=actor,
                )
        except DomainError as exc:
            raise MergeNotUndoable(
                f"The stock the channel counted for {sku} at {count.location.code} cannot go back: "
                f"{exc.message}",
                field="merge_id",
            ) from exc
        count.delete()


def _restore_filled(product: Product, filled: dict) -> list[str]:
    """Put back the values the merge filled, unless someone changed them since (then undo is refused)."""
    names = []
    for name, change in filled.items():
        attname = FIELD_OF.get(name, name)
        if getattr(product, attname) != change["after"]:
            raise MergeNotUndoable(
                f"The product's {name} was changed after the merge filled it; undoing would lose that change.",
                field="merge_id",
            )
        setattr(product, attname, change["before"])
        names.append(name)
    return names


def _own_product_of(merge: ProductMerge) -> Product:
    """The product the source would have had, built from the fields it last sent (import-time merges)."""
    incoming = merge.incoming
    title = incoming.get("title") or "product"
    base = slugify(title)[:150] or "product"
    slug = base
    if Product.objects.filter(slug=slug).exists():
        slug = f"{base}-{hashlib.blake2b(f'merge:{merge.pk}'.encode(), digest_size=4).hexdigest()}"
    category = incoming.get("category")
    return Product.objects.create(
        title=title,
        slug=slug,
        description=incoming.get("description") or "",
        brand=incoming.get("brand") or "",
        category=Category.objects.filter(pk=category).first() if category else None,
        attributes=incoming.get("attributes") or {},
        is_active=incoming.get("is_active", True),
    )


__all__ = ["get_product_merge", "merge_products", "product_merges", "undo_product_merge"]
