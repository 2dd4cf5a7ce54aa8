"""Variant matching across channels: which catalogue variant a channel's row is when its SKU is not the
catalogue's. Owns the SKU map (a profile table, a CSV file, or a job option), matching by option values
inside the product a row landed on, and the aliases (`datahub.SkuAlias`) that remember a channel's SKU for
the variant it named, so every later import from that channel (products, orders, stock) resolves it.

The products target asks, in this order: the SKU map, a remembered alias, the row's own SKU, its GTIN,
then the option values. An option match needs exactly one variant of the product with the same options
(axis names slugified, values folded for case, blanks and dashes) that came from another source: two
variants of one source with equal options are that source's own data, and two candidates are never
guessed between (the row creates its variant as before and the job reports the case).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.utils.text import slugify

from omnishop.catalog import gtin as gtins
from omnishop.catalog.models import Product, Variant

from ..errors import InvalidSkuMap
from ..models import ImportedRecord, SkuAlias
from .catalog_common import among

if TYPE_CHECKING:
    from .product_batch import Batch

OPTION_VALUES = SkuAlias.How.OPTION_VALUES.value
SKU_MAP = SkuAlias.How.SKU_MAP.value
AMBIGUOUS = "ambiguous"
MAX_CASES = 500  # cases listed in the quality report; the counts in entity_counts are always complete
MAX_SKU = 64  # Variant.sku

_BLANKS = re.compile(r"[\s_\-]+")


# -- option values ---------------------------------------------------------------------------------------
def fold_value(value: Any) -> str:
    """An option value made comparable: `No logo`, `no-logo` and ` NO  LOGO ` are one value."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return _BLANKS.sub(" ", text).strip()


def option_key(axes: dict) -> tuple[tuple[str, str], ...]:
    """A variant's options as a comparable key: slugified axis names, folded values, in name order."""
    folded = {slugify(str(name)): fold_value(value) for name, value in (axes or {}).items()}
    return tuple(sorted((name, value) for name, value in folded.items() if name))


# -- SKU maps --------------------------------------------------------------------------------------------
def _checked(mapping: Any, *, where: str) -> dict[str, str]:
    if not isinstance(mapping, dict):
        raise InvalidSkuMap(f"{where} must be a table of channel SKU = catalogue SKU.", field=where)
    out: dict[str, str] = {}
    for channel_sku, catalog_sku in mapping.items():
        if not isinstance(catalog_sku, str) or not str(channel_sku).strip() or not catalog_sku.strip():
            raise InvalidSkuMap(f"{where}: '{channel_sku}' must map to a catalogue SKU as text.", field=where)
        channel_sku, catalog_sku = str(channel_sku).strip(), catalog_sku.strip()
        if len(channel_sku) > MAX_SKU or len(catalog_sku) > MAX_SKU:
            raise InvalidSkuMap(f"{where}: a SKU is at most {MAX_SKU} characters.", field=where)
        out[channel_sku] = catalog_sku
    return out


def parse_sku_map_csv(text: str, *, name: str) -> dict[str, str]:
    """Two columns, channel_sku,catalog_sku (a header with those names is optional); blank lines skipped."""
    mapping: dict[str, str] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells] == ["channel_sku", "catalog_sku"]:
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise InvalidSkuMap(
                f"{name}, line {number}: expected two columns, channel_sku,catalog_sku.", field="sku_map_file"
            )
        mapping[cells[0]] = cells[1]
    return _checked(mapping, where="sku_map_file")


def read_sku_map_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSkuMap(
            f"The SKU map file {path} cannot be read ({exc}).", field="sku_map_file"
        ) from None
    return parse_sku_map_csv(text, name=path.name)


def sku_map_of(options: dict, *, profile_path: Path | None) -> dict[str, str]:
    """The job's SKU map: the entries of `sku_map_file` (relative to the profile's file, or absolute), then
    the inline `sku_map` table over them (a job's own `target.sku_map` option overrides the profile's)."""
    mapping: dict[str, str] = {}
    file = options.get("sku_map_file")
    if file:
        path = Path(str(file))
        if not path.is_absolute() and profile_path is not None:
            path = profile_path.parent / path
        mapping.update(read_sku_map_file(path))
    if options.get("sku_map") is not None:
        mapping.update(_checked(options["sku_map"], where="sku_map"))
    return mapping


