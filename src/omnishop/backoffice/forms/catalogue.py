"""Forms of the catalogue desk: the product filter, bulk publication and the bulk price change."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from omnishop.catalog.models import Category, Product
from omnishop.catalog.services import PriceRule
from omnishop.channels.models import Channel


def _channels():
    return Channel.objects.order_by("code")


class ProductFilterForm(forms.Form):
    """Which products: by title or SKU, category, brand, channel and publication."""

    q = forms.CharField(label=_("Title or SKU"), required=False, max_length=200)
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.order_by("path"), required=False, empty_label=_("Any")
    )
    brand = forms.CharField(label=_("Brand"), required=False, max_length=200)
    channel = forms.ModelChoiceField(
        label=_("Listed on channel"), queryset=_channels(), required=False, empty_label=_("Any")
    )
    published = forms.TypedChoiceField(
        label=_("Published"),
        choices=[("", _("Either")), ("yes", _("Published")), ("no", _("Not published"))],
        required=False,
        coerce=lambda value: value == "yes",
        empty_value=None,
    )

    def filters(self) -> dict:
        """Keyword arguments for catalog.services.products_matching (an unbound or invalid form: none)."""
        if not self.is_bound or not self.is_valid():
            return {}
        data = self.cleaned_data
        return {name: data[name] for name in ("q", "category", "brand", "channel", "published")}


class SelectionForm(ProductFilterForm):
    """Products ticked in the list, or every product matching the filter carried along with them."""

    SELECTED = "selected"
    MATCHING = "matching"

    product = forms.ModelMultipleChoiceField(
        queryset=Product.objects.all(), required=False, widget=forms.MultipleHiddenInput
    )
    scope = forms.ChoiceField(
        label=_("Apply to"),
        choices=[(SELECTED, _("The products ticked")), (MATCHING, _("Every product matching the filter"))],
        initial=SELECTED,
        required=False,
    )

    def clean(self):
        data = super().clean()
        if data.get("scope") != self.MATCHING and not data.get("product"):
            raise forms.ValidationError(
                _("Tick at least one product, or apply to every product matching the filter.")
            )
        return data

    def product_ids(self, matching) -> list[int]:
        if self.cleaned_data.get("scope") == self.MATCHING:
            return list(matching(**self.filters()).values_list("pk", flat=True))
        return [p.pk for p in self.cleaned_data["product"]]


class BulkPublishForm(SelectionForm):
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"

    on_channel = forms.ModelChoiceField(
        label=_("On channel"), queryset=_channels(), required=False, empty_label=_("Every channel")
    )
    action = forms.ChoiceField(choices=[(PUBLISH, _("Publish")), (UNPUBLISH, _("Unpublish"))])


class BulkPriceForm(SelectionForm):
    field_order = [
        "price_channel",
        "rule",
        "value",
        "scope",
        "q",
        "category",
        "brand",
        "channel",
        "published",
    ]

    price_channel = forms.ModelChoiceField(label=_("Channel whose prices change"), queryset=_channels())
    rule = forms.ChoiceField(
        label=_("Change"),
        choices=[
            (PriceRule.SET, _("Set the price to")),
            (PriceRule.PERCENT, _("Change by percent (+ or −)")),
            (PriceRule.AMOUNT, _("Change by an amount (+ or −)")),
        ],
        initial=PriceRule.PERCENT,
        widget=forms.RadioSelect,
    )
    value = forms.DecimalField(
        label=_("Value"),
        max_digits=14,
        decimal_places=4,
        help_text=_(
            "e.g. 19.99 to set, 10 or -15 for percent, -2.50 for an amount. Rounded to the currency."
        ),
    )
    expected = forms.CharField(widget=forms.HiddenInput, required=False)


class ProductMatchForm(forms.Form):
    """One decision on the product review queue (merge or keep apart a candidate) or an undo of a merge."""

    MERGE, KEEP_APART, UNDO = "merge", "keep_apart", "undo"

    action = forms.ChoiceField(
        choices=[(MERGE, _("Merge")), (KEEP_APART, _("Keep apart")), (UNDO, _("Undo the merge"))]
    )
    candidate = forms.IntegerField(required=False, min_value=1)
    merge = forms.IntegerField(required=False, min_value=1)

    def clean(self):
        data = super().clean()
        needs = "merge" if data.get("action") == self.UNDO else "candidate"
        if data.get("action") and not data.get(needs):
            raise forms.ValidationError(_("Choose what to decide on."))
        return data
