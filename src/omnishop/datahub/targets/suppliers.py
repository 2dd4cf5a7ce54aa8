"""Supplier targets: suppliers (marketplace sellers, vendors) and supplier offers, written per batch."""

from __future__ import annotations

from omnishop.catalog import services as catalog
from omnishop.catalog.models import Supplier, SupplierOffer, Variant
from omnishop.core.errors import DomainError
from omnishop.core.money import validate_currency

from .base import (
    IMPORTED,
    MERGED,
    QUARANTINED,
    UNCHANGED,
    UPDATED,
    Ledger,
    Prepared,
    Result,
    Target,
    content_hash,
)
from .catalog_common import chunks, reason_of, record


class SuppliersTarget(Target):
    """Suppliers (marketplace sellers, vendors) by their code, in bulk; re-imports update in place."""

    entity = "supplier"
    key_fields = ("code",)
    FIELDS = ("name", "email", "phone", "country", "city", "postcode", "currency")

    def write(self, rows: list[Prepared]) -> list[Result]:
        ledger = Ledger(source=self.source, entity="supplier", job=self.job)
        codes = [row.data["code"][:50] for row in rows]
        existing = ledger.load(codes)
        by_code = {}
        for chunk in chunks(set(codes)):
            by_code.update((s.code, s) for s in Supplier.objects.filter(code__in=chunk))
        results: list[Result] = []
        entries: dict[str, tuple[int, str]] = {}
        new: dict[str, Supplier] = {}
        changed: dict[str, Supplier] = {}
        for row, code in zip(rows, codes, strict=True):
            data = row.data
            digest = content_hash(data)
            if (code in existing and existing[code][1] == digest) or code in new or code in changed:
                results.append(Result(UNCHANGED))
                continue
            try:
                values = self.checked(data, code)
            except DomainError as exc:
                results.append(Result(QUARANTINED, [reason_of(exc)]))
                continue
            supplier = by_code.get(code)
            if supplier is None:
                new[code] = Supplier(code=code, **values)
                outcome = IMPORTED
            else:
                for name, value in values.items():
                    setattr(supplier, name, value)
                changed[code] = supplier
                outcome = UPDATED if code in existing else MERGED
            entries[code] = (0, digest)
            results.append(Result(outcome))
        Supplier.objects.bulk_create(list(new.values()), batch_size=1000)
        Supplier.objects.bulk_update(list(changed.values()), list(self.FIELDS), batch_size=500)
        for code, supplier in {**new, **changed}.items():
            entries[code] = (supplier.pk, entries[code][1])
        record(ledger, entries, existing)
        self.entity_counts["suppliers_created"] += len(new)
        return results

    def checked(self, data: dict, code: str) -> dict:
        """The supplier's fields through the catalog's checks: e-mail, country, phone (E.164, read in the
        supplier's country) and currency, normalised as the catalog stores them."""
        country = catalog.validate_country(data.get("country") or "")
        return {
            "name": (data.get("name") or code)[:200],
            "email": catalog.normalise_email(data.get("email") or ""),
            "phone": catalog.normalise_phone(data.get("phone") or "", region=country or None),
            "country": country,
            "city": (data.get("city") or "")[:200],
            "postcode": (data.get("postcode") or "")[:20],
            "currency": validate_currency(data.get("currency") or self.options.get("currency", "GBP")),
        }


class SupplierOffersTarget(Target):
    """What a supplier charges for a variant: (supplier code, SKU) → cost, currency, lead time, MOQ, pack,
    and freight a unit and duty % when the file has them.

    Rows are decided in file order against the batch's offers (every offer of the batch's variants is
    loaded, so a preferred row unsets its variant's other preferred offer in memory), then written at once
    by the catalog's `save_offers`, which applies the one-preferred-offer rule in the database too."""

    entity = "supplier_offer"
    key_fields = ("supplier", "sku")

    def write(self, rows: list[Prepared]) -> list[Result]:
        suppliers, variants = {}, {}
        for chunk in chunks({r.data["supplier"] for r in rows}):
            suppliers.update((s.code, s) for s in Supplier.objects.filter(code__in=chunk))
        for chunk in chunks({r.data["sku"] for r in rows}):
            variants.update((v.sku, v) for v in Variant.objects.filter(sku__in=chunk))
        ledger = Ledger(source=self.source, entity="supplier_offer", job=self.job)
        keys = [f"{r.data['supplier']}:{r.data['sku']}" for r in rows]
        existing = ledger.load(keys)
        offers: dict[tuple[int, int], SupplierOffer] = {}
        of_variant: dict[int, list[SupplierOffer]] = {}
        for chunk in chunks([v.pk for v in variants.values()]):
            for offer in SupplierOffer.objects.filter(variant_id__in=chunk):
                offers[(offer.supplier_id, offer.variant_id)] = offer
                of_variant.setdefault(offer.variant_id, []).append(offer)
        results, entries, touched = [], {}, {}
        for row, key in zip(rows, keys, strict=True):
            data = row.data
            supplier, variant = suppliers.get(data["supplier"]), variants.get(data["sku"])
            reasons = []
            if supplier is None:
                reasons.append(
                    {
                        "field": "supplier",
                        "code": "unknown_supplier",
                        "message": f"No supplier {data['supplier']}.",
                    }
                )
            if variant is None:
                reasons.append(
                    {"field": "sku", "code": "unknown_sku", "message": f"No variant with SKU {data['sku']}."}
                )
            if reasons:
                results.append(Result(QUARANTINED, reasons))
                continue
            digest = content_hash(data)
            if key in existing and existing[key][1] == digest:
                results.append(Result(UNCHANGED))
                continue
            try:  # the catalog's checks, before the offer changes
                cost = catalog.parse_cost(data["cost"])
                currency = validate_currency(data.get("currency") or supplier.currency)
                freight, duty = data.get("freight_per_unit"), data.get("duty_percent")
                freight = (
                    None if freight in (None, "") else catalog.parse_cost(freight, field="freight_per_unit")
                )
                duty = None if duty in (None, "") else catalog.parse_percent(duty)
            except DomainError as exc:
                results.append(Result(QUARANTINED, [reason_of(exc)]))
                continue
            offer = offers.get((supplier.pk, variant.pk))
            created = offer is None
            if created:
                offer = SupplierOffer(supplier=supplier, variant=variant)
                offers[(supplier.pk, variant.pk)] = offer
                of_variant.setdefault(variant.pk, []).append(offer)
            offer.cost, offer.currency = cost, currency
            offer.supplier_sku = (data.get("supplier_sku") or "")[:100]
            offer.lead_time_days = data.get("lead_time_days") or supplier.default_lead_time_days
            offer.min_order_quantity = data.get("min_order_quantity") or 1
            offer.pack_size = data.get("pack_size") or 1
            # Landed-cost components only when the file has them: a plain price list keeps them.
            if freight is not None:
                offer.freight_per_unit = freight
            if duty is not None:
                offer.duty_percent = duty
            if data.get("is_preferred") is not None:
                offer.is_preferred = bool(data["is_preferred"])
            if offer.is_preferred:  # save_offer's rule: the variant's other preferred offer steps down
                for other in of_variant[variant.pk]:
                    if other is not offer:
                        other.is_preferred = False
            touched[id(offer)] = offer
            entries[key] = (offer, digest)
            results.append(Result(IMPORTED if created else UPDATED if key in existing else MERGED))
        catalog.save_offers(offers=list(touched.values()))
        record(ledger, {k: (o.pk, d) for k, (o, d) in entries.items()}, existing)
        return results


__all__ = ["SupplierOffersTarget", "SuppliersTarget"]
