"""What the dashboard reads: aggregates over the rollup tables for a period (never over the orders), plus the
few live figures that are cheap by index (stock-outs and low stock per location, zero-result searches in the
period, the action list's counts).

Every function takes a `Period` and returns the typed schema the page, the API and the CSV downloads share.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from omnishop.backoffice.models import DailyReturnReason, DailySales, DailyStatus, ProductSales
from omnishop.catalog.models import Product
from omnishop.channels.models import Channel
from omnishop.core.errors import ValidationFailed
from omnishop.core.money import quantize
from omnishop.inventory.models import LowStockAlert, StockLevel, StockLocation
from omnishop.orders.models import Order, OrderException
from omnishop.payments.models import Payment
from omnishop.recommendations.models import Event
from omnishop.support.services import jobs as support_jobs
from omnishop.webhooks.models import WebhookEndpoint

from . import schemas as s

ZERO = Decimal(0)
MAX_DAYS = 731
GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class Period:
    """Days `start`..`end` inclusive (UTC), optionally one channel; `previous` is as long and ends the day
    before `start`."""

    start: date
    end: date
    channel: Channel | None = None
    grain: str = "day"

    @property
    def previous(self) -> Period:
        length = (self.end - self.start).days + 1
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=length - 1), end, self.channel, self.grain)

    def out(self) -> s.AnalyticsPeriodOut:
        prev = self.previous
        return s.AnalyticsPeriodOut(
            start=self.start.isoformat(),
            end=self.end.isoformat(),
            previous_start=prev.start.isoformat(),
            previous_end=prev.end.isoformat(),
            channel=self.channel.code if self.channel else None,
            grain=self.grain,
        )

    def filter(self, queryset):
        rows = queryset.filter(day__gte=self.start, day__lte=self.end)
        return rows.filter(channel=self.channel) if self.channel else rows


def period(
    *, start: date | None = None, end: date | None = None, channel: str | None = None, grain: str = "day"
) -> Period:
    """The period a request asks for: the last 30 days up to today by default."""
    today = timezone.now().date()
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end:
        raise ValidationFailed("The start is after the end.", field="start")
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(f"A period is at most {MAX_DAYS} days.", field="start")
    if grain not in GRAINS:
        raise ValidationFailed("grain is 'day', 'week' or 'month'.", field="grain")
    found = None
    if channel:
        found = Channel.objects.filter(code=channel).first()
        if found is None:
            raise ValidationFailed(f"No channel '{channel}'.", field="channel")
    return Period(start, end, found, grain)


# -- KPI cards ---------------------------------------------------------------------------------------------

_COUNTS = ("orders", "cancelled", "units", "returned_units", "returned_orders")
_CUSTOMERS = ("new_customers", "returning_customers", "guest_orders")


def _totals(p: Period) -> tuple[list[tuple[dict, dict[str, dict]]], list[tuple[str, int]]]:
    """In one read of `DailySales` over both periods, grouped by channel and currency: the counts and the
    money per currency of the period and of the previous one, and the period's orders per channel (the
    share is of all channels, whichever the period's channel)."""
    counted = (*_COUNTS, *_CUSTOMERS)
    mine = Q(channel=p.channel) if p.channel else Q()
    halves = {"now": Q(day__gte=p.start) & mine, "before": Q(day__lt=p.start) & mine}
    sums = {f"{h}_{c}": Sum(c, filter=q) for h, q in halves.items() for c in (*counted, "sales", "refunds")}
    grouped = (
        DailySales.objects.filter(day__gte=p.previous.start, day__lte=p.end)
        .values("channel__code", "currency")
        .annotate(**sums, share=Sum("orders", filter=Q(day__gte=p.start)))
        .order_by()
    )
    out: list[tuple[dict, dict[str, dict]]] = []
    rows = list(grouped)
    for h in halves:
        counts = {c: sum(r[f"{h}_{c}"] or 0 for r in rows) for c in counted}
        money: dict[str, dict] = {}
        for r in rows:
            if r[f"{h}_orders"] is None:  # no day of this channel and currency in the half
                continue
            m = money.setdefault(r["currency"], {"orders": 0, "sales": ZERO, "refunds": ZERO})
            for c in m:
                m[c] += r[f"{h}_{c}"]
        out.append((counts, money))
    share: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["share"] is not None:
            share[r["channel__code"]] += r["share"]
    return out, sorted(share.items(), key=lambda item: (-item[1], item[0]))


