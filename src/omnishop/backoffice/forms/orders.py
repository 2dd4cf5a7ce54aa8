"""Forms of the orders desk: the order search and one form per operation on an order.

They check what can be checked without the database's state (shapes, ranges, the refund limit); the
services decide the rest and their refusals land on these forms' fields (see web/common.attempt)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from omnishop.core.money import minor_units, quantize
from omnishop.orders.models import Order, OrderLine


def new_token() -> str:
    """The idempotency key a form carries from the moment it is first shown: posting it twice acts once."""
    return uuid.uuid4().hex


class OrderSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Order, customer, e-mail, phone or external id"), required=False, max_length=200
    )
    sku = forms.CharField(label=_("SKU"), required=False, max_length=64)
    status = forms.ChoiceField(label=_("Status"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    placed_from = forms.DateField(
        label=_("Placed from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    placed_to = forms.DateField(
        label=_("Placed until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, channels: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("Any status")), *Order.Status.choices]
        self.fields["channel"].choices = [("", _("Any channel")), *channels]

    def clean(self):
        data = super().clean()
        start, end = data.get("placed_from"), data.get("placed_to")
        if start and end and start > end:
            self.add_error("placed_to", _("The end of the range is before its start."))
        return data


class TokenForm(forms.Form):
    """A form that may act once only: `token` is its idempotency key."""

    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("token", new_token())


class ShipForm(TokenForm):
    carrier = forms.ChoiceField(label=_("Carrier"))
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=100)
    parcels = forms.IntegerField(label=_("Parcels"), min_value=1, max_value=999, initial=1)

    def __init__(self, *args, carriers: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["carrier"].choices = [("", _("Choose a carrier")), *carriers]
        if not carriers:
            self.fields["carrier"].help_text = _(
                "No carrier is configured yet (admin → Shipping → Carriers)."
            )

    def clean_tracking_number(self) -> str:
        value = self.cleaned_data["tracking_number"].strip()
        if not value:
            raise forms.ValidationError(_("Enter the tracking number."))
        return value


class AmountForm(TokenForm):
    """An amount in the order's currency, with the refund limit for staff without the finance permission."""

    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=4)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(self, *args, currency: str, limit: Decimal | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency, self.limit = currency, limit
        self.fields["amount"].label = _("Amount (%(currency)s)") % {"currency": currency}
        if limit is not None:
            self.fields["amount"].help_text = _(
                "Up to %(limit)s %(currency)s; above that the finance role decides."
            ) % {"limit": quantize(limit, currency), "currency": currency}

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError(_("The amount must be positive."))
        if quantize(amount, self.currency) != amount:
            raise forms.ValidationError(
                _("%(currency)s amounts have %(digits)s decimal places.")
                % {"currency": self.currency, "digits": minor_units(self.currency)}
            )
        if self.limit is not None and amount > self.limit:
            raise forms.ValidationError(
                _(
                    "Above %(limit)s %(currency)s a refund needs the finance role's permission "
                    "(payments.change_refund)."
                )
                % {"limit": quantize(self.limit, self.currency), "currency": self.currency}
            )
        return amount


def line_field(name: str) -> str:
    return f"line_{name}"


def line_label(line: OrderLine, count: int) -> str:
    return _("%(sku)s %(title)s — units (of %(count)s)") % {
        "sku": line.sku,
        "title": line.title,
        "count": count,
    }


class LinesForm(TokenForm):
    """A quantity per line that still has unshipped units (0 or empty = none of it)."""

    def __init__(self, *args, lines: list[OrderLine], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = [x for x in lines if x.unshipped > 0]
        for line in self.lines:
            self.fields[line_field(line.pk)] = forms.IntegerField(
                label=line_label(line, line.unshipped),
                min_value=0,
                max_value=line.unshipped,
                required=False,
            )

    def quantities(self) -> dict[int, int]:
        return {
            x.pk: self.cleaned_data[line_field(x.pk)]
            for x in self.lines
            if self.cleaned_data.get(line_field(x.pk))
        }


class CancelForm(LinesForm):
    everything = forms.BooleanField(label=_("Cancel every unshipped item"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("everything") and not self.quantities():
            raise forms.ValidationError(_("Tick “Cancel every unshipped item” or give the units to cancel."))
        return data


class SplitForm(LinesForm):
    def clean(self):
        data = super().clean()
        if not self.errors and not self.quantities():
            raise forms.ValidationError(_("Give the units to move into the new order."))
        return data


class AddressForm(TokenForm):
    name = forms.CharField(label=_("Full name"), max_length=200)
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    line1 = forms.CharField(label=_("Address"), max_length=200)
    line2 = forms.CharField(label=_("Address line 2"), max_length=200, required=False)
    city = forms.CharField(label=_("City"), max_length=100)
    postcode = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    country = forms.CharField(
        label=_("Country"), max_length=2, min_length=2, help_text=_("ISO code, e.g. GB, DE, FR")
    )
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)

    ADDRESS = ("name", "company", "line1", "line2", "city", "postcode", "region", "country", "phone")

    def address(self) -> dict:
        return {name: self.cleaned_data.get(name) or "" for name in self.ADDRESS}


class MergeForm(TokenForm):
    orders = forms.MultipleChoiceField(
        label=_("Merge these orders of the customer into one"), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, candidates: list[Order], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["orders"].choices = [
            (
                o.number,
                f"{o.number} — {o.get_status_display()} — {quantize(o.total, o.currency)} {o.currency}",
            )
            for o in candidates
        ]
        if not candidates:
            self.fields["orders"].help_text = _(
                "The customer has no other open, unshipped order on this channel."
            )


RESOLUTIONS = [
    ("backorder", _("Backorder: wait for stock (first in, first out)")),
    ("cancel_unavailable", _("Cancel the missing units and refund them")),
    ("substitute", _("Substitute another SKU (at the price paid)")),
    ("acknowledge", _("Acknowledge: followed up outside (carrier, shopper)")),
]


def substitute_field(line_id: int) -> str:
    return f"substitute_{line_id}"


class ResolveForm(TokenForm):
    action = forms.ChoiceField(label=_("Decision"), choices=RESOLUTIONS, widget=forms.RadioSelect)

    def __init__(self, *args, lines: list[OrderLine], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only lines not held at all can take a substitute (the service refuses the others).
        self.lines = [
            x for x in lines if x.open_quantity > x.allocated and not x.allocated and not x.fulfilled
        ]
        for line in self.lines:
            self.fields[substitute_field(line.pk)] = forms.CharField(
                label=_("Substitute SKU for %(sku)s") % {"sku": line.sku}, max_length=64, required=False
            )

    def substitutes(self) -> dict[int, str]:
        return {
            x.pk: self.cleaned_data[substitute_field(x.pk)].strip()
            for x in self.lines
            if (self.cleaned_data.get(substitute_field(x.pk)) or "").strip()
        }

    def clean(self):
        data = super().clean()
        if data.get("action") == "substitute" and not self.substitutes():
            if self.lines:
                self.add_error(substitute_field(self.lines[0].pk), _("Name the SKU that replaces this one."))
            else:
                self.add_error("action", _("No line of this order is waiting for stock to substitute."))
        return data


class NoteForm(TokenForm):
    text = forms.CharField(label=_("Note"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
