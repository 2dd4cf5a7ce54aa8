"""The catalog's taxonomy: the category tree (materialised paths, subtree moves without cycles) and the
attributes products and variants carry, with the checks that attribute values obey their definitions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Concat, Length, Substr
from django.utils.text import slugify

from omnishop.core.errors import ValidationFailed

from .errors import (
    AttributeInUse,
    AttributeNotFound,
    CategoryCycle,
    CategoryNotEmpty,
    CategoryNotFound,
    DuplicateAttribute,
    DuplicateCategory,
    InvalidAttributeValue,
    UnknownAttribute,
)
from .fields import non_negative_int as _non_negative_int
from .fields import slug as _slug
from .fields import text as _text
from .models import Attribute, Category, Product, Variant
from .unset import UNSET

# --- categories ---------------------------------------------------------------------------------

MAX_PATH = 1000


def get_category(category_id: int, *, field: str = "category_id") -> Category:
    try:
        return Category.objects.get(pk=category_id)
    except (Category.DoesNotExist, ValueError, TypeError):
        raise CategoryNotFound(f"No category {category_id}.", field=field) from None


def _child_path(parent: Category | None, slug: str) -> str:
    path = f"{parent.path}/{slug}" if parent else slug
    if len(path) > MAX_PATH:
        raise ValidationFailed(f"The category path would exceed {MAX_PATH} characters.", field="slug")
    return path


def create_category(
    *, name: str, slug: str | None = None, parent: Category | None = None, position: int = 0
) -> Category:
    """Add a node under `parent` (or at the root); its path is the parent's path plus its slug."""
    name = _text(name, field="name", max_length=200)
    slug = _slug(
        slug if slug is not None else slugify(name, allow_unicode=True), field="slug", max_length=100
    )
    position = _non_negative_int(position, field="position")
    path = _child_path(parent, slug)
    try:
        with transaction.atomic():
            return Category.objects.create(parent=parent, name=name, slug=slug, path=path, position=position)
    except IntegrityError:
        raise DuplicateCategory(f"A category '{path}' exists.", field="slug", path=path) from None


def update_category(
    *,
    category: Category,
    name: str = UNSET,
    slug: str = UNSET,
    parent: Category | None = UNSET,
    position: int = UNSET,
) -> Category:
    """Rename, re-slug or move a node; its whole subtree's paths are rewritten in the same transaction."""
    with transaction.atomic():
        node = Category.objects.select_for_update().get(pk=category.pk)
        old_path = node.path
        if name is not UNSET:
            node.name = _text(name, field="name", max_length=200)
        if slug is not UNSET:
            node.slug = _slug(slug, field="slug", max_length=100)
        if position is not UNSET:
            node.position = _non_negative_int(position, field="position")
        if parent is not UNSET:
            if parent is not None:
                parent = Category.objects.get(pk=parent.pk)  # its current path, not a stale copy
                if parent.pk == node.pk or parent.path.startswith(old_path + "/"):
                    raise CategoryCycle(
                        f"Cannot move '{old_path}' under its own subtree ('{parent.path}').",
                        field="parent_id",
                    )
            node.parent = parent
        parent_node = node.parent if parent is UNSET else parent
        new_path = _child_path(parent_node, node.slug)
        if new_path != old_path:
            if Category.objects.filter(path=new_path).exclude(pk=node.pk).exists():
                raise DuplicateCategory(f"A category '{new_path}' exists.", field="slug", path=new_path)
            descendants = Category.objects.filter(path__startswith=old_path + "/")
            longest = max(descendants.annotate(n=Length("path")).values_list("n", flat=True), default=0)
            if longest - len(old_path) + len(new_path) > MAX_PATH:
                raise ValidationFailed(
                    f"A path in the subtree would exceed {MAX_PATH} characters.", field="slug"
                )
            descendants.update(
                path=Concat(Value(new_path), Substr("path", len(old_path) + 1), output_field=CharField())
            )
            node.path = new_path
        node.save()
    return node


def delete_category(*, category: Category) -> None:
    """Delete an empty node; its products become uncategorised. A node with children must be emptied first."""
    with transaction.atomic():
        if Category.objects.filter(parent=category).exists():
            raise CategoryNotEmpty(
                f"'{category.path}' has subcategories; move or delete them first.", field="category_id"
            )
        category.delete()


def category_subtree(category: Category) -> QuerySet[Category]:
    return Category.objects.filter(Q(path=category.path) | Q(path__startswith=category.path + "/"))


# --- attributes ---------------------------------------------------------------------------------


def get_attribute(attribute_id: int) -> Attribute:
    try:
        return Attribute.objects.get(pk=attribute_id)
    except (Attribute.DoesNotExist, ValueError, TypeError):
        raise AttributeNotFound(f"No attribute {attribute_id}.", field="attribute_id") from None