def _pct(now: float, before: float) -> float | None:
    return None if not before else round((now - before) * 100 / before, 1)


def _count(now: dict, before: dict, key: str) -> s.AnalyticsCountOut:
    return s.AnalyticsCountOut(value=now[key], previous=before[key], change_pct=_pct(now[key], before[key]))


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else round(part * 100 / whole, 2)


def kpis(p: Period) -> s.AnalyticsKpisOut:
    ((now, money), (before, money_before)), share = _totals(p)

    def money_change(value) -> list[s.AnalyticsMoneyChangeOut]:
        out = []
        for currency in sorted(set(money) | set(money_before)):
            a = value(money.get(currency))
            b = value(money_before.get(currency))
            out.append(
                s.AnalyticsMoneyChangeOut(
                    currency=currency,
                    amount=str(quantize(a, currency)),
                    previous=str(quantize(b, currency)),
                    change_pct=_pct(float(a), float(b)),
                )
            )
        return out

    def net(row) -> Decimal:
        return (row["sales"] - row["refunds"]) if row else ZERO

    def aov(row) -> Decimal:
        return row["sales"] / row["orders"] if row and row["orders"] else ZERO

    rate, rate_before = (
        _rate(now["returned_orders"], now["orders"]),
        _rate(before["returned_orders"], before["orders"]),
    )
    total = sum(n for _, n in share)
    return s.AnalyticsKpisOut(
        period=p.out(),
        orders=_count(now, before, "orders"),
        units=_count(now, before, "units"),
        cancelled=_count(now, before, "cancelled"),
        new_customers=_count(now, before, "new_customers"),
        returning_customers=_count(now, before, "returning_customers"),
        guest_orders=_count(now, before, "guest_orders"),
        returned_units=_count(now, before, "returned_units"),
        returns_rate_pct=s.AnalyticsRateOut(
            value=rate,
            previous=rate_before,
            change_pts=None if rate is None or rate_before is None else round(rate - rate_before, 2),
        ),
        net_sales=money_change(net),
        sales=money_change(lambda r: r["sales"] if r else ZERO),
        refunds=money_change(lambda r: r["refunds"] if r else ZERO),
        average_order_value=money_change(aov),
        channel_share=[
            s.AnalyticsChannelShareRow(channel=code, orders=n, share_pct=_rate(n, total) or 0.0)
            for code, n in share
        ],
    )


# -- charts ------------------------------------------------------------------------------------------------


