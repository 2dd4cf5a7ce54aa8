"""Product search: indexing, querying with relevance ranking, facets, type-ahead and search logging."""

from __future__ import annotations

from .text import normalise, tokenize

__all__ = ["normalise", "tokenize"]
