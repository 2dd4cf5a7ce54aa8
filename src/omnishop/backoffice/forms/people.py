"""Forms of the customer desk: the search box, a merge from the 360 and the duplicates queue's decisions."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from omnishop.channels.models import Channel


class CustomerSearchForm(forms.Form):
    q = forms.CharField(label=_("Name, e-mail, phone or channel customer id"), required=False, max_length=200)
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.order_by("code"), required=False, empty_label=_("Any")
    )


class MergeForm(forms.Form):
    """Merge another record into this one, or this one into the other: the survivor keeps its number."""

    KEEP_THIS = "this"
    KEEP_OTHER = "other"

    other = forms.IntegerField(
        label=_("Other customer's number"),
        min_value=1,
        help_text=_("The number shown on the other customer's page (e.g. 42)."),
    )
    keep = forms.ChoiceField(
        label=_("Which record survives"),
        choices=[(KEEP_THIS, _("This customer")), (KEEP_OTHER, _("The other customer"))],
        initial=KEEP_THIS,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class UndoMergeForm(forms.Form):
    merge = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class DuplicateDecisionForm(forms.Form):
    MERGE_INTO_A = "merge_into_a"
    MERGE_INTO_B = "merge_into_b"
    DISTINCT = "distinct"

    customer_a = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    customer_b = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    score = forms.FloatField(widget=forms.HiddenInput, required=False, min_value=0, max_value=1)
    decision = forms.ChoiceField(
        choices=[(MERGE_INTO_A, MERGE_INTO_A), (MERGE_INTO_B, MERGE_INTO_B), (DISTINCT, DISTINCT)]
    )
