"""Request and response schemas of the payments API (money as decimal strings, times ISO-8601 UTC)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema

from omnishop.core.schemas import Id, InputSchema


class AmountIn(InputSchema):
    amount: str | None = None


class RefundIn(InputSchema):
    amount: str
    reason: str = Field("", max_length=200)


class CreditIn(InputSchema):
    customer: Id
    amount: str
    currency: str
    reference: str = Field("", max_length=100)


class MethodIn(InputSchema):
    provider: str
    token: str = Field(..., min_length=1, max_length=200)
    label: str = Field("", max_length=60)
    is_default: bool = True


class PaymentOut(Schema):
    id: int
    reference: str = Field(description="The order number the payment belongs to.")
    channel: str
    provider: str
    status: str
    currency: str
    amount: str
    captured: str
    refunded: str
    method: str
    failure_code: str
    created_at: datetime


class PaymentListOut(Schema):
    items: list[PaymentOut]


class WebhookAppliedOut(Schema):
    applied: int = Field(description="How many events changed something (a repeat changes nothing).")


class RefundOut(Schema):
    id: int
    payment: int
    amount: str
    status: str


class CreditIssuedOut(Schema):
    customer: int
    currency: str
    amount: str
    balance: str


class CreditBalanceOut(Schema):
    currency: str
    balance: str


class CreditBalancesOut(Schema):
    balances: list[CreditBalanceOut]


class PaymentMethodOut(Schema):
    id: int
    provider: str
    label: str
    is_default: bool
