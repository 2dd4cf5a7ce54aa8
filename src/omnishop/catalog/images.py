"""Product images: URLs checked, an image optionally tied to one of its product's variants, the product
touched (updated_since, product.updated) on every change."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction

from . import events
from .errors import ImageNotFound, InvalidUrl, VariantNotInProduct
from .fields import non_negative_int as _non_negative_int
from .fields import text as _text
from .models import Product, ProductImage, Variant
from .unset import UNSET

_url_validator = URLValidator(schemes=["http", "https"])


def validate_image_url(url: object, *, field: str = "url") -> str:
    url = _text(url, field=field, max_length=1000)
    try:
        _url_validator(url)
    except DjangoValidationError:
        raise InvalidUrl(f"'{url}' is not an http(s) URL.", field=field) from None
    return url


def get_image(image_id: int) -> ProductImage:
    try:
        return ProductImage.objects.get(pk=image_id)
    except (ProductImage.DoesNotExist, ValueError, TypeError):
        raise ImageNotFound(f"No image {image_id}.", field="image_id") from None


def _image_variant(product_id: int, variant: Variant | None) -> Variant | None:
    if variant is not None and variant.product_id != product_id:
        raise VariantNotInProduct(f"Variant '{variant.sku}' belongs to another product.", field="variant_id")
    return variant


def add_image(
    *, product: Product, url: str, alt: str = "", position: int | None = None, variant: Variant | None = None
) -> ProductImage:
    url = validate_image_url(url)
    alt = _text(alt or "", field="alt", max_length=300, required=False)
    variant = _image_variant(product.pk, variant)
    if position is None:
        position = ProductImage.objects.filter(product=product).count()
    position = _non_negative_int(position, field="position")
    with transaction.atomic():
        image = ProductImage.objects.create(
            product=product, variant=variant, url=url, alt=alt, position=position
        )
        events.touch_product(product.pk)
    return image


def update_image(
    *,
    image: ProductImage,
    url: str = UNSET,
    alt: str = UNSET,
    position: int = UNSET,
    variant: Variant | None = UNSET,
) -> ProductImage:
    if url is not UNSET:
        image.url = validate_image_url(url)
    if alt is not UNSET:
        image.alt = _text(alt or "", field="alt", max_length=300, required=False)
    if position is not UNSET:
        image.position = _non_negative_int(position, field="position")
    if variant is not UNSET:
        image.variant = _image_variant(image.product_id, variant)
    with transaction.atomic():
        image.save()
        events.touch_product(image.product_id)
    return image


def delete_image(*, image: ProductImage) -> None:
    with transaction.atomic():
        image.delete()
        events.touch_product(image.product_id)
