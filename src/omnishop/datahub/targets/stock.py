"""Stock levels per location from a channel's or warehouse's stock export: each row states how many units
of a SKU are on hand at a location. The inventory context owns stock; the data hub turns the stated
quantity into the difference from the books and books it with `adjust_stock` (reason "correction"), so
the ledger explains every change and a re-import of the same counts is a no-op. A SKU the catalogue lacks
is looked up among the channel's SKU aliases (`variant_match`); a count booked through an alias is also
kept per (SKU, location) in `AliasStockCount`, so undoing the merge behind the alias can give it back."""

from __future__ import annotations

from omnishop.core.errors import DomainError

from ..models import AliasStockCount
from .base import IMPORTED, QUARANTINED, UNCHANGED, UPDATED, Prepared, Result, Target
from .variant_match import aliased_variant_ids


class StockLevelsTarget(Target):
    entity = "stock_level"
    key_fields = ("sku", "location")

    def write(self, rows: list[Prepared]) -> list[Result]:
        from omnishop.catalog.models import Variant
        from omnishop.inventory.models import StockLevel, StockLocation
        from omnishop.inventory.services import adjust_stock

        skus = {r.data["sku"] for r in rows}
        variants = {v.sku: v for v in Variant.objects.filter(sku__in=skus)}
        # The channel's own SKUs for catalogue variants (learnt by its products imports, or its SKU map).
        aliased = aliased_variant_ids(channel=self.channel, source=self.source, skus=skus - set(variants))
        if aliased:
            by_pk = Variant.objects.in_bulk(set(aliased.values()))
            variants.update((sku, by_pk[pk]) for sku, pk in aliased.items() if pk in by_pk)
        locations = {
            loc.code: loc for loc in StockLocation.objects.filter(code__in={r.data["location"] for r in rows})
        }
        results = []
        # Counts that came through an alias: (SKU, variant, location) -> [last count taken, booked]
        through_alias: dict[tuple, list] = {}
        for row in rows:
            data = row.data
            variant, location = variants.get(data["sku"]), locations.get(data["location"])
            reasons = []
            if variant is None:
                reasons.append(
                    {"field": "sku", "code": "unknown_sku", "message": f"No variant {data['sku']}."}
                )
            if location is None:
                reasons.append(
                    {
                        "field": "location",
                        "code": "unknown_location",
                        "message": f"No location {data['location']}.",
                    }
                )
            if reasons:
                results.append(Result(QUARANTINED, reasons))
                continue
            level = StockLevel.objects.filter(variant=variant, location=location).first()
            on_hand = level.on_hand if level else 0
            delta = data["on_hand"] - on_hand
            counted = None
            if data["sku"] in aliased:
                counted = through_alias.setdefault((data["sku"], variant.pk, location.pk), [None, 0])
            if delta == 0:
                if counted is not None:
                    counted[0] = data["on_hand"]
                results.append(Result(UNCHANGED if level else IMPORTED))
                continue
            try:
                adjust_stock(
                    variant=variant,
                    location=location,
                    delta=delta,
                    reason_code="correction",
                    note=f"stock count imported by datahub import #{self.job.pk}"[:500],
                    actor=f"datahub:{self.job.pk}",
                )
            except DomainError as exc:
                results.append(
                    Result(QUARANTINED, [{"field": "on_hand", "code": exc.code, "message": exc.message}])
                )
                continue
            if counted is not None:
                counted[0], counted[1] = data["on_hand"], counted[1] + delta
            self.entity_counts["stock_adjustments"] += 1
            results.append(Result(UPDATED if level else IMPORTED))
        self.remember_alias_counts(through_alias)
        return results

    def remember_alias_counts(self, counts: dict[tuple, list]) -> None:
        """Keep the last count and the sum of corrections per (channel SKU, variant, location)."""
        if not counts:
            return
        stored = {
            (c.external_sku, c.variant_id, c.location_id): c
            for c in AliasStockCount.objects.filter(
                source=self.source, external_sku__in={sku for sku, _v, _l in counts}
            )
        }
        for (sku, variant_id, location_id), (on_hand, booked) in counts.items():
            count = stored.get((sku, variant_id, location_id))
            if on_hand is None:  # its counts were refused (quarantined): nothing taken
                continue
            if count is None:
                count = AliasStockCount(
                    channel=self.channel, source=self.source, external_sku=sku, variant_id=variant_id,
                    location_id=location_id, on_hand=0,
                )  # fmt: skip
            count.on_hand, count.booked, count.job = on_hand, count.booked + booked, self.job
            count.save()
