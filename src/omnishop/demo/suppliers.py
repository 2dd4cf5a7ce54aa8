"""Demo suppliers (Olist marketplace sellers, their free-text cities cleaned) and the offers they make for the
demo's variants: cost below the selling price, lead time, minimum order quantity, pack size, and exactly one
preferred supplier per variant. Written through the catalog's supplier services.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from omnishop.catalog import services as catalog
from omnishop.catalog.models import Supplier, SupplierOffer, Variant

from .plan import PlannedProduct, extract, money, stable_number

# Accents the sellers' ASCII spellings lost, for the words that occur in the demo's cities.
ACCENTED = {
    "sao": "São",
    "jose": "José",
    "ribeirao": "Ribeirão",
    "guacu": "Guaçu",
    "andre": "André",
    "sebastiao": "Sebastião",
    "maua": "Mauá",
}
LOWER_WORDS = {"de", "da", "do", "das", "dos", "e"}
# Abbreviations sellers typed instead of the city.
ABBREVIATIONS = {
    "sbc": "sao bernardo do campo",
    "sp": "sao paulo",
    "rj": "rio de janeiro",
    "bh": "belo horizonte",
}
# Typos seen in the Olist sellers file, mapped to the city meant.
TYPOS = {"sao paulop": "sao paulo"}
BRAZIL_STATES = {
    "ac",
    "al",
    "ap",
    "am",
    "ba",
    "ce",
    "df",
    "es",
    "go",
    "ma",
    "mt",
    "ms",
    "mg",
    "pa",
    "pb",
    "pr",
}
BRAZIL_STATES |= {"pe", "pi", "rj", "rn", "rs", "ro", "rr", "sc", "sp", "se", "to"}


def clean_city(raw: str) -> str:
    """'sao paulo - sp', 'sao paulo / sao paulo', 'rio de janeiro \\rio de janeiro', 'pinhais/pr', 'sao  paulop'
    -> 'São Paulo', 'São Paulo', 'Rio de Janeiro', 'Pinhais', 'São Paulo'; '' when no city is there (a
    phone number typed into the field)."""
    value = " ".join(raw.replace("\\", "/").lower().split())
    parts = [p.strip() for p in re.split(r"\s*(?:/|\s-\s|,)\s*", value) if p.strip()]
    if not parts:
        return ""
    city = parts[0]
    if len(parts) > 1 and city in BRAZIL_STATES and parts[1] in BRAZIL_STATES:
        city = ABBREVIATIONS.get(city, city)  # 'sp / sp': the capital
    city = ABBREVIATIONS.get(city, city)
    city = TYPOS.get(city, city)
    if not re.search(r"[a-z]", city):
        return ""
    words = []
    for i, word in enumerate(city.split()):
        if word in ACCENTED:
            words.append(ACCENTED[word])
        elif i and word in LOWER_WORDS:
            words.append(word)
        else:
            words.append(word.capitalize())
    return unicodedata.normalize("NFC", " ".join(words))


@dataclass(frozen=True)
class PlannedSupplier:
    code: str
    name: str
    city: str
    postcode: str
    region: str
    lead_time_days: int


def plan_suppliers(*, small: bool = False) -> list[PlannedSupplier]:
    sellers = extract("suppliers.json")["sellers"]
    if small:
        sellers = sellers[:4]
    out = []
    for seller in sellers:
        city = clean_city(seller["city"])
        short = seller["seller_id"][:8]
        out.append(
            PlannedSupplier(
                code=f"olist-{short}",
                name=f"Olist seller {short}"
                + (f" ({city}/{seller['state']})" if city else f" ({seller['state']})"),
                city=city,
                # Olist publishes the first five digits of the CEP; the leading zero was lost in the source.
                postcode=seller["zip_prefix"].zfill(5),
                region=seller["state"],
                lead_time_days=7 + stable_number("lead", seller["seller_id"]) % 22,
            )
        )
    return out


@dataclass(frozen=True)
class PlannedOffer:
    supplier: str
    sku: str
    supplier_sku: str
    cost: Decimal
    lead_time_days: int
    min_order_quantity: int
    pack_size: int
    is_preferred: bool


def offers_for(product: PlannedProduct, suppliers: Sequence[PlannedSupplier]) -> list[PlannedOffer]:
    """The preferred supplier is quicker and dearer; every third product also has a cheaper, slower
    alternative that sells in bigger packs. Apparel costs 35–54 % of its price, gear 45–60 %; giftware is
    bought at 60 % of the trade price the Online Retail data shows (always below the retail price)."""
    first = stable_number("supplier", product.source, product.index) % len(suppliers)
    chosen = [suppliers[first]]
    if product.index % 3 == 0 and len(suppliers) > 1:
        chosen.append(suppliers[(first + 1 + product.index % (len(suppliers) - 1)) % len(suppliers)])
    if product.source == "giftware":
        base = min(product.trade_price or product.price, product.price) * Decimal("0.60")
        packs = ((12, 24), (24, 96))
    else:
        low, spread = (35, 20) if product.source == "apparel" else (45, 16)
        share = Decimal(low + stable_number("cost", product.source, product.index) % spread) / 100
        base = product.price * share
        packs = ((1, 6), (5, 20)) if product.source == "apparel" else ((1, 2), (4, 8))
    offers = []
    for rank, supplier in enumerate(chosen):
        pack_size, moq = packs[rank]
        cost = money(base * (Decimal("0.92") if rank else 1))
        for variant in product.variants:
            offers.append(
                PlannedOffer(
                    supplier=supplier.code,
                    sku=variant.sku,
                    supplier_sku=f"{supplier.code[6:10].upper()}-{variant.sku}",
                    cost=max(cost, Decimal("0.01")),
                    lead_time_days=supplier.lead_time_days + (10 if rank else 0),
                    min_order_quantity=moq,
                    pack_size=pack_size,
                    is_preferred=rank == 0,
                )
            )
    return offers


def ensure_suppliers(planned: Sequence[PlannedSupplier]) -> dict[str, Supplier]:
    existing = {s.code: s for s in Supplier.objects.filter(code__in=[p.code for p in planned])}
    for p in planned:
        if p.code not in existing:
            existing[p.code] = catalog.create_supplier(
                code=p.code,
                name=p.name,
                country="BR",
                city=p.city,
                postcode=p.postcode,
                currency="GBP",
                default_lead_time_days=p.lead_time_days,
            )
    return existing


def ensure_offers(
    products: Sequence[PlannedProduct],
    *,
    planned_suppliers: Sequence[PlannedSupplier],
    suppliers: dict[str, Supplier],
    variants: dict[str, Variant],
) -> int:
    have = set(
        SupplierOffer.objects.filter(supplier__in=suppliers.values()).values_list(
            "supplier__code", "variant__sku"
        )
    )
    created = 0
    for product in products:
        for offer in offers_for(product, planned_suppliers):
            if (offer.supplier, offer.sku) in have:
                continue
            catalog.create_offer(
                supplier=suppliers[offer.supplier],
                variant=variants[offer.sku],
                cost=offer.cost,
                currency="GBP",
                lead_time_days=offer.lead_time_days,
                min_order_quantity=offer.min_order_quantity,
                pack_size=offer.pack_size,
                supplier_sku=offer.supplier_sku,
                is_preferred=offer.is_preferred,
            )
            created += 1
    return created
