"""The one catalog: products, variants (the sellable SKUs), categories, attributes, images, what each
channel lists at which price, and which suppliers offer each variant at what cost.

Stock and availability belong to the inventory context; this module knows nothing of quantities.
"""

from django.db import models
from django.db.models import Q

from .skus import sku_key


class Category(models.Model):
    """A node of the category tree. `path` is the materialised list of ancestor slugs ('men/tops/hoodies'),
    so a subtree is one indexed prefix query."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    path = models.CharField(max_length=1000, unique=True, db_index=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["path"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="category_slug_unique_in_parent")
        ]

    def __str__(self) -> str:
        return self.path


class Attribute(models.Model):
    """A named property products and variants carry (size, colour, material), used for filters and facets."""

    class Type(models.TextChoices):
        TEXT = "text"
        NUMBER = "number"
        BOOLEAN = "boolean"
        CHOICE = "choice"

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values for choice attributes.")
    is_variant_axis = models.BooleanField(default=False, help_text="Distinguishes variants (size, colour).")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Product(models.Model):
    title = models.CharField(max_length=500)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=200, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    attributes = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class VariantQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for obj in objs:  # bulk_create does not call save()
            obj.sku_key = sku_key(obj.sku)
        return super().bulk_create(objs, *args, **kwargs)


class Variant(models.Model):
    """A sellable unit with its own SKU; stock, prices and orders all refer to variants."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(max_length=64, unique=True)
    # The SKU as compared (catalog.skus.sku_key: NFKC, case-folded); a new SKU whose key is taken is refused.
    # Not unique in the database: SKUs that clashed before the rule are reported, not rewritten (0002).
    sku_key = models.CharField(max_length=255, db_index=True, default="", editable=False)
    gtin = models.CharField(
        max_length=14,
        null=True,
        blank=True,
        unique=True,
        help_text="GTIN-8/12/13/14 (EAN/UPC) with a valid check digit.",
    )
    title = models.CharField(max_length=300, blank=True, help_text="e.g. 'M / Blue'.")
    attributes = models.JSONField(default=dict, blank=True)
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = VariantQuerySet.as_manager()

    class Meta:
        ordering = ["product_id", "position", "id"]

    def __str__(self) -> str:
        return self.sku

    def save(self, *args, **kwargs):
        self.sku_key = sku_key(self.sku)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "sku" in update_fields:
            kwargs["update_fields"] = {*update_fields, "sku_key"}
        super().save(*args, **kwargs)


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    variant = models.ForeignKey(
        Variant, null=True, blank=True, on_delete=models.CASCADE, related_name="images"
    )
    url = models.URLField(max_length=1000)
    alt = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["product_id", "position", "id"]


class ChannelListing(models.Model):
    """How one channel sells one variant: whether it is published, at what price, under which title.

    `currency` repeats the channel's currency so a price row is self-describing; the service that writes
    listings keeps them equal.
    """

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="listings")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="listings")
    is_published = models.BooleanField(default=False)
    price = models.DecimalField(max_digits=14, decimal_places=4)
    compare_at_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3)
    title = models.CharField(
        max_length=500, blank=True, help_text="Channel-specific title; blank = product's."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "variant"], name="listing_channel_variant_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="listing_price_not_negative"),
            models.CheckConstraint(
                condition=Q(compare_at_price__isnull=True) | Q(compare_at_price__gte=0),
                name="listing_compare_at_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "is_published", "variant"], name="listing_channel_published")
        ]


class Supplier(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    country = models.CharField(max_length=2, blank=True)
    city = models.CharField(max_length=200, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3, default="GBP")
    default_lead_time_days = models.PositiveIntegerField(default=7)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class SupplierOffer(models.Model):
    """What a supplier charges for a variant and how it must be ordered (MOQ, pack size, lead time), and what
    lands on top of the price before the goods are on the shelf: freight a unit and import duty as a
    percentage of the cost, both in the offer's currency (landed unit cost: `suppliers.landed_unit_cost`)."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="offers")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="supplier_offers")
    supplier_sku = models.CharField(max_length=100, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)
    lead_time_days = models.PositiveIntegerField(default=7)
    min_order_quantity = models.PositiveIntegerField(default=1)
    pack_size = models.PositiveIntegerField(default=1)
    is_preferred = models.BooleanField(default=False)
    freight_per_unit = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        default=0,
        db_default=0,
        help_text="Freight and handling a unit, in the offer's currency (0 = none or included in the cost).",
    )
    duty_percent = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        default=0,
        db_default=0,
        help_text="Import duty as a percentage of the cost (12.5 = 12.5 %; 0 = none).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["supplier", "variant"], name="offer_supplier_variant_unique"),
            models.UniqueConstraint(
                fields=["variant"], condition=Q(is_preferred=True), name="offer_one_preferred_per_variant"
            ),
            models.CheckConstraint(condition=Q(cost__gte=0), name="offer_cost_not_negative"),
            models.CheckConstraint(condition=Q(min_order_quantity__gte=1), name="offer_moq_positive"),
            models.CheckConstraint(condition=Q(pack_size__gte=1), name="offer_pack_size_positive"),
            models.CheckConstraint(condition=Q(freight_per_unit__gte=0), name="offer_freight_not_negative"),
            models.CheckConstraint(
                condition=Q(duty_percent__gte=0) & Q(duty_percent__lt=1000), name="offer_duty_percent_range"
            ),
        ]
