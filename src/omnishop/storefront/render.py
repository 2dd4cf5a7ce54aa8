"""Request parameters in, JSON bytes out: the part both the ninja endpoints and the fast path share.

Both answer a conditional GET the same way (`answer`): the channel's catalogue validators first (one
statement), `304` without rendering when the client's copy is current, else the rendered JSON with the
validators and a public Cache-Control (core.http_cache, ADR 0024). A body rendered for a catalogue version
is kept in this process (`response_cache`, ADR 0043) and answered again, byte for byte, while the version
holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson

from omnishop.core import http_cache
from omnishop.core.dbrouting import reads_from_replica

from . import caching, response_cache, services

Answer = tuple[int, bytes, list[tuple[str, str]]]  # status, body, caching headers


def product_page(channel_code: str, params: Mapping[str, str], **conditional: str | None) -> Answer:
    """A page of the channel's products; `conditional`: if_none_match, if_modified_since (header values)."""
    query = services.parse_page_query(params)  # a request the list refuses (422) is never answered 304
    with reads_from_replica():  # public catalogue: a page a moment old is fine (ADR 0030)
        return answer(
            channel_code,
            lambda: orjson.dumps(services.product_page(channel_code=channel_code, query=query)),
            key=("list", channel_code, query),  # the parsed query: equivalent query strings share a body
            **conditional,
        )


def product_detail(channel_code: str, slug: str, **conditional: str | None) -> Answer:
    with reads_from_replica():
        return answer(
            channel_code,
            lambda: orjson.dumps(services.product_detail(channel_code=channel_code, slug=slug)),
            key=("detail", channel_code, slug),
            **conditional,
        )


def answer(
    channel_code: str,
    body: Callable[[], bytes],
    *,
    key: tuple | None = None,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> Answer:
    """(status, body, caching headers) of a GET: 304 with an empty body when the client's copy is current.

    The validators are read *before* the body: a change committed in between makes the body newer than
    its tag, never older, so the next revalidation fetches it again rather than keeping a stale copy.
    Errors (404, 422) raise as usual and carry no caching headers.

    `key` names what `body` renders apart from the catalogue version (kind, channel, query or slug): with
    it, a body is kept under (key, ETag) and answered again while the ETag holds. Reading the version first
    is what makes that safe: a body is never older than the tag it is stored under.
    """
    validators = caching.catalogue_validators(channel_code)
    if validators is None:
        return 200, body(), []
    cache_headers = http_cache.headers(validators, public=True)
    if if_none_match and if_none_match.strip() == "*":
        if_none_match = None  # "any copy": whether this URL has one at all is only known by rendering it
    if http_cache.is_not_modified(
        validators, if_none_match=if_none_match, if_modified_since=if_modified_since
    ):
        return 304, b"", cache_headers
    cache = response_cache.current() if key is not None else None
    if cache is None:
        return 200, body(), cache_headers
    entry = (*key, validators.etag)
    content = cache.get(entry)
    if content is None:
        content = body()
        cache.put(entry, content)
    return 200, content, cache_headers
