"""Finding customer records that are probably the same person.

Two kinds of evidence. Exact: the same normalised e-mail, phone or channel customer id on two records
(score 1.0). Fuzzy: similar names (rapidfuzz token ratios) plus a similar address or the same phone
ending. Fuzzy pairs are only compared inside small blocks (same postcode, same city, same last seven phone
digits), so the work grows with the size of the blocks, not with the square of the customer count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from django.db import IntegrityError, transaction
from rapidfuzz import fuzz

from omnishop.core.errors import ValidationFailed

from .models import Address, ChannelIdentity, Customer, DistinctPair
from .normalise import normalise_postcode, phone_suffix

# A block larger than this (a shared office postcode, a city like London) says little about identity and
# would cost n² comparisons; it is skipped and counted.
MAX_BLOCK_SIZE = 60
# Channel customer ids shorter than this ('1', '42') collide by accident between channels.
MIN_EXTERNAL_ID_LENGTH = 6
NAME_WEIGHT = 0.55
ADDRESS_WEIGHT = 0.45


@dataclass
class DuplicatePair:
    customer_a: int
    customer_b: int
    score: float
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "customer_a": self.customer_a,
            "customer_b": self.customer_b,
            "score": self.score,
            "reasons": self.reasons,
        }


@dataclass
class _Profile:
    pk: int
    name: str = ""
    addresses: list[tuple[str, str, str]] = field(default_factory=list)  # (line, city, postcode)


def find_duplicates(*, min_score: float = 0.8, limit: int | None = None) -> list[DuplicatePair]:
    """Candidate pairs of active customers, best first; each with a score in [0, 1] and the reasons."""
    pairs: dict[tuple[int, int], DuplicatePair] = {}

    def note(a: int, b: int, score: float, reason: str) -> None:
        key = (a, b) if a < b else (b, a)
        pair = pairs.get(key)
        if pair is None:
            pairs[key] = DuplicatePair(key[0], key[1], round(score, 3), [reason])
            return
        if reason not in pair.reasons:
            pair.reasons.append(reason)
        pair.score = max(pair.score, round(score, 3))

    active_ids = set(Customer.objects.filter(merged_into__isnull=True).values_list("pk", flat=True))
    for label, groups in _exact_groups(active_ids).items():
        for value, members in groups.items():
            for a, b in combinations(sorted(members), 2):
                note(a, b, 1.0, f"same {label} {value}")

    profiles = _profiles(active_ids)
    for block_name, blocks in _blocks(profiles).items():
        for key, members in blocks.items():
            if len(members) < 2 or len(members) > MAX_BLOCK_SIZE:
                continue
            for a, b in combinations(sorted(members), 2):
                pa, pb = profiles[a], profiles[b]
                name = _name_similarity(pa.name, pb.name)
                if name < 0.5:
                    continue
                if block_name == "phone ending":
                    score = 0.6 * name + 0.3
                    reason = f"similar name ({name:.2f}) and same phone ending {key}"
                else:
                    address = _address_similarity(pa, pb)
                    score = NAME_WEIGHT * name + ADDRESS_WEIGHT * address
                    reason = f"similar name ({name:.2f}) and address ({address:.2f}) in {block_name} {key}"
                note(a, b, score, reason)

    for a, b in DistinctPair.objects.values_list("customer_a_id", "customer_b_id").iterator():
        pairs.pop((a, b), None)
    found = sorted(
        (p for p in pairs.values() if p.score >= min_score),
        key=lambda p: (-p.score, p.customer_a, p.customer_b),
    )
    return found[:limit] if limit else found


def _exact_groups(active_ids: set[int]) -> dict[str, dict[str, set[int]]]:
    groups: dict[str, dict[str, set[int]]] = {
        "e-mail": defaultdict(set),
        "phone": defaultdict(set),
        "channel id": defaultdict(set),
    }
    for pk, email, phone in (
        Customer.objects.filter(pk__in=active_ids).values_list("pk", "email", "phone").iterator()
    ):
        if email:
            groups["e-mail"][email].add(pk)
        if phone:
            groups["phone"][phone].add(pk)
    rows = ChannelIdentity.objects.filter(customer__merged_into__isnull=True).values_list(
        "customer_id", "email", "phone", "external_id"
    )
    for pk, email, phone, external_id in rows.iterator():
        if email:
            groups["e-mail"][email].add(pk)
        if phone:
            groups["phone"][phone].add(pk)
        if len(external_id) >= MIN_EXTERNAL_ID_LENGTH:
            groups["channel id"][external_id].add(pk)
    return {label: {v: m for v, m in g.items() if len(m) > 1} for label, g in groups.items()}


def _profiles(active_ids: set[int]) -> dict[int, _Profile]:
    profiles = {}
    for pk, first, last in (
        Customer.objects.filter(pk__in=active_ids).values_list("pk", "first_name", "last_name").iterator()
    ):
        profiles[pk] = _Profile(pk=pk, name=f"{first} {last}".strip().lower())
    addresses = Address.objects.filter(customer__merged_into__isnull=True).values_list(
        "customer_id", "name", "line1", "line2", "city", "postcode"
    )
    for pk, name, line1, line2, city, postcode in addresses.iterator():
        profile = profiles.get(pk)
        if profile is None:
            continue
        if not profile.name:
            profile.name = name.strip().lower()
        profile.addresses.append(
            (f"{line1} {line2}".strip().lower(), city.strip().lower(), normalise_postcode(postcode))
        )
    return profiles


def _blocks(profiles: dict[int, _Profile]) -> dict[str, dict[str, set[int]]]:
    blocks: dict[str, dict[str, set[int]]] = {
        "postcode": defaultdict(set),
        "city": defaultdict(set),
        "phone ending": defaultdict(set),
    }
    for profile in profiles.values():
        for _line, city, postcode in profile.addresses:
            if postcode:
                blocks["postcode"][postcode].add(profile.pk)
            elif city:
                # Addresses without a postcode (common in some countries) are blocked by city instead.
                blocks["city"][city].add(profile.pk)
    phones = list(
        Customer.objects.filter(pk__in=profiles.keys()).exclude(phone="").values_list("pk", "phone")
    )
    phones += list(
        Address.objects.filter(customer_id__in=profiles.keys())
        .exclude(phone="")
        .values_list("customer_id", "phone")
    )
    for pk, phone in phones:
        suffix = phone_suffix(phone)
        if suffix:
            blocks["phone ending"][suffix].add(pk)
    return blocks


def _name_similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    return max(fuzz.token_sort_ratio(a, b), fuzz.token_set_ratio(a, b) * 0.95) / 100


def _address_similarity(a: _Profile, b: _Profile) -> float:
    best = 0.0
    for line_a, city_a, post_a in a.addresses:
        for line_b, city_b, post_b in b.addresses:
            line = fuzz.token_set_ratio(line_a, line_b) / 100
            place = 1.0 if (post_a and post_a == post_b) else fuzz.ratio(city_a, city_b) / 100
            best = max(best, 0.7 * line + 0.3 * place)
    return best


class SameCustomer(ValidationFailed):
    code = "same_customer"
    default_message = "Both sides are the same customer."


def mark_distinct(*, customer_a: Customer, customer_b: Customer, actor=None, note: str = "") -> DistinctPair:
    """Record that staff judged two records to be different people, so they are not proposed again.
    Marking a pair twice returns the first decision."""
    if customer_a.pk == customer_b.pk:
        raise SameCustomer(field="customer_b")
    low, high = sorted((customer_a.pk, customer_b.pk))
    try:
        with transaction.atomic():
            return DistinctPair.objects.create(
                customer_a_id=low,
                customer_b_id=high,
                decided_by=actor if getattr(actor, "pk", None) else None,
                note=note[:500],
            )
    except IntegrityError:
        return DistinctPair.objects.get(customer_a_id=low, customer_b_id=high)