def check_job_options(target_options: dict) -> None:
    """An import's own options (upload, server import, CLI) may carry an inline `sku_map`, never a path:
    an uploader must not make the server read a file of its choosing (the CLI reads `--sku-map FILE`
    itself and passes the table)."""
    if "sku_map_file" in target_options:
        raise InvalidSkuMap(
            "An import names its SKU map inline (options.target.sku_map); a map file is read from a profile "
            "or by `omnishop import --sku-map FILE`.",
            field="options",
        )
    if "sku_map" in target_options:
        _checked(target_options["sku_map"], where="sku_map")


# -- aliases ---------------------------------------------------------------------------------------------
def alias_scope(*, channel, source: str) -> dict[str, Any]:
    """Where a channel's SKUs live: the channel; an import without one keeps its aliases under its source."""
    if channel is not None:
        return {"channel": channel}
    return {"channel__isnull": True, "source": source}


def aliased_variant_ids(*, channel, source: str, skus: Iterable[str]) -> dict[str, int]:
    """The channel's SKUs among `skus` that name a catalogue variant through an alias: SKU -> variant id.
    One query per 10,000 SKUs (the orders and stock targets call it for the SKUs the catalogue lacks)."""
    skus = [s for s in dict.fromkeys(skus) if s]
    found: dict[str, int] = {}
    if not skus:
        return found
    aliases = SkuAlias.objects.filter(**alias_scope(channel=channel, source=source))
    for queryset in among(aliases, "external_sku", skus):
        found.update(queryset.values_list("external_sku", "variant_id"))
    return found


