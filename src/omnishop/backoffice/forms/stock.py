"""Forms of the stock desk: returns, receiving, adjustments, transfers, cycle counts and purchasing.

They parse and check what a person typed; the inventory and orders services do the work. Lines of SKUs
are typed one per line ("SKU quantity"), which keyboard users and scanners both handle well.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from django import forms
from django.utils.translation import gettext_lazy as _

from omnishop.backoffice.kit import unit_money
from omnishop.catalog.models import Supplier
from omnishop.inventory.models import StockLocation
from omnishop.inventory.services import ADJUSTMENT_REASONS
from omnishop.inventory.services.stock import MAX_QUANTITY


def new_token() -> str:
    return uuid.uuid4().hex


class OnceForm(forms.Form):
    """A form whose work runs once: the token travels with the page (through the confirmation step), and
    a second post of the same page replays the first result instead of booking again."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("token", new_token())
        super().__init__(*args, **kwargs)


def locations():
    return StockLocation.objects.filter(is_active=True).order_by("code")


class LocationField(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("empty_label", _("Choose a location"))
        super().__init__(queryset=locations(), to_field_name="code", **kwargs)

    def label_from_instance(self, obj: StockLocation) -> str:
        return f"{obj.name} ({obj.code})"


class SkuLinesField(forms.CharField):
    """One line per SKU: "SKU quantity", or "SKU quantity unit-cost" when `with_cost`. Returns a list of
    (sku, quantity, cost or None); a SKU named twice is refused here, an unknown SKU by the service."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40, "spellcheck": "false"})

    def __init__(self, *, with_cost: bool = False, allow_zero: bool = False, **kwargs):
        self.with_cost = with_cost
        self.allow_zero = allow_zero
        kwargs.setdefault(
            "help_text",
            _("One line per SKU: SKU, a space, the quantity, optionally a unit cost.")
            if with_cost
            else _("One line per SKU: SKU, a space, the quantity."),
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        out, seen = [], set()
        for number, raw in enumerate(text.splitlines(), start=1):
            parts = raw.replace(",", " ").replace(";", " ").split()
            if not parts:
                continue
            if len(parts) < 2 or len(parts) > (3 if self.with_cost else 2):
                raise forms.ValidationError(
                    _("Line %(n)s: write the SKU, a space and the quantity."), params={"n": number}
                )
            sku, quantity = parts[0], parts[1]
            try:
                quantity = int(quantity)
            except ValueError:
                raise forms.ValidationError(
                    _("Line %(n)s: the quantity must be a whole number."), params={"n": number}
                ) from None
            if quantity < (0 if self.allow_zero else 1) or quantity > MAX_QUANTITY:
                raise forms.ValidationError(
                    _("Line %(n)s: the quantity must be at least %(min)s."),
                    params={"n": number, "min": 0 if self.allow_zero else 1},
                )
            cost = None
            if len(parts) == 3:
                try:
                    cost = Decimal(parts[2])
                except InvalidOperation:
                    raise forms.ValidationError(
                        _("Line %(n)s: the unit cost must be a number."), params={"n": number}
                    ) from None
                if cost < 0 or not cost.is_finite():
                    raise forms.ValidationError(
                        _("Line %(n)s: the unit cost cannot be negative."), params={"n": number}
                    )
            if sku in seen:
                raise forms.ValidationError(_("%(sku)s is named twice."), params={"sku": sku})
            seen.add(sku)
            out.append((sku, quantity, cost))
        if self.required and not out:
            raise forms.ValidationError(_("Name at least one SKU."))
        return out


# --- returns -------------------------------------------------------------------------------------------


class ReturnDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    note = forms.CharField(
        label=_("Reason"),
        max_length=500,
        required=False,
        help_text=_("Required to reject; it goes on the order's timeline."),
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not data.get("note", "").strip():
            self.add_error("note", _("Give the reason for rejecting the return."))
        return data


class ReceiveReturnForm(forms.Form):
    """Restock or write off each line of the return; restocked units go to one location."""

    location = LocationField(label=_("Restock at"), required=False)

    def __init__(self, *args, return_lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.return_lines = list(return_lines)
        for rl in self.return_lines:
            self.fields[f"line_{rl.order_line_id}"] = forms.ChoiceField(
                label=_("%(qty)s × %(sku)s") % {"qty": rl.quantity, "sku": rl.order_line.sku},
                choices=[("restock", _("Restock (back on sale)")), ("write_off", _("Write off"))],
                initial="restock",
            )

    def dispositions(self) -> dict[int, str]:
        return {rl.order_line_id: self.cleaned_data[f"line_{rl.order_line_id}"] for rl in self.return_lines}

    def clean(self):
        data = super().clean()
        restocks = self.is_bound and not self.errors and "restock" in self.dispositions().values()
        if restocks and not data.get("location"):
            self.add_error("location", _("Choose where the restocked units go."))
        return data


class ExchangeForm(forms.Form):
    lines = SkuLinesField(label=_("Replacement items"))


# --- stock ---------------------------------------------------------------------------------------------


class SkuSearchForm(forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=64)


class ReceiveStockForm(OnceForm):
    sku = forms.CharField(label=_("SKU"), max_length=64)
    location = LocationField(label=_("Location"))
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY)
    reference = forms.CharField(
        label=_("Reference"), max_length=100, required=False, help_text=_("e.g. the delivery note")
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class AdjustStockForm(OnceForm):
    sku = forms.CharField(label=_("SKU"), max_length=64)
    location = LocationField(label=_("Location"))
    delta = forms.IntegerField(
        label=_("Change of on hand"),
        help_text=_("Positive adds units, negative removes them (only free units can be removed)."),
        min_value=-MAX_QUANTITY,
        max_value=MAX_QUANTITY,
    )
    reason_code = forms.ChoiceField(
        label=_("Reason"), choices=[(k, _(v)) for k, v in sorted(ADJUSTMENT_REASONS.items())]
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("A change of 0 changes nothing."))
        return delta


class TransferForm(OnceForm):
    source = LocationField(label=_("From"))
    destination = LocationField(label=_("To"))
    lines = SkuLinesField(label=_("Items"))
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def clean(self):
        data = super().clean()
        if data.get("source") and data.get("source") == data.get("destination"):
            self.add_error("destination", _("Choose a different location from the source."))
        return data


class StartCountForm(forms.Form):
    location = LocationField(label=_("Location to count"))


class CountSheetForm(forms.Form):
    """Counted quantity per SKU stocked at the location (blank = not counted), plus SKUs found there."""

    extra = SkuLinesField(
        label=_("Other SKUs found"),
        required=False,
        allow_zero=True,
        help_text=_("SKUs not listed above that are on the shelf: SKU, a space, the counted quantity."),
    )

    def __init__(self, *args, levels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.skus: dict[str, str] = {}
        for level in levels:
            name = f"counted_{level.variant_id}"
            self.skus[name] = level.variant.sku
            self.fields[name] = forms.IntegerField(
                label=_("Counted %(sku)s") % {"sku": level.variant.sku},
                min_value=0,
                max_value=MAX_QUANTITY,
                required=False,
            )
        self.order_fields([*self.skus, "extra"])

    def counted(self) -> list[tuple[str, int]]:
        out = [(sku, self.cleaned_data[name]) for name, sku in self.skus.items()]
        out = [(sku, n) for sku, n in out if n is not None]
        return out + [(sku, n) for sku, n, _cost in self.cleaned_data["extra"]]

    def clean(self):
        data = super().clean()
        if self.is_bound and not self.errors:
            listed = set(self.skus.values())
            for sku, _n, _cost in data.get("extra", []):
                if sku in listed:
                    self.add_error("extra", _("%(sku)s is listed above; enter it there.") % {"sku": sku})
            if not self.errors and not self.counted():
                raise forms.ValidationError(_("Enter at least one counted quantity."))
        return data


# --- purchasing ----------------------------------------------------------------------------------------


class ReplenishForm(forms.Form):
    location = LocationField(label=_("Location"), required=False, empty_label=_("All locations"))


class PurchaseOrderForm(OnceForm):
    supplier = forms.ModelChoiceField(
        label=_("Supplier"),
        queryset=Supplier.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        empty_label=_("Choose a supplier"),
    )
    location = LocationField(label=_("Deliver to"))
    lines = SkuLinesField(label=_("Lines"), with_cost=True)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class DraftQuantitiesForm(forms.Form):
    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.skus: dict[str, str] = {}
        for line in lines:
            name = f"quantity_{line.pk}"
            self.skus[name] = line.variant.sku
            self.fields[name] = forms.IntegerField(
                label=_("Quantity of %(sku)s") % {"sku": line.variant.sku},
                min_value=1,
                max_value=MAX_QUANTITY,
                initial=line.quantity,
            )

    def quantities(self) -> dict[str, int]:
        return {sku: self.cleaned_data[name] for name, sku in self.skus.items()}


class ReceivePurchaseOrderForm(OnceForm):
    """Units delivered now per open line (0 = none of it in this delivery), each shown with the landed unit
    cost it will be booked at, and the delivery's extra charge (freight, clearance…) if any."""

    def __init__(self, *args, lines=(), currency: str = "", with_costs: bool = True, **kwargs):
        """`with_costs`: False for staff who may not see costs (the warehouse) — no cost shown, and no extra
        charge asked (a freight invoice is the buyers' business)."""
        super().__init__(*args, **kwargs)
        self.skus: dict[str, str] = {}
        for line in lines:
            name = f"receive_{line.pk}"
            self.skus[name] = line.variant.sku
            self.fields[name] = forms.IntegerField(
                label=_("Receive %(sku)s") % {"sku": line.variant.sku},
                help_text=_("Lands at %(cost)s a unit (before this delivery's extra charge).")
                % {"cost": unit_money(line.landed_unit_cost, currency)}
                if with_costs
                else "",
                min_value=0,
                max_value=MAX_QUANTITY,
                initial=0,
                required=False,  # blank = none of it in this delivery
            )
        if not with_costs:
            return
        self.fields["extra_charge"] = forms.DecimalField(
            label=_("Extra charge for this delivery"),
            help_text=_(
                "Freight, customs clearance or other charges in %(currency)s invoiced for this delivery "
                "alone; spread over its lines by value. Leave blank if none."
            )
            % {"currency": currency},
            min_value=0,
            max_digits=14,
            decimal_places=4,
            required=False,
        )

    def received(self) -> list[tuple[str, int]]:
        out = [(sku, self.cleaned_data.get(name)) for name, sku in self.skus.items()]
        return [(sku, n) for sku, n in out if n]

    def clean(self):
        data = super().clean()
        if self.is_bound and not self.errors and not self.received():
            raise forms.ValidationError(_("Enter the units delivered for at least one line."))
        return data
