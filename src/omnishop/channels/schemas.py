from datetime import datetime
from typing import Literal

from pydantic import Field

from omnishop.core.schemas import InputSchema, OutputSchema

ChannelKind = Literal["web", "mobile_app", "pos_store", "marketplace", "social"]


class ChannelIn(InputSchema):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,49}$")
    name: str = Field(min_length=1, max_length=200)
    kind: ChannelKind
    currency: str = Field(min_length=3, max_length=3)
    locale: str = Field(default="en", max_length=20)
    country: str = Field(default="GB", min_length=2, max_length=2)
    prices_include_tax: bool = True


class ChannelOut(OutputSchema):
    code: str
    name: str
    kind: str
    currency: str
    locale: str
    country: str
    prices_include_tax: bool
    is_active: bool


class ApiKeyIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)
    expires_at: datetime | None = None


class ApiKeyOut(OutputSchema):
    prefix: str
    name: str
    channel: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_channel(obj) -> str:
        return obj.channel.code


class IssuedKeyOut(ApiKeyOut):
    key: str | None = Field(description="The full key. Shown only in this response; store it now.")