class VariantMatcher:
    """One products job's variant matching: its SKU map, the aliases it loaded or learnt, the variants its
    rows landed on, and the cases it reports."""

    def __init__(self, target) -> None:
        # A weak proxy: the target holds this helper, and a strong reference back would be a cycle that kept
        # every job's target alive until the garbage collector's next full pass.
        self.target = weakref.proxy(target)
        self.sku_map = sku_map_of(target.options, profile_path=getattr(target.profile, "path", None))
        self.scope = alias_scope(channel=target.channel, source=target.source)
        self.any_stored = SkuAlias.objects.filter(**self.scope).exists()
        self.aliases: dict[str, tuple[int | None, str]] = {}  # channel SKU -> (variant id, how)
        self.stored: dict[str, SkuAlias] = {}  # channel SKU -> its row, when one exists
        self.pending: dict[str, tuple[Variant, str]] = {}  # learnt in this batch, written by `flush`
        self.claimed: set[int] = set()  # variants this job's rows landed on or made: this source's now
        self.made: set[int] = set()  # products this job created: they hold only this job's variants
        self.options_of: dict[int, list[tuple[int, tuple, str]]] = {}  # product -> (variant, key, GTIN)
        self.cases: list[dict] = []

    # -- per batch -------------------------------------------------------------------------------------
    def prepare(self, batch: Batch, skus: set[str]) -> None:
        """The batch's stored aliases and the variants they and the SKU map name, in two queries."""
        if not self.any_stored and not self.sku_map:
            return
        if self.any_stored:
            wanted = [s for s in skus if s not in self.stored]
            for queryset in among(SkuAlias.objects.filter(**self.scope), "external_sku", wanted):
                for alias in queryset:
                    self.stored[alias.external_sku] = alias
                    self.aliases.setdefault(alias.external_sku, (alias.variant_id, alias.how))
        pks = {pk for s in skus if (pk := self.aliases.get(s, (None, ""))[0]) is not None}
        batch.preload(pks=pks, skus={self.sku_map[s] for s in skus if s in self.sku_map})

    def known(self, sku: str, batch: Batch) -> tuple[Variant | None, str]:
        """The variant the channel's SKU names through the SKU map, else a remembered alias: (variant,
        how), or (None, "") when neither names one. A map entry whose catalogue SKU is unknown gives
        (None, "sku_map"): the row is refused rather than creating the duplicate the map is there to stop."""
        mapped = self.sku_map.get(sku)
        if mapped is not None:
            return batch.variant_by_sku(mapped), SKU_MAP
        if sku in self.pending:
            return self.pending[sku]
        pk, how = self.aliases.get(sku, (None, ""))
        variant = batch.variant_by_pk(pk) if pk is not None else None
        return (variant, how) if variant is not None else (None, "")

    def by_options(
        self, product: Product, axes: dict, *, sku: str, gtin: str | None, line: int, batch: Batch
    ) -> Variant | None:
        """The product's one variant from another source with the row's option values, or None. Two such
        variants: the row keeps its own (created as before) and the case is reported."""
        if product.pk is None or product.pk in self.made:  # a product new in this job: only its variants
            return None
        wanted = option_key(axes)
        entries = self.options_of.get(product.pk)
        if entries is None:
            rows = Variant.objects.filter(product_id=product.pk).values_list("pk", "attributes", "gtin")
            entries = self.options_of[product.pk] = [
                (pk, option_key(attributes), code or "") for pk, attributes, code in rows
            ]
        candidates = [
            pk
            for pk, key, code in entries
            if key == wanted and pk not in self.claimed and _same_item(code, gtin)
        ]
        if candidates:
            ours = self.of_this_source(candidates)
            self.claimed.update(ours)  # asked once: they stay this source's
            candidates = [pk for pk in candidates if pk not in ours]
        if len(candidates) > 1:
            self.target.entity_counts["variant_matches_ambiguous"] += 1
            self.note(
                line=line, sku=sku, how=AMBIGUOUS, variant=None, product=product.pk, candidates=candidates
            )
            return None
        return batch.variant_by_pk(candidates[0]) if candidates else None

    def of_this_source(self, pks: list[int]) -> set[int]:
        """The variants among `pks` this source already imported a row into, or named by an alias."""
        target = self.target
        ledger = ImportedRecord.objects.filter(
            source=target.source, entity="row", natural_key__startswith="variant:", object_id__in=pks
        ).values_list("object_id", flat=True)
        aliased = SkuAlias.objects.filter(**self.scope, variant_id__in=pks).values_list(
            "variant_id", flat=True
        )
        return set(ledger) | set(aliased)

    def claim(self, variant: Variant) -> None:
        if variant.pk is not None:
            self.claimed.add(variant.pk)

    def landed(self, sku: str, variant: Variant, how: str, *, line: int) -> None:
        """A row of the channel landed on `variant` through `how`: remember the alias (written after the
        batch) and report the case when it is new or changed."""
        if sku == variant.sku:
            return  # the map or an old alias names the variant by its own SKU: nothing to remember
        before = self.aliases.get(sku)
        if before is not None and before == (variant.pk, how) and sku not in self.pending:
            return
        self.pending[sku] = (variant, how)
        counter = "variants_mapped_by_sku_map" if how == SKU_MAP else "variants_matched_by_options"
        self.target.entity_counts[counter] += 1
        self.note(line=line, sku=sku, how=how, variant=variant, product=variant.product_id)

    def note(self, **case: Any) -> None:
        if len(self.cases) < MAX_CASES:
            self.cases.append(case)

    def flush(self, batch: Batch) -> None:
        """After the batch is written: its new products and variants are this job's (no option match with
        them, no query to learn it), and the aliases it learnt are written (new variants have ids now)."""
        self.made.update(p.pk for p in batch.new_products if p.pk is not None)
        self.claimed.update(v.pk for v in batch.new_variants if v.pk is not None)
        if not self.pending:
            return
        job = self.target.job
        new, changed = [], []
        for sku, (variant, how) in self.pending.items():
            alias = self.stored.get(sku)
            if alias is None:
                alias = SkuAlias(
                    channel=self.target.channel,
                    source=self.target.source[:80],
                    external_sku=sku,
                    variant_id=variant.pk,
                    how=how,
                    job=job,
                )
                new.append(alias)
            else:
                alias.variant_id, alias.how, alias.job = variant.pk, how, job
                changed.append(alias)
            self.stored[sku] = alias
            self.aliases[sku] = (variant.pk, how)
        SkuAlias.objects.bulk_create(new, batch_size=1000)
        SkuAlias.objects.bulk_update(changed, ["variant", "how", "job", "updated_at"], batch_size=1000)
        self.any_stored = True
        self.pending = {}

    def report(self) -> dict:
        """The quality report's list of cases: which channel SKU went to which variant, and why."""
        out = []
        for case in self.cases:
            variant = case.get("variant")
            item = {
                "line": case["line"],
                "sku": case["sku"],
                "how": case["how"],
                "variant": variant.pk if variant is not None else None,
                "variant_sku": variant.sku if variant is not None else None,
                "product": case.get("product") or (variant.product_id if variant is not None else None),
                "candidates": case.get("candidates", []),
            }
            out.append(item)
        return {"variant_matches": out}


def _same_item(stored: str, row: str | None) -> bool:
    """Two GTINs name one trade item (any length); a missing one does not stand in the way."""
    if not stored or not row:
        return True
    return gtins.as_gtin14(stored) == gtins.as_gtin14(row)


__all__ = [
    "VariantMatcher",
    "aliased_variant_ids",
    "check_job_options",
    "option_key",
    "parse_sku_map_csv",
    "sku_map_of",
]
