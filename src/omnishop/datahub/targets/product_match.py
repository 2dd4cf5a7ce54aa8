"""Cross-channel product matching for the products target: a new product key of a source (no ledger entry
yet) is compared with the products already in the catalog — same normalised title, or a variant holding one
of the product's GTINs — and each candidate gets a score with its reasons.

- A product this source created itself (its ledger names it, no merge record) is the source's own: reused
  as before (a feed without product keys groups its variants by title).
- Another source's or a hand-made product: score >= `product_match_auto` and no conflicting field → merge:
  the source's variants, listings and images attach to it, only *missing* fields are filled, and a
  `ProductMerge` records what is needed to undo it (`datahub.product_merges.undo_product_merge`).
- Score >= `product_match_review`, or any conflict (brand differs, an attribute disagrees) → the row makes
  its own product and a `MatchCandidate` opens in the review queue. Otherwise its own product, nothing else.
- A pair staff rejected (or a merge undone) is never proposed or merged again.

The score is the sum of the evidence (capped at 1): same normalised title 0.5, a shared GTIN 0.7, the same
brand 0.2, descriptions alike (token-set Dice ≥ 0.5) up to 0.15, shared attributes that agree 0.1, the same
option names (a variable product's axes, e.g. color and logo, against the existing product's variants) 0.1,
the same category 0.1. Weights and thresholds are documented in docs/datahub.md.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils.text import slugify

from omnishop.catalog import gtin as gtins
from omnishop.catalog.models import ChannelListing, Product, Variant

from ..models import ImportedRecord, MatchCandidate, ProductMerge, SkuAlias
from .base import IMPORTED, MERGED, Prepared
from .catalog_common import among, normalise_title

if TYPE_CHECKING:
    from .products import ProductsTarget

AUTO, REVIEW = 0.85, 0.5
OPTION_MATCH = SkuAlias.How.OPTION_VALUES.value
WEIGHTS = {
    "title": 0.5,
    "gtin": 0.7,
    "brand": 0.2,
    "description": 0.15,
    "attributes": 0.1,
    "options": 0.1,
    "category": 0.1,
}
IGNORED_ATTRIBUTES = {"tags", "source", "_options", "vendor_type", "grouped_skus", "downloads"}
FILLABLE = ("brand", "description", "category", "attributes")


@dataclass
class Match:
    product: Product
    score: float
    reasons: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def similarity(left: str, right: str) -> float:
    """Token-set Dice coefficient of two texts after title normalisation (accents, case, punctuation)."""
    a, b = set(normalise_title(left).split()), set(normalise_title(right).split())
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def score_pair(
    existing: Product,
    fields: dict,
    *,
    gtin_hits: list[str],
    options: frozenset[str] = frozenset(),
    known_options: frozenset[str] = frozenset(),
) -> Match:
    """The evidence that `fields` (an incoming product) and `existing` are the same product; `options` are
    the option names the incoming product declares, `known_options` the axes of `existing`'s variants."""
    match = Match(existing, 0.0)
    score = 0.0
    if normalise_title(fields["title"]) == normalise_title(existing.title):
        score += WEIGHTS["title"]
        match.reasons.append(f"title: same normalised title '{normalise_title(existing.title)}'")
    elif gtin_hits:
        match.reasons.append(f"title: differs ('{existing.title}' / '{fields['title']}')")
    if gtin_hits:
        score += WEIGHTS["gtin"]
        match.reasons.append(f"gtin: {', '.join(sorted(gtin_hits))} already on this product's variants")
    brand, theirs = fields.get("brand") or "", existing.brand or ""
    if brand and theirs:
        if normalise_title(brand) == normalise_title(theirs):
            score += WEIGHTS["brand"]
            match.reasons.append(f"brand: equal ('{theirs}')")
        else:
            match.conflicts.append("brand")
            match.reasons.append(f"brand: conflicting ('{theirs}' / '{brand}')")
    elif brand or theirs:
        match.reasons.append("brand: one side empty")
    description, known = fields.get("description") or "", existing.description or ""
    if description and known:
        alike = similarity(description, known)
        if alike >= 0.5:
            score += WEIGHTS["description"] * alike
        match.reasons.append(f"description: {round(alike * 100)}% alike")
    elif description or known:
        match.reasons.append("description: one side empty")
    attributes, stored = fields.get("attributes") or {}, existing.attributes or {}
    shared = sorted(k for k in set(attributes) & set(stored) if k not in IGNORED_ATTRIBUTES)
    disagree = [k for k in shared if str(attributes[k]).lower() != str(stored[k]).lower()]
    if disagree:
        match.conflicts.append("attributes")
        match.reasons.append(f"attributes: {', '.join(disagree)} disagree")
    elif shared:
        score += WEIGHTS["attributes"]
        match.reasons.append(f"attributes: {', '.join(shared)} agree")
    if options and known_options:
        if options == known_options:
            score += WEIGHTS["options"]
            match.reasons.append(f"options: same option names ({', '.join(sorted(options))})")
        else:
            match.reasons.append("options: differ")
    category = fields.get("category")
    if category is not None and existing.category_id is not None:
        if category.pk == existing.category_id:
            score += WEIGHTS["category"]
            match.reasons.append(f"category: same ({category.path})")
        else:
            match.reasons.append("category: differs")
    match.score = round(min(score, 1.0), 4)
    return match


