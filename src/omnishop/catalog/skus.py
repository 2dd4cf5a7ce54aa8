"""How SKUs are compared: two SKUs are the same SKU when they are equal after Unicode NFKC normalisation
and case folding ('sku-1' = 'SKU-1', full-width 'ＳＫＵ-1' = 'SKU-1'). Pure functions: the model, the
services and the migration that reports clashes among existing SKUs all use these."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable


def sku_key(sku: str) -> str:
    """The form a SKU is compared in."""
    return unicodedata.normalize("NFKC", sku).casefold()


def sku_clashes(skus: Iterable[str]) -> list[list[str]]:
    """Groups of distinct SKUs that are the same SKU under `sku_key`, each sorted, sorted by first SKU."""
    groups: dict[str, set[str]] = defaultdict(set)
    for sku in skus:
        groups[sku_key(sku)].add(sku)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)