def bucket(day: date, grain: str) -> date:
    """The first day of the day's week (Monday) or month."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _next_month(first: date) -> date:
    return (first + timedelta(days=31)).replace(day=1)


def calendar_blocks(start: date, end: date) -> list[tuple[str, date]]:
    """The days `start`..`end` as `ProductSales` blocks (grain, first day): the whole calendar months inside,
    then the whole ISO weeks inside what is left on either side, then single days. A 90-day period is at
    most 3 months, 8 weeks and 24 days; every day is in exactly one block."""
    month = start if start.day == 1 else _next_month(start.replace(day=1))
    months = []
    while _next_month(month) - timedelta(days=1) <= end:
        months.append(month)
        month = _next_month(month)
    segments = [(start, months[0] - timedelta(days=1)), (month, end)] if months else [(start, end)]
    blocks: list[tuple[str, date]] = [("month", m) for m in months]
    for first, last in segments:
        day = first
        while day <= last:
            if day.weekday() == 0 and day + timedelta(days=6) <= last:
                blocks.append(("week", day))
                day += timedelta(days=7)
            else:
                blocks.append(("day", day))
                day += timedelta(days=1)
    return blocks


def _product_sales(p: Period):
    """The `ProductSales` rows that add up to the period: one indexed read of its calendar blocks."""
    starts: dict[str, list[date]] = defaultdict(list)
    for grain, first in calendar_blocks(p.start, p.end):
        starts[grain].append(first)
    where = Q()
    for grain, firsts in starts.items():
        where |= Q(grain=grain, start__in=firsts)
    rows = ProductSales.objects.filter(where)
    return rows.filter(channel=p.channel) if p.channel else rows


def sales(p: Period) -> s.AnalyticsSalesOut:
    """Sales by channel over time, one row per bucket, channel and currency (missing buckets are zeros)."""
    acc: dict[tuple, list] = defaultdict(lambda: [0, 0, ZERO, ZERO])
    rows = p.filter(DailySales.objects).values_list(
        "day", "channel__code", "currency", "orders", "units", "sales", "refunds"
    )
    for day, channel, currency, orders, units, sold, refunds in rows:
        entry = acc[(bucket(day, p.grain), channel, currency)]
        entry[0] += orders
        entry[1] += units
        entry[2] += sold
        entry[3] += refunds
    series = sorted({(c, cur) for _, c, cur in acc})
    buckets = sorted(
        {bucket(p.start + timedelta(days=i), p.grain) for i in range((p.end - p.start).days + 1)}
    )
    out = []
    # One row per bucket and series — up to 731 days × series: built with `model_construct` (the values are
    # ours and of the declared types; test_analytics_reads checks they validate), as validating each row
    # through ninja's Schema cost most of this function's time (≈ 0.1 ms per row on the benchmark machine).
    for b in buckets:
        for channel, currency in series:
            orders, units, sold, refunds = acc.get((b, channel, currency), (0, 0, ZERO, ZERO))
            out.append(
                s.AnalyticsSalesRow.model_construct(
                    bucket=b.isoformat(),
                    channel=channel,
                    currency=currency,
                    orders=orders,
                    units=units,
                    sales=str(quantize(sold, currency)),
                    refunds=str(quantize(refunds, currency)),
                    net_sales=str(quantize(sold - refunds, currency)),
                )
            )
    return s.AnalyticsSalesOut(period=p.out(), rows=out)


def top_products(p: Period, *, by: str = "revenue", limit: int = 10) -> s.AnalyticsProductsOut:
    """The best sellers of the period per currency, by revenue or units."""
    order = ("-revenue", "-units") if by == "revenue" else ("-units", "-revenue")
    # Grouped by product id alone, the title looked up per group (not joined to every row read)
    title = Product.objects.filter(pk=OuterRef("product_id")).values("title")
    rows = (
        _product_sales(p)
        .values("product_id", "currency")
        .annotate(units=Sum("units"), revenue=Sum("revenue"))
        .filter(Q(units__gt=0) | Q(revenue__gt=0))
        .annotate(product__title=Subquery(title))
        .order_by(*order, "product_id")[:limit]
    )
    return s.AnalyticsProductsOut(
        period=p.out(),
        rows=[
            s.AnalyticsProductRow(
                product_id=r["product_id"],
                product=r["product__title"],
                currency=r["currency"],
                units=r["units"],
                revenue=str(quantize(r["revenue"], r["currency"])),
            )
            for r in rows
        ],
    )


def top_categories(p: Period, *, by: str = "revenue", limit: int = 10) -> s.AnalyticsCategoriesOut:
    """Revenue and units per product category (products without one are 'Uncategorised')."""
    order = ("-revenue", "-units") if by == "revenue" else ("-units", "-revenue")
    rows = (
        _product_sales(p)
        .values("product__category__name", "currency")
        .annotate(units=Sum("units"), revenue=Sum("revenue"))
        .filter(Q(units__gt=0) | Q(revenue__gt=0))
        .order_by(*order, "product__category__name")[:limit]
    )
    return s.AnalyticsCategoriesOut(
        period=p.out(),
        rows=[
            s.AnalyticsCategoryRow(
                category=r["product__category__name"] or _("Uncategorised"),
                currency=r["currency"],
                units=r["units"],
                revenue=str(quantize(r["revenue"], r["currency"])),
            )
            for r in rows
        ],
    )


def stock(p: Period) -> s.AnalyticsStockOut:
    """Now, per location: variants with nothing free to sell, and open low-stock alerts (live, by index:
    stock levels by their location index, alerts by the partial unique index of open ones), in one
    statement: the locations with a count subquery each."""

    def per_location(rows):
        counted = rows.filter(location=OuterRef("pk")).order_by().values("location").annotate(n=Count("pk"))
        return Coalesce(Subquery(counted.values("n")), 0)

    locations = (
        StockLocation.objects.order_by("code")
        .values_list("code", "name")
        .annotate(
            stock_outs=per_location(StockLevel.objects.filter(on_hand__lte=F("allocated") + F("reserved"))),
            low_stock=per_location(LowStockAlert.objects.filter(resolved_at__isnull=True)),
        )
    )
    return s.AnalyticsStockOut(
        period=p.out(),
        rows=[
            s.AnalyticsStockRow(location=code, name=name, stock_outs=outs, low_stock=low)
            for code, name, outs, low in locations
        ],
    )


def returns_by_reason(p: Period) -> s.AnalyticsReasonsOut:
    rows = (
        p.filter(DailyReturnReason.objects)
        .values("reason")
        .annotate(units=Sum("units"))
        .filter(units__gt=0)
        .order_by("-units", "reason")
    )
    return s.AnalyticsReasonsOut(
        period=p.out(), rows=[s.AnalyticsReasonRow(reason=r["reason"], units=r["units"]) for r in rows]
    )


def orders_by_status(p: Period) -> s.AnalyticsStatusesOut:
    """Where the orders placed in the period are now."""
    counts = dict(
        p.filter(DailyStatus.objects).values("status").annotate(n=Sum("orders")).values_list("status", "n")
    )
    return s.AnalyticsStatusesOut(
        period=p.out(),
        rows=[
            s.AnalyticsStatusRow(status=value, label=str(label), orders=counts[value])
            for value, label in Order.Status.choices
            if counts.get(value)
        ],
    )


def zero_result_searches(p: Period, *, limit: int = 20) -> s.AnalyticsSearchesOut:
    """Search terms that found nothing in the period (the search log: recommendations.Event kind 'search',
    read by its (channel, kind, occurred_at) index)."""
    start = datetime.combine(p.start, time.min, tzinfo=UTC)
    end = start + timedelta(days=(p.end - p.start).days + 1)
    events = Event.objects.filter(kind=Event.Kind.SEARCH, occurred_at__gte=start, occurred_at__lt=end)
    if p.channel:
        events = events.filter(channel=p.channel)
    rows = (
        events.filter(result_ids=[])
        .exclude(query="")
        .values("query")
        .annotate(n=Count("pk"))
        .order_by("-n", "query")[:limit]
    )
    return s.AnalyticsSearchesOut(
        period=p.out(), rows=[s.AnalyticsSearchRow(query=r["query"], searches=r["n"]) for r in rows]
    )


# -- the action list ---------------------------------------------------------------------------------------


def actions() -> s.AnalyticsActionsOut:
    """What needs a person now, each with a link to the list that shows it (counts by indexed status)."""
    admin = "admin:{}_changelist".format
    failed_since = timezone.now() - timedelta(days=7)
    P = Payment.Status
    # Payments have no status index: one pass for both counts (orders' counts stay apart: "paid" is counted
    # from the status index alone, which a combined count with `backordered_at` would give up)
    payments = Payment.objects.filter(status__in=[P.AUTHORIZED, P.FAILED]).aggregate(
        authorized=Count("pk", filter=Q(status=P.AUTHORIZED)),
        failed=Count("pk", filter=Q(status=P.FAILED, updated_at__gte=failed_since)),
    )
    items = [
        (
            "ready_to_fulfil",
            _("Orders ready to fulfil"),
            Order.objects.filter(status=Order.Status.PAID).count(),
            reverse(admin("orders_order")) + "?status__exact=paid",
        ),
        (
            "payments_to_capture",
            _("Payments to capture"),
            payments["authorized"],
            reverse(admin("payments_payment")) + "?status__exact=authorized",
        ),
        (
            "failed_captures",
            _("Failed payments (last 7 days)"),
            payments["failed"],
            reverse(admin("payments_payment")) + "?status__exact=failed",
        ),
        (
            "exceptions_open",
            _("Order exceptions open"),
            OrderException.objects.filter(resolved_at__isnull=True).count(),
            reverse(admin("orders_orderexception")),
        ),
        (
            "backorders_waiting",
            _("Backorders waiting for stock"),
            Order.objects.filter(backordered_at__isnull=False, status=Order.Status.ON_HOLD).count(),
            reverse(admin("orders_order")) + "?status__exact=on_hold",
        ),
        (
            "conversations_breaching_sla",
            _("Conversations past their SLA"),
            support_jobs.breached(now=timezone.now()).count(),
            reverse("backoffice:support") + "?box=all&due_soon=on",
        ),
        (
            "webhooks_failing",
            _("Webhook endpoints failing"),
            WebhookEndpoint.objects.filter(is_active=True, disabled_at__isnull=True)
            .filter(Q(consecutive_failures__gt=0) | Q(paused_at__isnull=False))
            .count(),
            reverse(admin("webhooks_webhookendpoint")),
        ),
    ]
    return s.AnalyticsActionsOut(
        rows=[
            s.AnalyticsActionRow(action=a, label=str(label), count=n, link=link)
            for a, label, n, link in items
        ]
    )


# -- recommendation performance (docs/recommendations.md#performance) ---------------------------------------


def recommendation_performance(p: Period) -> s.AnalyticsRecommendationsOut:
    """Impressions, clicks, click-through and attributed orders and revenue per placement and currency, from
    the recommendations' daily counters (impressions and clicks count in their channel's currency)."""
    from omnishop.recommendations.models import AttributionDay, ItemDay
    from omnishop.recommendations.services import PLACEMENTS

    currency_of = dict(Channel.objects.values_list("pk", "currency"))
    figures: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0, 0, 0, ZERO])
    for r in (
        p.filter(ItemDay.objects)
        .values("placement", "channel_id")
        .annotate(impressions=Sum("impressions"), clicks=Sum("clicks"))
        .order_by()
    ):
        row = figures[(r["placement"], currency_of.get(r["channel_id"], ""))]
        row[0] += r["impressions"] or 0
        row[1] += r["clicks"] or 0
    for r in (
        p.filter(AttributionDay.objects)
        .values("placement", "currency")
        .annotate(orders=Sum("orders"), units=Sum("units"), revenue=Sum("revenue"))
        .order_by()
    ):
        row = figures[(r["placement"], r["currency"])]
        row[2] += r["orders"] or 0
        row[3] += r["units"] or 0
        row[4] += Decimal(r["revenue"] or 0)
    order = {name: i for i, name in enumerate(PLACEMENTS)}
    return s.AnalyticsRecommendationsOut(
        period=p.out(),
        rows=[
            s.AnalyticsRecommendationRow(
                placement=placement,
                label=str(PLACEMENTS.get(placement, placement)),
                currency=currency,
                impressions=shown,
                clicks=clicks,
                ctr_pct=round(100 * clicks / shown, 2) if shown else None,
                attributed_orders=orders,
                attributed_units=units,
                attributed_revenue=str(quantize(revenue, currency)) if currency else str(revenue),
            )
            for (placement, currency), (shown, clicks, orders, units, revenue) in sorted(
                figures.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0])
            )
            if shown or clicks or orders
        ],
    )


#: chart name -> (title, function): the page, the JSON endpoints and the CSV downloads share this list
CHARTS = {
    "sales": (gettext_lazy("Sales by channel over time"), sales),
    "top-products": (gettext_lazy("Top products"), top_products),
    "top-categories": (gettext_lazy("Top categories"), top_categories),
    "stock": (gettext_lazy("Stock-outs and low stock per location"), stock),
    "returns": (gettext_lazy("Returns by reason"), returns_by_reason),
    "statuses": (gettext_lazy("Orders by status"), orders_by_status),
    "zero-result-searches": (gettext_lazy("Searches with no results"), zero_result_searches),
    "recommendations": (gettext_lazy("Recommendation performance"), recommendation_performance),
}
