"""Customer desk: search across channels, the customer 360, merge (with a preview) and undo, and the
duplicates review queue. Every change goes through the customers context's services."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from omnishop.core.errors import DomainError
from omnishop.customers import services as customers
from omnishop.customers.models import Customer
from omnishop.orders import services as orders

from ..forms.people import CustomerSearchForm, DuplicateDecisionForm, MergeForm, UndoMergeForm
from ..kit import money
from .common import attempt, confirmed, denied, desk, staff_view

VIEW = "customers.view_customer"
MERGE = "customers.merge_customer"
PAGE_SIZE = 50

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = [
    (gettext_lazy("Customers"), "customers", VIEW),
    (gettext_lazy("Duplicates"), "duplicates", VIEW),
]


def _customer_or_404(pk: int) -> Customer:
    try:
        return customers.get_customer(pk)
    except customers.CustomerNotFound:
        raise Http404(_("No such customer.")) from None


@staff_view(VIEW)
def customer_list(request: HttpRequest) -> HttpResponse:
    form = CustomerSearchForm(request.GET or None)
    found = customers.find_customers()
    if form.is_valid():
        found = customers.find_customers(term=form.cleaned_data["q"], channel=form.cleaned_data["channel"])
    page = Paginator(found.prefetch_related("identities__channel"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return desk(
        request,
        "backoffice/customers/list.html",
        {"form": form, "page": page, "query": request.GET.urlencode()},
        title=_("Customers"),
    )


@staff_view(VIEW)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(pk)
    view = orders.customer_overview(customer=customer)
    view["payments"] = [
        {
            "payment": p,
            "amount": money(p.amount, p.currency),
            "captured": money(p.captured, p.currency),
            "refunded": money(p.refunded, p.currency),
        }
        for p in view["payments"]
    ]
    view["returns"] = [
        {"rma": r, "amount": money(r.refund_amount, r.order.currency)} for r in view["returns"]
    ]
    view["credit_accounts"] = [money(a.balance, a.currency) for a in view["credit_accounts"]]
    view["credit_entries"] = [
        {"entry": e, "amount": money(e.amount, e.account.currency)} for e in view["credit_entries"]
    ]
    return desk(
        request,
        "backoffice/customers/detail.html",
        {
            "customer": customer,
            "view": view,
            "can_merge": request.user.has_perm(MERGE),
            "undo_form": UndoMergeForm(),
        },
        title=_("Customer %(name)s") % {"name": customer},
    )


def _about_other(call):
    """Refusals about either side of a merge belong next to the 'other customer' field."""

    def run():
        try:
            return call()
        except DomainError as exc:
            exc.field = "other"
            raise

    return run


@staff_view(VIEW, MERGE)
def customer_merge(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(pk)
    form = MergeForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def sides():
            other = customers.get_customer(data["other"])
            if data["keep"] == MergeForm.KEEP_THIS:
                return customer, other
            return other, customer

        if confirmed(request):

            def merge():
                survivor, merged = sides()
                return customers.merge_customers(
                    survivor=survivor,
                    merged=merged,
                    actor=request.user,
                    reason=data["reason"] or "merged from the customer 360",
                )

            record = attempt(
                request,
                form,
                _about_other(merge),
                done=_("Merged. The merge can be undone from the merge history."),
            )
            if record is not None:
                return redirect("backoffice:customer", pk=record.survivor_id)
        else:
            try:
                survivor, merged = _about_other(sides)()
                preview = _about_other(lambda: customers.preview_merge(survivor=survivor, merged=merged))()
            except DomainError as exc:
                form.add_error("other", f"{exc.message} ({exc.code})")
    status = 400 if request.method == "POST" and form.errors else 200
    return desk(
        request,
        "backoffice/customers/merge.html",
        {"customer": customer, "form": form, "preview": preview},
        title=_("Merge customer %(name)s") % {"name": customer},
        status=status,
    )


@staff_view(VIEW, MERGE)
@require_POST  # after the permission check: a refused role gets 403 whatever the method
def customer_undo_merge(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(pk)
    form = UndoMergeForm(request.POST)
    if form.is_valid():
        try:
            record = customers.get_merge_record(form.cleaned_data["merge"])
            customers.undo_merge(record=record, actor=request.user)
            messages.success(request, _("Merge %(id)s undone.") % {"id": record.pk})
        except DomainError as exc:
            messages.error(request, f"{exc.message} ({exc.code})")
    else:
        messages.error(request, _("Choose a merge to undo."))
    return redirect("backoffice:customer", pk=customer.pk)


@staff_view(VIEW)
def duplicates(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not request.user.has_perm(MERGE):
            raise denied()
        _decide(request, DuplicateDecisionForm(request.POST))
        return redirect("backoffice:duplicates")
    pairs = customers.find_duplicates(limit=PAGE_SIZE)
    ids = {pk for pair in pairs for pk in (pair.customer_a, pair.customer_b)}
    records = Customer.objects.filter(pk__in=ids).prefetch_related("identities__channel", "addresses")
    by_id = {c.pk: c for c in records}
    rows = [
        {"pair": pair, "a": by_id[pair.customer_a], "b": by_id[pair.customer_b]}
        for pair in pairs
        if pair.customer_a in by_id and pair.customer_b in by_id
    ]
    return desk(
        request,
        "backoffice/customers/duplicates.html",
        {"rows": rows, "can_merge": request.user.has_perm(MERGE)},
        title=_("Possible duplicate customers"),
    )


def _decide(request: HttpRequest, form: DuplicateDecisionForm) -> None:
    if not form.is_valid():
        messages.error(request, _("That decision could not be read; try again."))
        return
    data = form.cleaned_data
    try:
        a = customers.get_customer(data["customer_a"])
        b = customers.get_customer(data["customer_b"])
        if data["decision"] == DuplicateDecisionForm.DISTINCT:
            customers.mark_distinct(customer_a=a, customer_b=b, actor=request.user, note="duplicates review")
            messages.success(request, _("Noted: %(a)s and %(b)s are different people.") % {"a": a, "b": b})
            return
        survivor, merged = (a, b) if data["decision"] == DuplicateDecisionForm.MERGE_INTO_A else (b, a)
        customers.merge_customers(
            survivor=survivor,
            merged=merged,
            actor=request.user,
            reason="duplicates review",
            score=data["score"],
        )
        messages.success(request, _("Merged customer %(m)s into %(s)s.") % {"m": merged.pk, "s": survivor.pk})
    except DomainError as exc:
        messages.error(request, f"{exc.message} ({exc.code})")


urlpatterns = [
    path("customers/", customer_list, name="customers"),
    path("customers/duplicates/", duplicates, name="duplicates"),
    path("customers/<int:pk>/", customer_detail, name="customer"),
    path("customers/<int:pk>/merge/", customer_merge, name="customer_merge"),
    path("customers/<int:pk>/undo-merge/", customer_undo_merge, name="customer_undo_merge"),
]
