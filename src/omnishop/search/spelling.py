"""Spelling tolerance: a query word nothing in the catalogue contains is read as the catalogue's closest words.

Used only when a query finds nothing as typed (`search_products` asks after its all-words match came back
empty), so every query that finds something ranks exactly as before — the relevance benchmark cannot lose
precision to it. The vocabulary is the set of words in product titles (the words shoppers mean; descriptions
would make "cotton" a neighbour of "button"), with how many titles hold each.

A word is corrected only if it is made of letters (no sizes, SKUs or Chinese — jieba's segmentation already
copes with Chinese), is at least 4 letters long and is not itself a title word. Its neighbours are the title
words within an edit distance (insertions, deletions, substitutions and swaps of adjacent letters: OSA) of 1
for words of 4–7 letters and 2 from 8 letters; of those, the closest, most frequent three join the word as
alternatives (the word itself stays, so a body-only word still finds its products).

The vocabulary is built per process on first need and rebuilt when this process (re)indexes products, or
after OMNISHOP_SEARCH_SPELLING_TTL seconds (default 300) for changes indexed by another process.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from rapidfuzz import process
from rapidfuzz.distance import OSA

from omnishop.catalog.models import Product
from omnishop.core.text import normalise, tokenize

from .backends import Term

MIN_LENGTH = 4
_WORD = re.compile(r"[a-z]+")
ALTERNATIVES = 3


def max_distance(word: str) -> int:
    if len(word) < MIN_LENGTH:
        return 0
    return 1 if len(word) < 8 else 2


@dataclass
class Vocabulary:
    counts: Counter  # title token -> titles holding it
    by_length: dict[int, list[str]]
    spelt: dict[str, str]  # title token -> the word titles spell it with most ("hoody" -> "hoodie")
    built_at: float

    @classmethod
    def build(cls) -> Vocabulary:
        counts: Counter = Counter()
        words: dict[str, Counter] = {}
        titles = Product.objects.filter(search_document__isnull=False).values_list("title", flat=True)
        for title in titles.iterator(chunk_size=5000):
            seen = set()
            for word in _WORD.findall(normalise(title)):
                token = tokenize(word)
                if len(token) == 1 and token[0].isalpha() and token[0].isascii():
                    seen.add(token[0])
                    words.setdefault(token[0], Counter())[word] += 1
            counts.update(seen)
        by_length: dict[int, list[str]] = {}
        for token in counts:
            by_length.setdefault(len(token), []).append(token)
        spelt = {token: spellings.most_common(1)[0][0] for token, spellings in words.items()}
        return cls(counts=counts, by_length=by_length, spelt=spelt, built_at=time.monotonic())

    def neighbours(self, word: str) -> list[str]:
        """The closest title words to `word` (at the smallest distance found), most frequent first."""
        limit = max_distance(word)
        if not limit:
            return []
        found: list[tuple[int, int, str]] = []
        for length in range(len(word) - limit, len(word) + limit + 1):
            bucket = self.by_length.get(length)
            if not bucket:
                continue
            for candidate, distance, _ in process.extract_iter(
                word, bucket, scorer=OSA.distance, score_cutoff=limit
            ):
                found.append((int(distance), -self.counts[candidate], candidate))
        if not found:
            return []
        best = min(d for d, _, _ in found)
        return [w for d, _, w in sorted(found) if d == best][:ALTERNATIVES]


_cache: dict[str, Vocabulary] = {}


def vocabulary() -> Vocabulary:
    ttl = float(getattr(settings, "OMNISHOP_SEARCH_SPELLING_TTL", 300))
    current = _cache.get("v")
    if current is None or current.built_at + ttl < time.monotonic():
        current = _cache["v"] = Vocabulary.build()
    return current


def forget() -> None:
    """The index changed in this process: the next correction reads the titles again."""
    _cache.pop("v", None)


def typed_words(query: str) -> dict[str, str]:
    """Each query token -> the word the shopper typed for it ("hody" -> "hodie")."""
    out: dict[str, str] = {}
    for word in _WORD.findall(normalise(query)):
        token = tokenize(word)
        if len(token) == 1:
            out.setdefault(token[0], word)
    return out


def correct(terms: Sequence[Term], query: str) -> tuple[list[Term], dict[str, list[str]]]:
    """The terms with the closest title words added to each unknown word, and per word what it was read
    as, spelt as the titles spell it."""
    corrections: dict[str, list[str]] = {}
    out: list[Term] = []
    vocab: Vocabulary | None = None
    typed: dict[str, str] = {}
    for term in terms:
        word = term.alternatives[0][0] if len(term.alternatives[0]) == 1 else ""
        if not (word.isalpha() and word.isascii() and max_distance(word)):
            out.append(term)
            continue
        vocab = vocab or vocabulary()
        if word in vocab.counts:
            out.append(term)
            continue
        near = [w for w in vocab.neighbours(word) if (w,) not in term.alternatives]
        if near:
            typed = typed or typed_words(query)  # read once, at the first correction
            corrections[typed.get(word, word)] = [vocab.spelt.get(w, w) for w in near]
            term = Term((*term.alternatives, *((w,) for w in near)), prefix=term.prefix)
        out.append(term)
    return out, corrections


__all__ = ["Vocabulary", "correct", "forget", "typed_words", "vocabulary"]