def declared_options(*, flavour: str, data: dict, attributes: dict) -> frozenset[str]:
    """The option names an incoming product declares: Shopify's Option names, a WooCommerce variable
    product's Attribute N names (slugified, as its variants' axes are)."""
    names = list(attributes.get("_options") or [])
    if not names and flavour == "woocommerce" and data.get("product_type") == "variable":
        names = [data[f"attribute{i}_name"] for i in (1, 2) if data.get(f"attribute{i}_name")]
    return frozenset(n for n in (slugify(str(name)) for name in names) if n)


def fill_missing(product: Product, fields: dict) -> dict:
    """Fill only what `product` lacks from `fields` (empty brand or description, no category, attribute
    keys it does not have); returns {field: {"before": ..., "after": ...}} of what changed."""
    filled: dict = {}
    for name in ("brand", "description"):
        if not getattr(product, name) and fields.get(name):
            filled[name] = {"before": getattr(product, name), "after": fields[name]}
            setattr(product, name, fields[name])
    category = fields.get("category")
    if product.category_id is None and category is not None and category.pk is not None:
        filled["category"] = {"before": None, "after": category.pk}
        product.category = category
    stored = product.attributes or {}
    extra = {k: v for k, v in (fields.get("attributes") or {}).items() if k not in stored and k != "_options"}
    if extra:
        after = {**stored, **extra}
        filled["attributes"] = {"before": dict(stored), "after": after}
        product.attributes = after
    return filled


def incoming_of(fields: dict) -> dict:
    """The fields the source's own product would have: kept on an import-time merge so undo can build it."""
    category = fields.get("category")
    return {
        "title": fields["title"],
        "description": fields["description"],
        "brand": fields["brand"],
        "attributes": fields["attributes"],
        "is_active": fields["is_active"],
        "category": category.pk if category is not None else None,
    }


def merge_filled(record: dict, filled: dict) -> dict:
    """A later fill of the same merged product: the oldest `before` stays, `after` is the newest."""
    out = dict(record)
    for name, change in filled.items():
        out[name] = {"before": out[name]["before"], "after": change["after"]} if name in out else change
    return out


@dataclass
class Decision:
    product: Product | None = None  # the product the row lands on (None: a new one)
    own: bool = False  # a product this source created: refreshed as before
    match: Match | None = None  # merge (auto) or, with review, the candidate to queue
    review: list[Match] = field(default_factory=list)


