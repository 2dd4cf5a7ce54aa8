"""The storefront API's response cache: rendered bodies kept per process, keyed by the catalogue version.

A list page or a product detail is the same bytes for every visitor (public, cookie-free, no language or
customer prices: ADR 0024) until the channel's catalogue version changes. So the body rendered once is kept
under (kind, channel, normalised query or slug, ETag) — the ETag already names the release, the
representation, the channel, the version read by `caching.catalogue_validators` and the version's TTL
bucket. Every request still runs that one version statement; a hit then skips the page, detail and stock
statements and the rendering. An entry of an older version is never looked up again and ages out of the
LRU; nothing has to be invalidated. Bounded by bytes (OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES, 0 = off).
ADR 0043.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from django.conf import settings

# What an entry costs beyond its body: the key tuple, its strings and the dict slot (measured ≈ 0.4 KB).
ENTRY_OVERHEAD = 400


class ResponseCache:
    """A least-recently-used map of keys to body bytes, bounded by the bytes it holds. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        cost = len(body) + ENTRY_OVERHEAD
        if cost > self.max_bytes // 4:
            return  # one body must not flush a quarter of the cache (a 100-product page is ≈ 50 KB)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old) + ENTRY_OVERHEAD
            self._entries[key] = body
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted) + ENTRY_OVERHEAD
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = self.evictions = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
            }

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries


_cache: ResponseCache | None = None
_cache_lock = threading.Lock()


def current() -> ResponseCache | None:
    """This process's cache, or None when OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES is 0.

    A changed setting (a test's override) starts an empty cache of the new size."""
    global _cache
    max_bytes = settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES
    if max_bytes <= 0:
        return None
    cache = _cache
    if cache is None or cache.max_bytes != max_bytes:
        with _cache_lock:
            if _cache is None or _cache.max_bytes != max_bytes:
                _cache = ResponseCache(max_bytes)
            cache = _cache
    return cache


def clear() -> None:
    """Forget every stored body (tests; nothing in production needs it: a new version is a new key)."""
    if _cache is not None:
        _cache.clear()
