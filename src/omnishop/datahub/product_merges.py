"""Product merges across channels: staff accept a review candidate (the right product folds into the left),
and any merge — made at import time by the products target or accepted here — can be undone exactly.

A merge never overwrites the kept product's curated fields: it fills only what is missing and records each
filled field's value before and after. It moves the folded product's variants, images and ledger entries
(so its source's re-imports keep landing on the kept product, filling missing fields only) and deactivates
the folded product rather than deleting it, so undo gives the very same rows back. See docs/adr/0028.
"""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from omnishop.catalog.models import Category, Product, ProductImage, Variant
from omnishop.core.errors import ValidationFailed

from .errors import MergeAlreadyUndone, MergeNotUndoable, ProductMergeNotFound
from .models import ImportedRecord, MatchCandidate, ProductMerge
from .targets.product_match import fill_missing

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
    lacks, `merged` is deactivated. Variants with the same option values are kept side by side and listed
    as `variant_conflicts` (variant matching decides them)."""
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
        theirs = list(Variant.objects.filter(product=merged).values_list("pk", "sku", "attributes"))
        ours = list(Variant.objects.filter(product=keep).values_list("sku", "attributes"))
        conflicts = [
            {"variant": sku, "same_as": other, "options": attributes}
            for _pk, sku, attributes in theirs
            if attributes
            for other, other_attributes in ours
            if other_attributes == attributes
        ]
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