class ProductMatching:
    """The products target's matcher: decides each new product key, records merges and review candidates
    once the batch is written (new products have their primary keys then)."""

    def __init__(self, target: ProductsTarget) -> None:
        # A weak proxy: the target holds this helper, and a strong reference back would be a cycle that kept
        # every job's target alive until the garbage collector's next full pass.
        self.target = weakref.proxy(target)
        options = target.options
        self.auto = float(options.get("product_match_auto", AUTO))
        self.review = float(options.get("product_match_review", REVIEW))
        self.owners: dict[int, set[str]] = {}  # product pk -> sources whose product ledger names it
        self.active: dict[int, ProductMerge] | None = None  # product pk -> this source's merge into it
        self.rejected: dict[int, set[int]] | None = None  # product pk -> products judged different
        self.gtins_by_key: dict[str, set[str]] = {}
        self.axes: dict[int, frozenset[str]] = {}  # candidate product pk -> its variants' option axes
        self.created: set[int] = set()  # pks of products this job created
        self.owners_read = False  # the batch's loaded products have their owners read
        self.new_merges: list[tuple[Product, Match, dict, dict]] = []
        self.pending: dict[int, int] = {}  # product pk -> its entry in new_merges
        self.changed_merges: dict[int, ProductMerge] = {}
        self.candidates: list[tuple[Match, Product]] = []
        self.landings: list[tuple[str, Variant, str, dict, dict]] = []  # (sku, variant, how, fields, filled)
        self.row_merged = self.row_queued = False

    # -- per batch ---------------------------------------------------------------------------------------
    def start_batch(self, rows: list[Prepared]) -> None:
        """The GTINs of each product key in the batch (a Shopify product's barcodes sit on its variant rows)."""
        self.gtins_by_key = {}
        self.owners_read = False
        for row in rows:
            code, key = row.data.get("gtin"), row.data.get("product_key") or row.data.get("sku")
            if key and isinstance(code, str) and gtins.is_valid_gtin(code.strip()):
                self.gtins_by_key.setdefault(str(key), set()).add(code.strip())

    def load_owners(self, pks: set[int]) -> None:
        missing = {pk for pk in pks if pk not in self.owners}
        if not missing:
            return
        for pk in missing:
            self.owners[pk] = set()
        for queryset in among(ImportedRecord.objects.filter(entity="product"), "object_id", missing):
            for source, pk in queryset.values_list("source", "object_id"):
                self.owners[pk].add(source)

    def merges_of_source(self) -> dict[int, ProductMerge]:
        if self.active is None:
            source = self.target.source
            self.active = {
                m.product_id: m
                for m in ProductMerge.objects.filter(undone_at__isnull=True, product__isnull=False)
                if source in m.sources and m.product_id is not None
            }
        return self.active

    def rejected_pairs(self) -> dict[int, set[int]]:
        if self.rejected is None:
            self.rejected = {}
            pairs = MatchCandidate.objects.filter(entity="product", status=MatchCandidate.Status.REJECTED)
            for left, right in pairs.values_list("left_id", "right_id"):
                self.rejected.setdefault(left, set()).add(right)
                self.rejected.setdefault(right, set()).add(left)
        return self.rejected

    # -- per row -----------------------------------------------------------------------------------------
    def merged_into(self, product: Product) -> bool:
        """The source merged into `product` (now or earlier): its later rows only fill missing fields."""
        if product.pk is None:
            return False
        return product.pk in self.pending or product.pk in self.merges_of_source()

    def owns(self, product: Product) -> bool:
        if product.pk is None or product.pk in self.created:
            return True  # created by this job: the source's own
        if product.pk in self.merges_of_source():
            return False
        self.load_owners({product.pk})
        return self.target.source in self.owners[product.pk]

    def decide(self, *, fields: dict, attributes: dict, data: dict, key: str) -> Decision:
        target = self.target
        title = fields["title"]
        wanted = normalise_title(title)
        titled: list[Product] = []
        if wanted and target.title_index is not None:
            entries = target.title_index.get(wanted, ())
            if not self.owners_read:
                self.load_owners(self.loaded_unknown())
                self.owners_read = True
            for entry in entries:
                candidate = target.product_by_pk(entry) if isinstance(entry, int) else entry
                if candidate is None or getattr(candidate, "_dropped", False):
                    continue
                if normalise_title(candidate.title) == wanted:
                    titled.append(candidate)
        for candidate in titled:  # the source's own product under this title: as before
            if self.owns(candidate) and attributes_agree(attributes, candidate.attributes):
                return Decision(product=candidate, own=True)
        by_gtin: dict[int, tuple[Product, list[str]]] = {}
        codes = set(self.gtins_by_key.get(str(data.get("product_key") or data.get("sku") or key), ()))
        if isinstance(data.get("gtin"), str) and gtins.is_valid_gtin(data["gtin"].strip()):
            codes.add(data["gtin"].strip())
        for code in sorted(codes):
            holder: Variant | None = target.batch.variant_by_gtin(code)
            if holder is None or holder.product_id is None:
                continue
            product = target.product_by_pk(holder.product_id)
            if product is not None and not self.owns(product):
                by_gtin.setdefault(product.pk, (product, []))[1].append(code)
        pool: dict[int, tuple[Product, list[str]]] = dict(by_gtin)
        for candidate in titled:
            if candidate.pk is not None and candidate.pk not in pool and not self.owns(candidate):
                pool[candidate.pk] = (candidate, [])
        rejected = self.rejected_pairs()
        mine = self.products_of_source()
        options = declared_options(flavour=target.flavour, data=data, attributes=attributes)
        matches = [
            score_pair(
                product,
                fields,
                gtin_hits=codes_,
                options=options,
                known_options=self.axes_of(pk) if options else frozenset(),
            )
            for pk, (product, codes_) in pool.items()
            if not (rejected.get(pk, set()) & mine) and product.is_active
        ]
        matches.sort(key=lambda m: (not m.conflicts, m.score, -(m.product.pk or 0)), reverse=True)
        best = matches[0] if matches else None
        if best is not None and not best.conflicts and best.score >= self.auto:
            return Decision(product=best.product, match=best)
        review = [m for m in matches if m.score >= self.review or m.conflicts]
        return Decision(review=review)

    def axes_of(self, pk: int) -> frozenset[str]:
        """The option axes of a candidate product's variants (one query per candidate, asked only when the
        incoming product declares options)."""
        if pk not in self.axes:
            rows = Variant.objects.filter(product_id=pk).values_list("attributes", flat=True)
            self.axes[pk] = frozenset(slugify(str(name)) for attributes in rows for name in attributes or {})
        return self.axes[pk]

    def loaded_unknown(self) -> set[int]:
        """Products in the job's identity map whose owners are not known yet: read in one query per batch."""
        return {pk for pk in self.target.loaded if pk not in self.owners}

    def products_of_source(self) -> set[int]:
        return {pk for pk, sources in self.owners.items() if self.target.source in sources}

    def merge(self, product: Product, match: Match, fields: dict) -> None:
        """An import-time merge: fill what the product lacks, record it once the batch is written."""
        if product.pk in self.pending or product.pk in self.merges_of_source():
            self.refill(product, fields)  # a second key of the source matched the same product
            self.row_merged = True
            return
        filled = fill_missing(product, fields)
        if filled:
            self.target.batch.change_product(product)
        self.pending[product.pk] = len(self.new_merges)
        self.new_merges.append((product, match, filled, incoming_of(fields)))
        self.row_merged = True

    def refill(self, product: Product, fields: dict) -> None:
        """A later row of a source merged into `product`: it does not own it, it fills missing fields only."""
        filled = fill_missing(product, fields)
        if filled:
            self.target.batch.change_product(product)
        if product.pk in self.pending:
            index = self.pending[product.pk]
            kept, match, before, _incoming = self.new_merges[index]
            self.new_merges[index] = (kept, match, merge_filled(before, filled), incoming_of(fields))
            return
        merge = self.merges_of_source()[product.pk]
        merge.filled = merge_filled(merge.filled, filled)
        merge.incoming = incoming_of(fields)
        self.changed_merges[merge.pk] = merge

    def landed(self, *, sku: str, variant: Variant, how: str, fields: dict, filled: dict) -> None:
        """A row landed on an older variant under another SKU (option values, SKU map): a merge of the
        variant's product records an option match so undo can give the row its own variant back."""
        self.landings.append((sku, variant, how, fields, filled))

    def queue(self, matches: list[Match], product: Product) -> None:
        self.candidates.extend((m, product) for m in matches)
        self.row_queued = True

    def outcome(self, outcome: str) -> str:
        """A row whose product was matched into another's counts as merged."""
        if self.row_merged and outcome == IMPORTED:
            return MERGED
        return outcome

    def start_row(self) -> None:
        self.row_queued = self.row_merged = False

    # -- after the batch is written ------------------------------------------------------------------------
    def after_flush(self, batch) -> None:
        target = self.target
        self.created.update(p.pk for p in batch.new_products if p.pk is not None)
        active = self.merges_of_source()
        for product, match, filled, incoming in self.new_merges:
            record = ProductMerge.objects.create(
                kind=ProductMerge.Kind.IMPORT,
                product=product,
                sources=[target.source],
                channel=target.channel,
                job=target.job,
                score=match.score,
                reasons=match.reasons,
                filled=filled,
                incoming=incoming,
                moved={"variants": [], "images": [], "shared_listings": []},
            )
            active[product.pk] = record
            target.entity_counts["products_merged"] += 1
        self.new_merges, self.pending = [], {}
        self.note_contributions(batch, active)
        if self.changed_merges:
            ProductMerge.objects.bulk_update(
                list(self.changed_merges.values()), ["filled", "incoming", "moved", "variant_conflicts"]
            )
            self.changed_merges = {}
        candidates = []
        for match, product in self.candidates:
            if product.pk is None or getattr(product, "_dropped", False):
                continue
            candidates.append(
                MatchCandidate(
                    entity="product",
                    left_id=match.product.pk,
                    right_id=product.pk,
                    score=match.score,
                    reasons=match.reasons,
                    job=target.job,
                )
            )
        MatchCandidate.objects.bulk_create(candidates, ignore_conflicts=True)
        target.entity_counts["product_candidates_opened"] += len(candidates)
        self.candidates = []

    def note_contributions(self, batch, active: dict[int, ProductMerge]) -> None:
        """What this batch added under products the source merged into — variants, images, listings on the
        product's older variants — goes on the merge record: undo gives it back (or, for a listing on a
        variant the product had before, refuses)."""
        landings, self.landings = self.landings, []
        if not active:
            return
        landed = {variant.pk for _sku, variant, _how, _fields, _filled in landings}
        new_variant_ids = {v.pk for v in batch.new_variants}
        touched: dict[int, ProductMerge] = {}
        for variant in batch.new_variants:
            record = active.get(variant.product_id)
            if record is not None:
                record.moved.setdefault("variants", []).append(variant.pk)
                touched[record.pk] = record
        for image in batch.new_images:
            record = active.get(image.product_id)
            if record is not None and image.pk is not None:
                record.moved.setdefault("images", []).append(image.pk)
                touched[record.pk] = record
        for listing in batch.new_listings:  # a listing on a variant the product had before
            variant = batch.variants_by_pk.get(listing.variant_id)
            if variant is None or variant.pk in new_variant_ids or variant.pk in landed:
                continue  # a landing by option values is recorded below; one by the SKU map stays
            record = active.get(variant.product_id)
            if record is not None:
                record.moved.setdefault("shared_listings", []).append(listing.variant_id)
                touched[record.pk] = record
        self.note_option_matches(landings, active, touched)
        if not touched:
            return
        products = {r.product_id for r in touched.values()}
        axes: dict[int, list[tuple[int, str, dict]]] = {}
        for pk, product_id, sku, attributes in Variant.objects.filter(product_id__in=products).values_list(
            "pk", "product_id", "sku", "attributes"
        ):
            axes.setdefault(product_id, []).append((pk, sku, attributes))
        for record in touched.values():
            mine = set(record.moved.get("variants", []))
            theirs = [(pk, sku, a) for pk, sku, a in axes.get(record.product_id, []) if pk not in mine]
            record.variant_conflicts = [
                {"variant": sku, "same_as": other, "options": attributes}
                for pk, sku, attributes in axes.get(record.product_id, [])
                if pk in mine and attributes
                for _opk, other, other_attributes in theirs
                if other_attributes == attributes
            ]
            self.changed_merges[record.pk] = record

    def note_option_matches(
        self, landings: list, active: dict[int, ProductMerge], touched: dict[int, ProductMerge]
    ) -> None:
        """Rows that landed by option values on a variant of a product the source merged into: the merge
        records the row's own variant (SKU, options, weight, GTIN), what it filled on the kept variant and
        the channel's listing, so undo builds the source's variant back and moves the listing to it."""
        channel = self.target.channel
        found = [(sku, v, f, filled) for sku, v, how, f, filled in landings if how == OPTION_MATCH]
        found = [item for item in found if item[1].product_id in active]
        if not found:
            return
        listings: dict[int, int] = {}
        if channel is not None:
            listings = dict(
                ChannelListing.objects.filter(
                    channel=channel, variant_id__in={v.pk for _s, v, _f, _d in found}
                ).values_list("variant_id", "pk")
            )
        for sku, variant, fields, filled in found:
            record = active[variant.product_id]
            entries = record.moved.setdefault("option_matches", [])
            old = next((e for e in entries if e["sku"] == sku), None)
            if old is not None and old.get("id") is not None:
                continue  # folded when staff accepted the merge: undo recreates that very row
            entry = {
                "sku": sku,
                "variant": variant.pk,
                "channel": channel.pk if channel is not None else None,
                "fields": {k: v for k, v in fields.items() if v not in (None, "")},
                "filled": merge_filled(old["filled"], filled) if old else filled,
                "listings": sorted(
                    {
                        *(old["listings"] if old else []),
                        *([listings[variant.pk]] if variant.pk in listings else []),
                    }
                ),
            }
            if old is not None:
                entries[entries.index(old)] = entry
            else:
                entries.append(entry)
            touched[record.pk] = record


def attributes_agree(incoming: dict, stored: dict) -> bool:
    """Today's title rule within one source: shared attributes (but tags and source) agree."""
    shared = set(incoming) & set(stored)
    return all(
        str(incoming[k]).lower() == str(stored[k]).lower() for k in shared if k not in ("tags", "source")
    )


__all__ = ["Match", "ProductMatching", "fill_missing", "score_pair", "similarity"]
