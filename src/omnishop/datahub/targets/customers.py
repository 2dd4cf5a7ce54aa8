"""Customers from any channel's export, through the customers context: `resolve_customer` matches
deterministically (the channel's own id, then normalised e-mail, then phone) and records the channel
identity; after the file, `find_duplicates` scores the remaining look-alikes (name + address, rapidfuzz):
pairs at or above the auto-merge threshold are merged by `merge_customers` (audited, undoable), pairs
between the review and auto thresholds wait in the review queue (MatchCandidate).
"""

from __future__ import annotations

from django.db import transaction

from ..models import MatchCandidate
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


class CustomersTarget(Target):
    entity = "customer"

    def __init__(self, *, profile, job) -> None:
        super().__init__(profile=profile, job=job)
        self.require_channel()
        self.ledger = Ledger(source=self.source, entity="customer", job=job)
        self.auto_merge = float(self.options.get("auto_merge_score", 0.92))
        self.review = float(self.options.get("review_score", 0.75))
        self.created: set[int] = set()

    def quarantine_key(self, data: dict) -> str:
        return self.key(data) or ""

    def key(self, data: dict) -> str | None:
        for name in ("external_id", "email", "phone"):
            if data.get(name):
                return f"{name}:{data[name]}"
        return None

    def write(self, rows: list[Prepared]) -> list[Result]:
        from omnishop.core.errors import DomainError
        from omnishop.customers.services import resolve_customer

        keys = [self.key(row.data) for row in rows]
        existing = self.ledger.load([k for k in keys if k])
        results, entries = [], {}
        for row, key in zip(rows, keys, strict=True):
            data = row.data
            if key is None:
                results.append(
                    Result(
                        QUARANTINED,
                        [
                            {
                                "field": "email",
                                "code": "identifier_required",
                                "message": "A customer needs an id, an e-mail or a phone.",
                            }
                        ],
                    )
                )
                continue
            digest = content_hash(data)
            if (key in existing and existing[key][1] == digest) or (
                key in entries and entries[key][1] == digest
            ):
                results.append(Result(UNCHANGED))
                continue
            first, last = data.get("first_name") or "", data.get("last_name") or ""
            if not (first or last) and data.get("full_name"):
                first, _, last = data["full_name"].partition(" ")
            try:
                with transaction.atomic():
                    resolution = resolve_customer(
                        channel=self.channel,
                        external_id=data.get("external_id"),
                        email=data.get("email"),
                        phone=data.get("phone"),
                        first_name=first[:150],
                        last_name=last[:150],
                        seen_at=data.get("created_at"),
                    )
                    self.address(resolution.customer, data, f"{first} {last}".strip())
            except DomainError as exc:
                results.append(
                    Result(QUARANTINED, [{"field": exc.field, "code": exc.code, "message": exc.message}])
                )
                continue
            customer = resolution.customer
            if key in existing or key in entries:
                outcome = UPDATED
            elif resolution.created:
                outcome = IMPORTED
                self.created.add(customer.pk)
            else:
                outcome = MERGED  # the same person was already known, from this or another channel
            entries[key] = (customer.pk, digest)
            results.append(Result(outcome))
        self.ledger.record(entries, existing)
        return results

    def address(self, customer, data: dict, name: str) -> None:
        if not (data.get("line1") and data.get("city") and data.get("country")):
            return
        from omnishop.customers.models import Address
        from omnishop.customers.services import add_address

        if Address.objects.filter(
            customer=customer, line1=data["line1"], postcode=(data.get("postcode") or "").upper()
        ).exists():
            return
        add_address(
            customer=customer,
            name=(name or data.get("company") or data["line1"])[:200],
            line1=data["line1"][:200],
            line2=(data.get("line2") or "")[:200],
            city=data["city"][:100],
            postcode=(data.get("postcode") or "")[:20],
            region=(data.get("region") or "")[:100],
            country=data["country"],
            company=(data.get("company") or "")[:200],
            phone=data.get("phone") or "",
        )
        self.entity_counts["addresses_created"] += 1

    def finish(self) -> int:
        """Fuzzy pass over the customers this job created: merge the near-certain, queue the likely."""
        if not self.created:
            return 0
        from omnishop.customers.models import Customer
        from omnishop.customers.services import find_duplicates, merge_customers

        moved = 0
        for pair in find_duplicates(min_score=self.review):
            a, b = pair.customer_a, pair.customer_b
            if not ({a, b} & self.created):
                continue
            left, right = min(a, b), max(a, b)
            if pair.score >= self.auto_merge:
                survivor, merged = Customer.objects.get(pk=left), Customer.objects.get(pk=right)
                if survivor.merged_into_id or merged.merged_into_id:
                    continue
                merge_customers(
                    survivor=survivor,
                    merged=merged,
                    actor_label=f"datahub import #{self.job.pk}",
                    reason="; ".join(pair.reasons)[:500],
                    score=pair.score,
                )
                self.entity_counts["customers_auto_merged"] += 1
                if right in self.created:
                    moved += 1
                    self.created.discard(right)
            else:
                _, made = MatchCandidate.objects.get_or_create(
                    entity="customer",
                    left_id=left,
                    right_id=right,
                    defaults={"score": pair.score, "reasons": pair.reasons, "job": self.job},
                )
                self.entity_counts["customers_for_review"] += int(made)
        return moved
