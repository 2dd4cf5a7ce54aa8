"""Response shapes of the search API."""

from __future__ import annotations

from ninja import Field, Schema

from omnishop.core.schemas import InputSchema


class HitOut(Schema):
    product_id: int
    title: str
    min_price: str
    currency: str
    category: str | None
    brand: str
    score: float


class FacetValue(Schema):
    value: str
    count: int


class PriceRange(Schema):
    min: str | None
    max: str | None


class FacetsOut(Schema):
    category: list[FacetValue]
    brand: list[FacetValue]
    attributes: dict[str, list[FacetValue]]
    price: PriceRange


class SearchOut(Schema):
    items: list[HitOut]
    total: int
    facets: FacetsOut
    query_tokens: list[str]
    corrections: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Only when nothing matched a word as typed: the catalogue words it was read as "
        '(e.g. {"hodie": ["hoodie"]}).',
    )
    next_cursor: str | None = None


class SearchSuggestionOut(Schema):
    product_id: int
    title: str


class SynonymIn(InputSchema):
    term: str
    synonyms: list[str]


class SynonymOut(Schema):
    term: str
    synonyms: list[str]
