"""Request parameters in, JSON bytes out: the part both the ninja endpoints and the fast path share."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from . import services


def product_page(channel_code: str, params: Mapping[str, str]) -> bytes:
    query = services.parse_page_query(params)
    return orjson.dumps(services.product_page(channel_code=channel_code, query=query))


def product_detail(channel_code: str, slug: str) -> bytes:
    return orjson.dumps(services.product_detail(channel_code=channel_code, slug=slug))
