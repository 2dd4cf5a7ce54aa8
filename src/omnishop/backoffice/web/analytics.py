"""The analytics dashboard: KPI cards, charts, the action list, CSV downloads.

Thin: a filter form → `analytics.queries` (which read the rollups) → the page. Each chart's figures are drawn
by Chart.js from the same rows its table view, its CSV download and its JSON endpoint
(/api/v1/analytics/…) show. Permission: `backoffice.view_dashboard` (docs/backoffice.md#analytics).
"""

from __future__ import annotations

import csv
import typing

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from omnishop.backoffice.analytics import queries
from omnishop.channels.models import Channel
from omnishop.core.dbrouting import reads_from_replica
from omnishop.core.errors import DomainError

from .common import desk, staff_view

PERMISSION = "backoffice.view_dashboard"


class DashboardFilter(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    grain = forms.ChoiceField(
        label=_("Sales per"),
        required=False,
        choices=[("day", _("day")), ("week", _("week")), ("month", _("month"))],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        channels = Channel.objects.order_by("code").values_list("code", "name")
        self.fields["channel"].choices = [("", _("All channels")), *channels]


def _period(request: HttpRequest) -> tuple[DashboardFilter, queries.Period]:
    """The period the filter asks for; an invalid filter shows its errors and the default period."""
    form = DashboardFilter(request.GET or None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            return form, queries.period(
                start=data["start"],
                end=data["end"],
                channel=data["channel"] or None,
                grain=data["grain"] or "day",
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return form, queries.period()


# The charts in page order: (name on the page, chart kind); "-units" charts are their query ranked by units
CHARTS = [
    ("sales", "line"),
    ("top-products", "bar-revenue"),
    ("top-products-units", "bar-units"),
    ("top-categories", "bar-revenue"),
    ("top-categories-units", "bar-units"),
    ("stock", "bar-stock"),
    ("returns", "bar-units"),
    ("statuses", "bar-orders"),
    ("zero-result-searches", "bar-searches"),
    ("recommendations", "bar-recs"),
]
TITLES = {
    "top-products": _("Top products by revenue"),
    "top-products-units": _("Top products by units"),
    "top-categories": _("Top categories by revenue"),
    "top-categories-units": _("Top categories by units"),
}
# The headings of a chart's table; its CSV and JSON keep the field names (the API's).
HEADINGS = {
    "bucket": _("Period"),
    "channel": _("Channel"),
    "currency": _("Currency"),
    "orders": _("Orders"),
    "units": _("Units"),
    "sales": _("Sales"),
    "refunds": _("Refunds"),
    "net_sales": _("Net sales"),
    "product_id": _("Product id"),
    "product": _("Product"),
    "revenue": _("Revenue"),
    "category": _("Category"),
    "location": _("Location"),
    "name": _("Location name"),
    "stock_outs": _("Stock-outs"),
    "low_stock": _("Low stock"),
    "reason": _("Reason"),
    "status": _("Status code"),
    "label": _("Status"),
    "query": _("Search terms"),
    "searches": _("Searches"),
}


def _query(name: str) -> tuple[str, dict]:
    """The query behind a chart of the page and its keyword arguments."""
    if name.endswith("-units") and name.startswith("top-"):
        return name.removesuffix("-units"), {"by": "units"}
    return name, {}


def _chart(name: str, p: queries.Period):
    query_name, kwargs = _query(name)
    if query_name not in queries.CHARTS:
        raise Http404("No such chart.")
    title, query = queries.CHARTS[query_name]
    return TITLES.get(name, title), query(p, **kwargs)


@staff_view(PERMISSION)
@reads_from_replica()  # the dashboard's figures may lag the primary by the allowed replica lag (ADR 0030)
def dashboard(request: HttpRequest) -> HttpResponse:
    form, p = _period(request)
    query = request.GET.urlencode()
    charts = []
    for name, kind in CHARTS:
        title, out = _chart(name, p)
        rows = [row.model_dump(mode="json") for row in out.rows]
        columns = row_fields(out)
        charts.append(
            {
                "name": name,
                "kind": kind,
                "title": title,
                "columns": columns,
                "headings": [HEADINGS.get(c, c) for c in columns],
                "rows": [[row[c] for c in columns] for row in rows],
                "data": rows,
                "data_id": f"data-{name}",
                "csv": reverse("backoffice:dashboard-csv", args=[name]) + (f"?{query}" if query else ""),
                "json": _api_url(name, query),
            }
        )
    context = {
        "form": form,
        "period": p.out(),
        "kpis": queries.kpis(p),
        "charts": charts,
        "actions": queries.actions().rows,
    }
    return desk(request, "backoffice/analytics/dashboard.html", context, title=_("Dashboard"))


def row_fields(out) -> list[str]:
    """The columns of a chart: the fields of its schema's row type, in their declared order."""
    (row_type,) = typing.get_args(type(out).model_fields["rows"].annotation)
    return list(row_type.model_fields)


def _api_url(name: str, query: str) -> str:
    path_, kwargs = _query(name)
    params = "&".join(x for x in (query, "&".join(f"{k}={v}" for k, v in kwargs.items())) if x)
    return f"/api/v1/analytics/{path_}" + (f"?{params}" if params else "")


@staff_view(PERMISSION)
@reads_from_replica()
def dashboard_csv(request: HttpRequest, name: str) -> HttpResponse:
    """One chart's rows as CSV: the columns and values of its JSON endpoint's `rows`."""
    _form, p = _period(request)
    _title, out = _chart(name, p)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{p.start}-{p.end}.csv"'
    fields = row_fields(out)
    writer = csv.writer(response)
    writer.writerow(fields)
    for row in out.rows:
        data = row.model_dump(mode="json")
        writer.writerow([data[f] for f in fields])
    return response


# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = [(_("Dashboard"), "dashboard", PERMISSION)]

urlpatterns: list = [
    path("dashboard/", dashboard, name="dashboard"),
    path("dashboard/<slug:name>.csv", dashboard_csv, name="dashboard-csv"),
]