def _choices(type_: str, choices: Sequence[str]) -> list[str]:
    if type_ != Attribute.Type.CHOICE:
        if choices:
            raise ValidationFailed("Only choice attributes have choices.", field="choices")
        return []
    cleaned = [_text(c, field="choices", max_length=200) for c in choices]
    if not cleaned:
        raise ValidationFailed("A choice attribute needs at least one choice.", field="choices")
    if len(set(cleaned)) != len(cleaned):
        raise ValidationFailed("Choices must be distinct.", field="choices")
    return cleaned


def _attribute_in_use(code: str) -> bool:
    return (
        Product.objects.filter(attributes__has_key=code).exists()
        or Variant.objects.filter(attributes__has_key=code).exists()
    )


def create_attribute(
    *, code: str, name: str, type: str = "text", choices: Sequence[str] = (), is_variant_axis: bool = False
) -> Attribute:
    """Define a property products and variants may carry; values are checked against its type."""
    code = _slug(code, field="code", max_length=50)
    name = _text(name, field="name", max_length=200)
    if type not in Attribute.Type.values:
        raise ValidationFailed(
            f"Unknown attribute type '{type}'.", field="type", allowed=Attribute.Type.values
        )
    try:
        with transaction.atomic():
            return Attribute.objects.create(
                code=code,
                name=name,
                type=type,
                choices=_choices(type, choices),
                is_variant_axis=is_variant_axis,
            )
    except IntegrityError:
        raise DuplicateAttribute(f"An attribute '{code}' exists.", field="code") from None


def update_attribute(
    *,
    attribute: Attribute,
    name: str = UNSET,
    type: str = UNSET,
    choices: Sequence[str] = UNSET,
    is_variant_axis: bool = UNSET,
) -> Attribute:
    """Change an attribute; its type, and choices that products use, cannot change under stored values."""
    with transaction.atomic():
        attribute = Attribute.objects.select_for_update().get(pk=attribute.pk)
        if name is not UNSET:
            attribute.name = _text(name, field="name", max_length=200)
        if type is not UNSET and type != attribute.type:
            if type not in Attribute.Type.values:
                raise ValidationFailed(
                    f"Unknown attribute type '{type}'.", field="type", allowed=Attribute.Type.values
                )
            if _attribute_in_use(attribute.code):
                raise AttributeInUse(
                    f"Products use '{attribute.code}'; its type cannot change.", field="type"
                )
            attribute.type = type
            if choices is UNSET:
                choices = attribute.choices if type == Attribute.Type.CHOICE else []
        if choices is not UNSET:
            new_choices = _choices(attribute.type, choices)
            removed = set(attribute.choices) - set(new_choices)
            key = f"attributes__{attribute.code}__in"
            if removed and (
                Product.objects.filter(**{key: sorted(removed)}).exists()
                or Variant.objects.filter(**{key: sorted(removed)}).exists()
            ):
                raise AttributeInUse(
                    "Products use a choice you removed.", field="choices", removed=sorted(removed)
                )
            attribute.choices = new_choices
        if is_variant_axis is not UNSET:
            attribute.is_variant_axis = bool(is_variant_axis)
        attribute.save()
    return attribute


def delete_attribute(*, attribute: Attribute) -> None:
    with transaction.atomic():
        if _attribute_in_use(attribute.code):
            raise AttributeInUse(
                f"Products or variants carry '{attribute.code}'; remove the values first.",
                field="attribute_id",
            )
        attribute.delete()


def attribute_registry(values: Iterable[Mapping[str, Any]]) -> dict[str, Attribute]:
    codes = {code for mapping in values for code in mapping}
    return {a.code: a for a in Attribute.objects.filter(code__in=codes)} if codes else {}


def check_attribute_values(values: object, *, field: str, registry: Mapping[str, Attribute]) -> dict:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValidationFailed("attributes must be an object of attribute code → value.", field=field)
    for code, value in values.items():
        attribute = registry.get(code)
        if attribute is None:
            raise UnknownAttribute(f"No attribute '{code}'; define it first.", field=f"{field}.{code}")
        kind = attribute.type
        ok = (
            (kind == Attribute.Type.TEXT and isinstance(value, str) and len(value) <= 1000)
            or (
                kind == Attribute.Type.NUMBER
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            )
            or (kind == Attribute.Type.BOOLEAN and isinstance(value, bool))
            or (kind == Attribute.Type.CHOICE and value in attribute.choices)
        )
        if not ok:
            expected = f"one of {attribute.choices}" if kind == Attribute.Type.CHOICE else f"a {kind}"
            raise InvalidAttributeValue(
                f"'{code}' must be {expected}; got {value!r}.", field=f"{field}.{code}", expected=kind
            )
    return dict(values)
