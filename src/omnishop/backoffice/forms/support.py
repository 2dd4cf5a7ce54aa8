"""Forms of the support desk: the inbox filter, the reply, the conversation's controls, the order link and
the actions on an order that the orders desk does not already have a form for (a return, its decision,
resending the tracking link). Refund, credit, cancel, address and reship reuse the orders desk's forms."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from omnishop.orders.models import Order, OrderLine, ReturnRequest
from omnishop.support.models import CannedReply, Conversation, Inbox

from .orders import TokenForm

BOXES = [("all", _("All")), ("mine", _("Mine")), ("unassigned", _("Unassigned"))]


class InboxFilterForm(forms.Form):
    box = forms.ChoiceField(label=_("Show"), choices=BOXES, required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)
    inbox = forms.TypedChoiceField(label=_("Inbox"), required=False, coerce=int, empty_value=None)
    priority = forms.ChoiceField(label=_("Priority"), required=False)
    due_soon = forms.BooleanField(label=_("SLA due within 4 hours or overdue"), required=False)
    q = forms.CharField(
        label=_("Customer, e-mail, phone, order number or text"), required=False, max_length=200
    )

    def __init__(self, *args, inboxes: list[Inbox], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("Any status")), *Conversation.Status.choices]
        self.fields["priority"].choices = [("", _("Any priority")), *Conversation.Priority.choices]
        self.fields["inbox"].choices = [("", _("All my inboxes")), *((i.pk, i.name) for i in inboxes)]


SEND_AS = [("reply", _("Reply to the customer")), ("note", _("Internal note"))]
THEN = [
    ("", _("Leave the status")),
    (Conversation.Status.PENDING, _("Wait for the customer")),
    (Conversation.Status.RESOLVED, _("Resolve")),
]


class ReplyForm(forms.Form):
    canned = forms.TypedChoiceField(label=_("Canned reply"), required=False, coerce=int, empty_value=None)
    body = forms.CharField(
        label=_("Your message"), required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 6})
    )
    send_as = forms.ChoiceField(
        label=_("Send as"), choices=SEND_AS, initial="reply", widget=forms.RadioSelect
    )
    then = forms.ChoiceField(label=_("Then"), choices=THEN, required=False)
    last_seen = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args, canned: list[CannedReply], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.canned_replies = {c.pk: c for c in canned}
        self.fields["canned"].choices = [
            ("", _("Choose a canned reply")),
            *((c.pk, f"{c.title} ({c.language})") for c in canned),
        ]


class ControlsForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Conversation.Status.choices)
    snoozed_until = forms.DateTimeField(
        label=_("Snooze until (UTC)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    priority = forms.ChoiceField(label=_("Priority"), choices=Conversation.Priority.choices)
    assignee = forms.TypedChoiceField(label=_("Assignee"), required=False, coerce=int, empty_value=None)
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=500, help_text=_("Separated by commas.")
    )

    def __init__(self, *args, agents: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            ("", _("Nobody")),
            *((a.pk, a.get_full_name() or a.get_username()) for a in agents),
        ]

    def tag_names(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class LinkOrderForm(forms.Form):
    order = forms.ChoiceField(label=_("The order it is about"), required=False)

    def __init__(self, *args, orders: list[Order], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order"].choices = [
            ("", _("No order")),
            *((o.number, f"{o.number} — {o.get_status_display()}") for o in orders),
        ]


class VerificationMixin(forms.Form):
    """Shown when the sender is unverified: the agent confirms they checked the customer another way."""

    verified_elsewhere = forms.BooleanField(
        label=_("I verified the customer another way (e.g. a call back to the number on the account)"),
        required=False,
    )
    how = forms.CharField(label=_("How you verified them"), required=False, max_length=200)


def with_verification(form_class: type[forms.Form]) -> type[forms.Form]:
    """The same form with the verification fields (for a conversation whose sender is unverified)."""
    return type(f"Verified{form_class.__name__}", (form_class, VerificationMixin), {})


def return_line_field(line_id: int) -> str:
    return f"return_{line_id}"


class ReturnForm(TokenForm):
    refund_to = forms.ChoiceField(label=_("Refund to"), choices=ReturnRequest.RefundTo.choices)
    reason = forms.CharField(label=_("Reason"), max_length=200)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args, lines: list[OrderLine], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = [x for x in lines if x.fulfilled - x.returned > 0]
        for line in self.lines:
            self.fields[return_line_field(line.pk)] = forms.IntegerField(
                label=_("%(sku)s %(title)s — units to return (of %(count)s)")
                % {"sku": line.sku, "title": line.title, "count": line.fulfilled - line.returned},
                min_value=0,
                max_value=line.fulfilled - line.returned,
                required=False,
            )
        if not self.lines:
            self.fields["refund_to"].help_text = _("Nothing of this order has been delivered yet.")

    def return_lines(self) -> list[tuple[int, int, str]]:
        reason = self.cleaned_data.get("reason", "")
        return [
            (x.pk, self.cleaned_data[return_line_field(x.pk)], reason)
            for x in self.lines
            if self.cleaned_data.get(return_line_field(x.pk))
        ]

    def clean(self):
        data = super().clean()
        if not self.errors and not self.return_lines():
            raise forms.ValidationError(_("Give the units to return."))
        return data


class DecideReturnForm(TokenForm):
    rma = forms.ChoiceField(label=_("Return"))
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args, returns: list[ReturnRequest], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.returns = {r.number: r for r in returns}
        self.fields["rma"].choices = [(r.number, r.number) for r in returns]


class TrackingForm(TokenForm):
    """Nothing to fill in: the confirmation step shows what will be sent."""
