"""Analytics API under /api/v1/analytics: every dashboard figure as typed JSON (the page's charts and CSV
downloads read the same `queries`). Staff only, with the `backoffice.view_dashboard` permission."""

from __future__ import annotations

from datetime import date
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from omnishop.auth import staff
from omnishop.core.dbrouting import reads_from_replica
from omnishop.core.schemas import ERRORS

from . import queries
from . import schemas as s

router = Router(tags=["analytics"])
READ = [staff("backoffice.view_dashboard")]
# Every figure reads from the replica when one is configured: a dashboard may lag the primary by the allowed
# replica lag (ADR 0030). Marked inside each view: a decorator would hide the signature ninja parses.


class PeriodIn(Schema):
    start: date | None = None
    end: date | None = None
    channel: str | None = None
    grain: s.Grain = "day"


class RankedIn(PeriodIn):
    by: Literal["revenue", "units"] = "revenue"
    limit: int = Field(10, ge=1, le=100)


def _period(q: PeriodIn) -> queries.Period:
    with reads_from_replica():
        return queries.period(start=q.start, end=q.end, channel=q.channel, grain=q.grain)


@router.get("/kpis", response={200: s.AnalyticsKpisOut, **ERRORS}, auth=READ)
def kpis(request: HttpRequest, q: Query[PeriodIn]):
    """KPI cards of the period with the previous period of the same length and the change."""
    with reads_from_replica():
        return queries.kpis(_period(q))


@router.get("/sales", response={200: s.AnalyticsSalesOut, **ERRORS}, auth=READ)
def sales(request: HttpRequest, q: Query[PeriodIn]):
    """Sales by channel over time, per day, week or month (`grain`)."""
    with reads_from_replica():
        return queries.sales(_period(q))


@router.get("/top-products", response={200: s.AnalyticsProductsOut, **ERRORS}, auth=READ)
def top_products(request: HttpRequest, q: Query[RankedIn]):
    with reads_from_replica():
        return queries.top_products(_period(q), by=q.by, limit=q.limit)


@router.get("/top-categories", response={200: s.AnalyticsCategoriesOut, **ERRORS}, auth=READ)
def top_categories(request: HttpRequest, q: Query[RankedIn]):
    with reads_from_replica():
        return queries.top_categories(_period(q), by=q.by, limit=q.limit)


@router.get("/stock", response={200: s.AnalyticsStockOut, **ERRORS}, auth=READ)
def stock(request: HttpRequest, q: Query[PeriodIn]):
    """Stock-outs and open low-stock alerts per location, now."""
    with reads_from_replica():
        return queries.stock(_period(q))


@router.get("/returns", response={200: s.AnalyticsReasonsOut, **ERRORS}, auth=READ)
def returns(request: HttpRequest, q: Query[PeriodIn]):
    with reads_from_replica():
        return queries.returns_by_reason(_period(q))


@router.get("/statuses", response={200: s.AnalyticsStatusesOut, **ERRORS}, auth=READ)
def statuses(request: HttpRequest, q: Query[PeriodIn]):
    with reads_from_replica():
        return queries.orders_by_status(_period(q))


@router.get("/zero-result-searches", response={200: s.AnalyticsSearchesOut, **ERRORS}, auth=READ)
def zero_result_searches(request: HttpRequest, q: Query[PeriodIn]):
    with reads_from_replica():
        return queries.zero_result_searches(_period(q))


@router.get("/recommendations", response={200: s.AnalyticsRecommendationsOut, **ERRORS}, auth=READ)
def recommendations(request: HttpRequest, q: Query[PeriodIn]):
    """Recommendation performance per placement and currency: impressions, clicks, click-through, and the
    orders, units and revenue attributed to a clicked recommendation (docs/recommendations.md)."""
    with reads_from_replica():
        return queries.recommendation_performance(_period(q))


@router.get("/actions", response={200: s.AnalyticsActionsOut, **ERRORS}, auth=READ)
def actions(request: HttpRequest):
    """The action list: what needs a person now."""
    with reads_from_replica():
        return queries.actions()
