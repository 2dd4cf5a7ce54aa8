"""Back-office screens for the catalog. Forms check input with the same validators the services use;
derived data (category paths, the one preferred offer) and bulk actions go through the services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count

from omnishop.core.errors import DomainError
from omnishop.core.money import validate_currency

from . import services
from .models import (
    Attribute,
    Category,
    ChannelListing,
    Product,
    ProductImage,
    Supplier,
    SupplierOffer,
    Variant,
)


def _form_error(exc: DomainError) -> forms.ValidationError:
    return forms.ValidationError(exc.message, code=exc.code)


# --- categories and attributes ------------------------------------------------------------------


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("name", "slug", "parent", "position")

    def clean(self):
        cleaned = super().clean()
        parent, node = cleaned.get("parent"), self.instance
        if (
            node.pk
            and parent is not None
            and (parent.pk == node.pk or parent.path.startswith(node.path + "/"))
        ):
            self.add_error("parent", "A category cannot move under its own subtree.")
        return cleaned


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    list_display = ("path", "name", "parent", "position", "product_count")
    list_select_related = ("parent",)
    search_fields = ("name", "path")
    readonly_fields = ("path",)
    ordering = ("path",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_products=Count("products"))

    @admin.display(description="products", ordering="n_products")
    def product_count(self, obj):
        return obj.n_products

    def save_model(self, request, obj, form, change):
        """Paths are derived: create and move through the service, which rewrites the subtree."""
        data = form.cleaned_data
        if change:
            saved = services.update_category(
                category=obj,
                name=data["name"],
                slug=data["slug"],
                parent=data["parent"],
                position=data["position"],
            )
        else:
            saved = services.create_category(
                name=data["name"], slug=data["slug"], parent=data["parent"], position=data["position"]
            )
        obj.pk, obj.path = saved.pk, saved.path


@admin.register(Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "type", "is_variant_axis")
    list_filter = ("type", "is_variant_axis")
    search_fields = ("code", "name")


# --- products and variants ----------------------------------------------------------------------


class VariantForm(forms.ModelForm):
    class Meta:
        model = Variant
        fields = ("sku", "gtin", "title", "attributes", "weight_grams", "position", "is_active")

    def clean_gtin(self):
        try:
            return services.validate_gtin(self.cleaned_data.get("gtin"))
        except DomainError as exc:
            raise _form_error(exc) from None


class VariantInline(admin.TabularInline):
    model = Variant
    form = VariantForm
    fields = ("sku", "gtin", "title", "position", "weight_grams", "is_active")
    extra = 0
    show_change_link = True


URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class ImageInline(admin.TabularInline):
    model = ProductImage
    formfield_overrides = URL_FIELDS
    fields = ("url", "alt", "variant", "position")
    raw_id_fields = ("variant",)
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("title", "brand", "category", "variant_count", "is_active", "updated_at")
    list_filter = ("is_active", "category")
    list_select_related = ("category",)
    search_fields = ("title", "slug", "brand", "variants__sku")
    prepopulated_fields = {"slug": ("title",)}
    raw_id_fields = ("category",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [VariantInline, ImageInline]
    actions = ["deactivate", "activate"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_variants=Count("variants"))

    @admin.display(description="variants", ordering="n_variants")
    def variant_count(self, obj):
        return obj.n_variants

    def _set_active(self, request, queryset, active: bool):
        for product in queryset:
            services.update_product(product=product, is_active=active)
        self.message_user(request, f"{'Activated' if active else 'Deactivated'} {len(queryset)} product(s).")

    @admin.action(description="Deactivate (take off sale everywhere)", permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)


class ListingForm(forms.ModelForm):
    class Meta:
        model = ChannelListing
        fields = ("channel", "is_published", "price", "compare_at_price", "title")

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("channel")
        if channel is not None:
            self.instance.currency = channel.currency  # a listing is always in its channel's currency
        price, compare_at = cleaned.get("price"), cleaned.get("compare_at_price")
        if price is not None and compare_at is not None and compare_at < price:
            self.add_error("compare_at_price", "The compare-at ('was') price must not be below the price.")
        return cleaned


class ListingInline(admin.TabularInline):
    model = ChannelListing
    form = ListingForm
    fields = ("channel", "is_published", "price", "compare_at_price", "currency", "title", "published_at")
    readonly_fields = ("currency", "published_at")
    extra = 0


class OfferForm(forms.ModelForm):
    """The one-preferred-offer rule is applied on save (the other offer is unset), not refused here."""

    class Meta:
        model = SupplierOffer
        fields = (
            "supplier",
            "variant",
            "supplier_sku",
            "cost",
            "currency",
            "lead_time_days",
            "min_order_quantity",
            "pack_size",
            "is_preferred",
            "freight_per_unit",
            "duty_percent",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("freight_per_unit", "duty_percent"):
            self.fields[name].required = False  # blank = none

    def clean_currency(self):
        try:
            return validate_currency(self.cleaned_data.get("currency") or "")
        except DomainError as exc:
            raise _form_error(exc) from None

    def clean_freight_per_unit(self):
        return self.cleaned_data.get("freight_per_unit") or Decimal(0)

    def clean_duty_percent(self):
        return self.cleaned_data.get("duty_percent") or Decimal(0)

    def _get_validation_exclusions(self):
        return {*super()._get_validation_exclusions(), "is_preferred"}


class OfferFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        preferred = [
            f for f in self.forms if f.cleaned_data.get("is_preferred") and not f.cleaned_data.get("DELETE")
        ]
        if len(preferred) > 1:
            raise forms.ValidationError("Mark at most one offer of a variant as preferred.")


class OfferInline(admin.TabularInline):
    model = SupplierOffer
    form = OfferForm
    formset = OfferFormSet
    fields = (
        "supplier",
        "supplier_sku",
        "cost",
        "currency",
        "lead_time_days",
        "min_order_quantity",
        "pack_size",
        "is_preferred",
        "freight_per_unit",
        "duty_percent",
        "landed_unit_cost",
    )
    readonly_fields = ("landed_unit_cost",)
    extra = 0

    @admin.display(description="landed unit cost")
    def landed_unit_cost(self, obj):
        """Cost + freight + duty, as purchase orders drafted from this offer will record it."""
        if obj is None or obj.pk is None:
            return "—"
        return f"{services.offer_landed_unit_cost(obj)} {obj.currency}"


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    form = VariantForm
    list_display = ("sku", "product", "title", "gtin", "is_active", "updated_at")
    list_filter = ("is_active",)
    list_select_related = ("product",)
    search_fields = ("sku", "gtin", "title", "product__title")
    inlines = [ListingInline, OfferInline]
    actions = ["deactivate"]

    def save_formset(self, request, form, formset, change):
        if formset.model is not SupplierOffer:
            return super().save_formset(request, form, formset, change)
        offers = formset.save(commit=False)
        for offer in formset.deleted_objects:
            services.delete_offer(offer=offer)
        # Non-preferred first, so the preferred one is saved last and unsets any other.
        for offer in sorted(offers, key=lambda o: o.is_preferred):
            services.save_offer(offer=offer)
        return None

    fields = ("product", *VariantForm.Meta.fields)
    raw_id_fields = ("product",)

    @admin.action(description="Deactivate selected variants", permissions=["change"])
    def deactivate(self, request, queryset):
        for variant in queryset:
            services.update_variant(variant=variant, is_active=False)
        self.message_user(request, f"Deactivated {len(queryset)} variant(s).")


@admin.register(ProductImage)
class ProductImageAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELDS
    list_display = ("product", "variant", "url", "position")
    list_select_related = ("product", "variant")
    search_fields = ("product__title", "variant__sku", "url")
    raw_id_fields = ("product", "variant")


@admin.register(ChannelListing)
class ChannelListingAdmin(admin.ModelAdmin):
    form = ListingForm
    list_display = (
        "variant",
        "product_title",
        "channel",
        "is_published",
        "price",
        "compare_at_price",
        "currency",
        "updated_at",
    )
    list_filter = ("channel", "is_published")
    list_select_related = ("channel", "variant", "variant__product")
    search_fields = ("variant__sku", "variant__product__title", "title")
    raw_id_fields = ("variant",)
    readonly_fields = ("currency", "published_at", "updated_at")
    actions = ["publish", "unpublish"]

    fields = ("variant", *ListingForm.Meta.fields, "currency", "published_at", "updated_at")

    @admin.display(description="product", ordering="variant__product__title")
    def product_title(self, obj):
        return obj.variant.product.title

    @admin.action(description="Publish selected listings", permissions=["change"])
    def publish(self, request, queryset):
        changed = services.set_listings_published(listings=queryset, published=True)
        self.message_user(request, f"Published {changed} listing(s).")

    @admin.action(description="Unpublish selected listings", permissions=["change"])
    def unpublish(self, request, queryset):
        changed = services.set_listings_published(listings=queryset, published=False)
        self.message_user(request, f"Unpublished {changed} listing(s).")


# --- suppliers ----------------------------------------------------------------------------------


class SupplierForm(forms.ModelForm):
    class Meta:
        model = Supplier
        fields = (
            "code",
            "name",
            "email",
            "phone",
            "country",
            "city",
            "postcode",
            "currency",
            "default_lead_time_days",
            "is_active",
        )

    def clean(self):
        cleaned = super().clean()
        checks = [
            ("country", lambda v: services.validate_country(v or "")),
            ("email", lambda v: services.normalise_email(v or "")),
            ("currency", lambda v: validate_currency(v or "")),
            ("phone", lambda v: services.normalise_phone(v or "", region=cleaned.get("country") or None)),
        ]
        for name, check in checks:
            if name in cleaned:
                try:
                    cleaned[name] = check(cleaned[name])
                except DomainError as exc:
                    self.add_error(name, _form_error(exc))
        return cleaned


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    form = SupplierForm
    list_display = ("code", "name", "country", "currency", "email", "phone", "offer_count", "is_active")
    list_filter = ("is_active", "country", "currency")
    search_fields = ("code", "name", "email")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_offers=Count("offers"))

    @admin.display(description="offers", ordering="n_offers")
    def offer_count(self, obj):
        return obj.n_offers


@admin.register(SupplierOffer)
class SupplierOfferAdmin(admin.ModelAdmin):
    form = OfferForm
    list_display = (
        "variant",
        "supplier",
        "cost",
        "currency",
        "lead_time_days",
        "min_order_quantity",
        "pack_size",
        "is_preferred",
        "freight_per_unit",
        "duty_percent",
        "landed_unit_cost",
    )
    list_filter = ("is_preferred", "supplier")
    list_select_related = ("variant", "supplier")
    search_fields = ("variant__sku", "supplier__code", "supplier__name", "supplier_sku")
    raw_id_fields = ("variant",)
    fields = (*OfferForm.Meta.fields, "landed_unit_cost")
    readonly_fields = ("landed_unit_cost",)
    actions = ["make_preferred"]

    landed_unit_cost = OfferInline.landed_unit_cost

    def save_model(self, request, obj, form, change):
        services.save_offer(offer=obj)

    @admin.action(
        description="Make preferred (unsets the variant's other preferred offer)", permissions=["change"]
    )
    def make_preferred(self, request, queryset):
        done = set()
        for offer in queryset.select_related("supplier", "variant"):
            if offer.variant_id in done:
                self.message_user(
                    request,
                    f"Several offers for {offer.variant.sku} selected; kept the first.",
                    messages.WARNING,
                )
                continue
            services.update_offer(offer=offer, is_preferred=True)
            done.add(offer.variant_id)
        self.message_user(request, f"{len(done)} offer(s) are now preferred.")
