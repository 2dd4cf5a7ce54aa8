"""Request and response shapes of the customers API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

from omnishop.core.schemas import Id, InputSchema, OutputSchema, Page


class CustomerOut(OutputSchema):
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    has_account: bool
    merged_into: int | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_has_account(obj) -> bool:
        return obj.user_id is not None

    @staticmethod
    def resolve_merged_into(obj) -> int | None:
        return obj.merged_into_id


class ChannelCustomerOut(OutputSchema):
    """What a channel key sees: the profile's name and what the channel itself told us, nothing more."""

    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    created_at: datetime


class CustomerPage(Page):
    items: list[CustomerOut]


class ChannelCustomerPage(Page):
    items: list[ChannelCustomerOut]


class IdentityOut(OutputSchema):
    id: int
    channel: str
    external_id: str
    email: str
    phone: str
    first_seen_at: datetime
    last_seen_at: datetime

    @staticmethod
    def resolve_channel(obj) -> str:
        return obj.channel.code


class AddressOut(OutputSchema):
    id: int
    name: str
    company: str
    line1: str
    line2: str
    city: str
    postcode: str
    region: str
    country: str
    phone: str
    is_default_shipping: bool
    is_default_billing: bool


class AddressIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    company: str = Field("", max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str = Field("", max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postcode: str = Field("", max_length=20)
    region: str = Field("", max_length=100)
    country: str = Field(min_length=2, max_length=2)
    phone: str = Field("", max_length=40)
    is_default_shipping: bool = False
    is_default_billing: bool = False


class AddressPatch(InputSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    line1: str | None = Field(None, min_length=1, max_length=200)
    line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, min_length=1, max_length=100)
    postcode: str | None = Field(None, max_length=20)
    region: str | None = Field(None, max_length=100)
    country: str | None = Field(None, min_length=2, max_length=2)
    phone: str | None = Field(None, max_length=40)
    is_default_shipping: bool | None = None
    is_default_billing: bool | None = None


class ConsentOut(OutputSchema):
    channel: str
    granted: bool
    recorded_at: datetime
    source: str

    @staticmethod
    def resolve_channel(obj) -> str:
        return obj.channel.code


class ConsentIn(InputSchema):
    channel: str = Field(min_length=1, max_length=50)
    granted: bool


class PreferencesOut(Schema):
    language: str
    favourite_categories: list[int]
    marketing_consent: list[ConsentOut]


class PreferencesIn(InputSchema):
    language: str | None = Field(None, max_length=20)
    favourite_categories: list[Id] | None = Field(None, max_length=200)
    marketing_consent: list[ConsentIn] = Field(default_factory=list, max_length=50)


class ProfilePatch(InputSchema):
    first_name: str | None = Field(None, max_length=150)
    last_name: str | None = Field(None, max_length=150)
    phone: str | None = Field(None, max_length=40)


class ResolveIn(InputSchema):
    """Activity from a channel: a staff caller names the channel; a channel key is its own channel."""

    channel: str | None = Field(None, max_length=50)
    external_id: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    first_name: str = Field("", max_length=150)
    last_name: str = Field("", max_length=150)


class ResolveOut(Schema):
    customer: CustomerOut | ChannelCustomerOut
    identity: IdentityOut
    created: bool


class OrdersSection(Schema):
    available: bool
    note: str
    items: list[dict]


class Customer360Out(Schema):
    customer: CustomerOut | ChannelCustomerOut
    identities: list[IdentityOut]
    addresses: list[AddressOut]
    preferences: PreferencesOut
    merged_from: list[int]
    orders: OrdersSection


class DuplicateOut(Schema):
    customer_a: int
    customer_b: int
    score: float
    reasons: list[str]


class MergeIn(InputSchema):
    survivor: Id
    merged: Id
    reason: str = Field("", max_length=500)
    score: float | None = Field(None, ge=0, le=1)


class MergeOut(OutputSchema):
    id: int
    survivor: int
    merged: int
    actor: str
    reason: str
    score: float | None
    moved: dict[str, int]
    created_at: datetime
    undone_at: datetime | None

    @staticmethod
    def resolve_survivor(obj) -> int:
        return obj.survivor_id

    @staticmethod
    def resolve_merged(obj) -> int:
        return obj.merged_id

    @staticmethod
    def resolve_actor(obj) -> str:
        return obj.actor_label

    @staticmethod
    def resolve_moved(obj) -> dict[str, int]:
        moved: dict[str, int] = {}
        for group in obj.snapshot.get("moved", []):
            moved[group["model"]] = moved.get(group["model"], 0) + len(group["pks"])
        return moved


class MergePage(Page):
    items: list[MergeOut]


class DistinctPairIn(InputSchema):
    customer_a: Id
    customer_b: Id
    note: str = Field("", max_length=500)


class DistinctPairOut(OutputSchema):
    customer_a: int
    customer_b: int
    note: str
    created_at: datetime

    @staticmethod
    def resolve_customer_a(obj) -> int:
        return obj.customer_a_id

    @staticmethod
    def resolve_customer_b(obj) -> int:
        return obj.customer_b_id
