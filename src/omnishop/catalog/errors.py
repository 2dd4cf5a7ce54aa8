"""The catalog's business failures, one class each, with the stable codes documented in docs/catalog.md."""

from omnishop.core.errors import (
    AlreadyExists,
    Conflict,
    InvalidCountry,
    InvalidEmail,
    InvalidPhone,
    NotFound,
    ValidationFailed,
)
from omnishop.core.money import CurrencyMismatch, InvalidAmount, InvalidCurrency

__all__ = [
    "AttributeInUse",
    "AttributeNotFound",
    "CategoryCycle",
    "CategoryNotEmpty",
    "CategoryNotFound",
    "CurrencyMismatch",
    "DuplicateAttribute",
    "DuplicateCategory",
    "DuplicateGtin",
    "DuplicateOffer",
    "DuplicateSku",
    "DuplicateSlug",
    "DuplicateSupplier",
    "DuplicateVariantAttributes",
    "ImageNotFound",
    "InvalidAmount",
    "InvalidAttributeValue",
    "InvalidCompareAtPrice",
    "InvalidCountry",
    "InvalidCurrency",
    "InvalidEmail",
    "InvalidGtin",
    "InvalidPhone",
    "InvalidUrl",
    "ListedOnOtherChannels",
    "ListingNotFound",
    "OfferNotFound",
    "ProductInUse",
    "ProductNotFound",
    "SupplierNotFound",
    "UnknownAttribute",
    "VariantInUse",
    "VariantNotFound",
    "VariantNotInProduct",
]


class CategoryNotFound(NotFound):
    code = "category_not_found"


class AttributeNotFound(NotFound):
    code = "attribute_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class VariantNotFound(NotFound):
    code = "variant_not_found"


class ImageNotFound(NotFound):
    code = "image_not_found"


class ListingNotFound(NotFound):
    code = "listing_not_found"


class SupplierNotFound(NotFound):
    code = "supplier_not_found"


class OfferNotFound(NotFound):
    code = "offer_not_found"


class DuplicateCategory(AlreadyExists):
    code = "duplicate_category"


class DuplicateAttribute(AlreadyExists):
    code = "duplicate_attribute"


class DuplicateSlug(AlreadyExists):
    code = "duplicate_slug"


class DuplicateSku(AlreadyExists):
    code = "duplicate_sku"


class SkuClash(AlreadyExists):
    """A SKU equal to an existing one once case and Unicode width are ignored ('sku-1' and 'SKU-1')."""

    code = "sku_clash"


class DuplicateGtin(AlreadyExists):
    code = "duplicate_gtin"


class DuplicateVariantAttributes(AlreadyExists):
    code = "duplicate_variant_attributes"


class DuplicateSupplier(AlreadyExists):
    code = "duplicate_supplier"


class DuplicateOffer(AlreadyExists):
    code = "duplicate_offer"


class CategoryCycle(ValidationFailed):
    code = "category_cycle"


class CategoryNotEmpty(Conflict):
    code = "category_not_empty"


class AttributeInUse(Conflict):
    code = "attribute_in_use"


class ProductInUse(Conflict):
    code = "product_in_use"


class VariantInUse(Conflict):
    code = "variant_in_use"


class ListedOnOtherChannels(Conflict):
    code = "listed_on_other_channels"


class InvalidGtin(ValidationFailed):
    code = "invalid_gtin"


class InvalidUrl(ValidationFailed):
    code = "invalid_url"


class UnknownAttribute(ValidationFailed):
    code = "unknown_attribute"


class InvalidAttributeValue(ValidationFailed):
    code = "invalid_attribute_value"


class InvalidCompareAtPrice(ValidationFailed):
    code = "invalid_compare_at_price"


class VariantNotInProduct(ValidationFailed):
    code = "variant_not_in_product"


class InvalidPriceChange(ValidationFailed):
    code = "invalid_price_change"


class NoListingsToPrice(ValidationFailed):
    code = "no_listings_to_price"
    default_message = "None of the chosen products is listed on this channel."


class PricesChangedSincePreview(Conflict):
    code = "prices_changed_since_preview"
    default_message = "Some prices changed since the preview was made; preview again."
