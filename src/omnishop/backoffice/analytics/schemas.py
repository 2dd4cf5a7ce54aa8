"""What the dashboard shows, as typed schemas: the page renders them, the API returns them as JSON, and the
CSV downloads are their rows (one column per field, in the declared order). Money is a string with the
currency's minor units, next to its currency code."""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field, WithJsonSchema

Grain = Literal["day", "week", "month"]
#: a UTC day, "2026-09-01" (a string: the project's JSON encoder writes datetimes, not bare dates)
IsoDate = Annotated[
    str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$"), WithJsonSchema({"type": "string", "format": "date"})
]


class AnalyticsPeriodOut(Schema):
    start: IsoDate
    end: IsoDate
    previous_start: IsoDate
    previous_end: IsoDate
    channel: str | None
    grain: Grain


class AnalyticsMoneyChangeOut(Schema):
    currency: str
    amount: str
    previous: str
    change_pct: float | None


class AnalyticsCountOut(Schema):
    value: int
    previous: int
    change_pct: float | None


class AnalyticsRateOut(Schema):
    value: float | None
    previous: float | None
    change_pts: float | None


class AnalyticsChannelShareRow(Schema):
    channel: str
    orders: int
    share_pct: float


class AnalyticsKpisOut(Schema):
    period: AnalyticsPeriodOut
    orders: AnalyticsCountOut
    units: AnalyticsCountOut
    cancelled: AnalyticsCountOut
    new_customers: AnalyticsCountOut
    returning_customers: AnalyticsCountOut
    guest_orders: AnalyticsCountOut
    returned_units: AnalyticsCountOut
    returns_rate_pct: AnalyticsRateOut
    net_sales: list[AnalyticsMoneyChangeOut]
    sales: list[AnalyticsMoneyChangeOut]
    refunds: list[AnalyticsMoneyChangeOut]
    average_order_value: list[AnalyticsMoneyChangeOut]
    channel_share: list[AnalyticsChannelShareRow]


class AnalyticsSalesRow(Schema):
    bucket: IsoDate
    channel: str
    currency: str
    orders: int
    units: int
    sales: str
    refunds: str
    net_sales: str


class AnalyticsSalesOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsSalesRow]


class AnalyticsProductRow(Schema):
    product_id: int
    product: str
    currency: str
    units: int
    revenue: str


class AnalyticsProductsOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsProductRow]


class AnalyticsCategoryRow(Schema):
    category: str
    currency: str
    units: int
    revenue: str


class AnalyticsCategoriesOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsCategoryRow]


class AnalyticsStockRow(Schema):
    location: str
    name: str
    stock_outs: int
    low_stock: int


class AnalyticsStockOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsStockRow]


class AnalyticsReasonRow(Schema):
    reason: str
    units: int


class AnalyticsReasonsOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsReasonRow]


class AnalyticsStatusRow(Schema):
    status: str
    label: str
    orders: int


class AnalyticsStatusesOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsStatusRow]


class AnalyticsSearchRow(Schema):
    query: str
    searches: int


class AnalyticsSearchesOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsSearchRow]


class AnalyticsActionRow(Schema):
    action: str
    label: str
    count: int
    link: str


class AnalyticsActionsOut(Schema):
    rows: list[AnalyticsActionRow]


class AnalyticsRecommendationRow(Schema):
    placement: str = Field(description="Where the shop showed the recommendations, e.g. home.popular.")
    label: str
    currency: str = Field(
        description="The channels' currency (impressions, clicks) and the orders' (revenue)."
    )
    impressions: int
    clicks: int
    ctr_pct: float | None = Field(description="Clicks per 100 impressions; null without impressions.")
    attributed_orders: int
    attributed_units: int
    attributed_revenue: str


class AnalyticsRecommendationsOut(Schema):
    period: AnalyticsPeriodOut
    rows: list[AnalyticsRecommendationRow]
