"""Text normalisation and tokenisation shared by search indexing, queries and content recommenders.

One tokenizer for Chinese and English: NFKC folds full-width forms, runs of Han characters are segmented
with jieba (search mode also emits the short words inside long ones, so "手机壳" and "手机" meet), Latin words are lower-cased, stripped of
possessives and lightly stemmed (plural "s"), digits stay as tokens. Everything that is not a letter or
a digit — quotes, `*`, emoji, FTS operators — is a separator, so no input can reach a query language.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+", re.UNICODE)
_IS_HAN = re.compile(rf"[{_HAN}]")
_POSSESSIVE = re.compile(r"['’]s\b")

# Words too frequent to help ranking; kept short on purpose (product titles are short).
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "的",
        "了",
        "和",
        "是",
        "在",
        "与",
        "及",
        "或",
    ]
)


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").replace("\ufeff", "").lower()
    return _POSSESSIVE.sub("", text)


def _stem(word: str) -> str:
    """English plurals to one form. "-ies" is the plural of both "-y" (batteries) and "-ie" (hoodies,
    cookies), so words of five letters or more ending in either meet at "-y": hoodie, hoodies → hoody."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("ie"):
        return word[:-2] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str, *, search_mode: bool = True) -> list[str]:
    """Tokens of `text` in order, Chinese segmented, English stemmed, stop words removed."""
    out: list[str] = []
    for run in _TOKEN_RE.findall(normalise(text)):
        if _IS_HAN.match(run):
            jieba = _jieba()
            words = jieba.cut_for_search(run) if search_mode else jieba.cut(run)
            out.extend(w for w in words if w.strip() and w not in STOPWORDS)
        elif run not in STOPWORDS:
            out.append(_stem(run) if run.isalpha() else run)
    return out
