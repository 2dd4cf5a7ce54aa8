"""Build the demo's compact data extract (src/omnishop/demo/data/*.json) from the team's real datasets.

The demo must load on a machine that only has the clone, so it reads a small committed extract instead of
the datasets themselves. This module is how that extract is made, byte for byte reproducibly:

    python -m omnishop.demo.extract /work/shared/datasets

Sources (provenance and licences in data/NOTICE.txt): Magento 2 sample data (the "Luma" apparel with its
size/colour variants and the simple "Gear" products), UCI Online Retail (best-selling giftware of December 2010
and June–August 2011, with the single-unit retail price) and Olist sellers (as suppliers, with their messy cities kept raw:
the loader cleans them).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
MAGENTO = Path("channel_exports/magento")
CONFIGURABLE = MAGENTO / "Configurable__products.csv"
MSRP = MAGENTO / "Msrp__products_msrp.csv"
GEAR = ("bags", "fitness_equipment", "fitness_equipment_ball", "fitness_equipment_strap", "watches")
GEAR_IMAGES = ("bags", "fitness_equipment", "watches")
RETAIL_MONTHS = ("2010-12", "2011-06", "2011-07", "2011-08")
RETAIL_PRODUCTS = 120
# The demo's purchase history: the real invoices of the last two months of the file (for the demo giftware).
BEHAVIOUR_MONTHS = ("2011-07", "2011-08")
# The web shop's past invoices that `make demo` imports through the data hub: the real lines of this month
# that name demo giftware (or postage/fees on such an invoice), byte for byte, in the source's own format.
PAST_ORDERS_MONTH = "2011-08"
PAST_ORDERS_FILE = f"web_invoices_{PAST_ORDERS_MONTH}.csv.gz"
SELLERS = Path("olist_catalog/olist_sellers_dataset.csv")
# Deliberately messy seller cities (state appended, double blanks, a typo, a backslash, an abbreviation)
# plus clean ones from the biggest cities: the loader's city cleaning has real work to do.
SELLER_IDS = (
    "3442f8959a84dea7ee197c632cb2df15",  # campinas
    "ce3ad9de960102d0677a81f5d0bb7b2d",  # rio de janeiro
    "731ef20c231d9a7103a425e83fd91271",  # lages - sc
    "e88165a185134e13fdfc85d4fa654db8",  # ferraz de  vasconcelos
    "71593c7413973a1e160057b80d4958f6",  # sao paulo / sao paulo
    "cf1313c6e2c01c2f4b014f97db4bcd2b",  # rio de janeiro \rio de janeiro
    "6f1a1263039c76e68f40a8e536b1da6a",  # sao paulop
    "cbf09e831b0c11f6f23ffb51004db972",  # sbc/sp
    "01fd077212124329bac32490e8ef80d9",  # ribeirao preto / sao paulo
    "6025c79c035c3d772133b8b8238463b2",  # pinhais/pr
    "ceb7b4fb9401cd378de7886317ad1b47",  # 4482255 (a phone number where the city should be)
    "d1b65fc7debc3361ea86b5f14c68d2e2",  # mogi guacu
)
# Online Retail stock codes that are not goods (postage, fees, vouchers) never become products.
NOT_GOODS = re.compile(r"^(POST|DOT|M|C2|D|S|B|CRUK|PADS|BANK CHARGES|AMAZONFEE|DCGS.*|GIFT_.*)$", re.I)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pairs(cell: str, sep: str = ",") -> dict[str, str]:
    out = {}
    for item in cell.split(sep):
        if "=" in item:
            key, value = item.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _multi(value: str) -> str | list[str]:
    """Magento multi-select values come '|'- or newline-separated; a list says what they are."""
    parts = [p.strip() for p in re.split(r"[|\n]", value) if p.strip()]
    return parts if len(parts) > 1 else value.strip()


def magento_apparel(root: Path) -> list[dict]:
    """The 147 configurable parents with their size/colour children, in file order."""
    with open(root / CONFIGURABLE, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(root / MSRP, newline="", encoding="utf-8") as f:
        msrp = {r["sku"]: r["msrp"] for r in csv.DictReader(f)}
    children = {r["sku"]: r for r in rows if r["product_type"] == "simple"}
    products = []
    for row in rows:
        if row["product_type"] != "configurable":
            continue
        attributes = {k: _multi(v) for k, v in _pairs(row["additional_attributes"]).items()}
        for drop in ("has_options", "required_options"):
            attributes.pop(drop, None)
        variants = []
        for spec in row["configurable_variations"].split("|"):
            axes = _pairs(spec)
            child = children[axes["sku"]]
            if child["price"] != row["price"]:
                raise ValueError(f"{child['sku']}: a child priced apart from its parent is not expected")
            # [sku, size, colour, weight in lb, image]: compact, the extract is committed.
            variants.append(
                [
                    axes["sku"],
                    axes.get("size", ""),
                    axes.get("color", ""),
                    child["weight"],
                    child["base_image"],
                ]
            )
        images = [row["base_image"], *[i for i in row["additional_images"].split(",") if i]]
        products.append(
            {
                "sku": row["sku"],
                "name": row["name"],
                "description": row["description"],
                "categories": [c.removeprefix("Default Category/") for c in row["categories"].split(",")],
                "price": row["price"],
                "msrp": msrp.get(row["sku"], ""),
                "attributes": attributes,
                "images": images,
                "variants": variants,
            }
        )
    return products


def magento_gear(root: Path) -> list[dict]:
    images = {}
    for name in GEAR_IMAGES:
        with open(root / MAGENTO / f"Catalog__SimpleProduct__images_gear_{name}.csv", newline="") as f:
            for r in csv.DictReader(f):
                images.setdefault(r["sku"], []).append(r["image"])
    products = []
    for name in GEAR:
        with open(root / MAGENTO / f"Catalog__SimpleProduct__products_gear_{name}.csv", newline="") as f:
            for r in csv.DictReader(f):
                path = "/".join(r["category"].split("\n")[:2])
                skip = {"category", "name", "sku", "price", "qty", "description", "attribute_set"}
                skip |= {"visibility", "url_key", "special_price"}
                attributes = {k: _multi(v) for k, v in r.items() if k not in skip and v}
                products.append(
                    {
                        "sku": r["sku"],
                        "name": r["name"],
                        "description": r["description"],
                        "categories": [path],
                        "price": r["price"],
                        "attributes": attributes,
                        "images": images.get(r["sku"], []),
                    }
                )
    return products


def giftware(root: Path) -> list[dict]:
    """The best-selling Online Retail goods: most frequent clean description, and as the retail price the
    most common unit price on single-unit lines (bulk lines carry the trade price)."""
    lines: Counter[str] = Counter()
    names: dict[str, Counter[str]] = defaultdict(Counter)
    unit_prices: dict[str, Counter[str]] = defaultdict(Counter)
    trade_prices: dict[str, list[float]] = defaultdict(list)
    for month in RETAIL_MONTHS:
        path = root / "online_retail_uci" / f"online_retail_{month}.csv.gz"
        with gzip.open(path, "rt", newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                code = r["StockCode"].strip().upper()
                description = " ".join(r["Description"].split())
                if r["InvoiceNo"].startswith(("C", "A")) or NOT_GOODS.match(code) or not code[:5].isdigit():
                    continue
                quantity, price = int(r["Quantity"]), float(r["UnitPrice"])
                if quantity <= 0 or price <= 0 or not description or description != description.upper():
                    continue
                lines[code] += 1
                names[code][description] += 1
                if quantity <= 2:
                    unit_prices[code][r["UnitPrice"]] += 1
                else:
                    trade_prices[code].append(price)
    products = []
    for code, _ in sorted(lines.items(), key=lambda kv: (-kv[1], kv[0])):
        if not unit_prices[code] or not trade_prices[code]:
            continue
        retail = max(unit_prices[code].items(), key=lambda kv: (kv[1], float(kv[0])))[0]
        products.append(
            {
                "sku": code,
                "name": names[code].most_common(1)[0][0],
                "price": retail,
                "trade_price": f"{statistics.median(trade_prices[code]):.2f}",
            }
        )
        if len(products) == RETAIL_PRODUCTS:
            break
    return products


def invoices(root: Path, skus: list[str]) -> list[list]:
    """The invoices of customers (CustomerID given) that bought demo giftware in BEHAVIOUR_MONTHS, as
    [customer id, days before the last day of the window, minute of the day, [giftware indexes]]."""
    index = {sku: i for i, sku in enumerate(skus)}
    found: dict[str, list] = {}
    for month in BEHAVIOUR_MONTHS:
        path = root / "online_retail_uci" / f"online_retail_{month}.csv.gz"
        with gzip.open(path, "rt", newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                code = r["StockCode"].strip().upper()
                if r["InvoiceNo"].startswith(("C", "A")) or not r["CustomerID"] or code not in index:
                    continue
                if int(r["Quantity"]) <= 0:
                    continue
                when = datetime.strptime(r["InvoiceDate"], "%Y-%m-%d %H:%M:%S")
                row = found.setdefault(r["InvoiceNo"], [int(float(r["CustomerID"])), when, set()])
                row[2].add(index[code])
    last = max(when for _, when, _ in found.values()).date()
    rows = [
        [customer, (last - when.date()).days, when.hour * 60 + when.minute, sorted(items)]
        for _, (customer, when, items) in sorted(found.items())
    ]
    return rows


def past_invoices(root: Path, skus: list[str]) -> bytes:
    """The month's lines of every invoice (and credit note) that names demo giftware: its giftware lines and
    its non-product lines (postage, fees, discounts), unchanged; other products' lines left out."""
    wanted = set(skus)
    path = root / "online_retail_uci" / f"online_retail_{PAST_ORDERS_MONTH}.csv.gz"
    with gzip.open(path, "rt", newline="", encoding="utf-8") as f:
        header = f.readline()
        lines = f.readlines()
    rows = list(csv.reader(lines))
    invoices = {r[0] for r in rows if r[1].strip().upper() in wanted}
    kept = [
        line
        for line, r in zip(lines, rows, strict=True)
        if r[0] in invoices and (r[1].strip().upper() in wanted or NOT_GOODS.match(r[1].strip()))
    ]
    return gzip.compress((header + "".join(kept)).encode("utf-8"), compresslevel=9, mtime=0)


def sellers(root: Path) -> list[dict]:
    with open(root / SELLERS, newline="", encoding="utf-8") as f:
        by_id = {r["seller_id"]: r for r in csv.DictReader(f)}
    return [
        {
            "seller_id": sid,
            "zip_prefix": by_id[sid]["seller_zip_code_prefix"],
            "city": by_id[sid]["seller_city"],
            "state": by_id[sid]["seller_state"],
        }
        for sid in SELLER_IDS
    ]


def build(root: Path) -> dict[str, dict]:
    sources = [CONFIGURABLE, MSRP, SELLERS]
    sources += [MAGENTO / f"Catalog__SimpleProduct__products_gear_{n}.csv" for n in GEAR]
    sources += [MAGENTO / f"Catalog__SimpleProduct__images_gear_{n}.csv" for n in GEAR_IMAGES]
    sources += [Path("online_retail_uci") / f"online_retail_{m}.csv.gz" for m in RETAIL_MONTHS]
    provenance = {str(p): sha256(root / p) for p in sources}
    gifts = giftware(root)
    behaviour_sources = [Path("online_retail_uci") / f"online_retail_{m}.csv.gz" for m in BEHAVIOUR_MONTHS]
    return {
        "catalog.json": {
            "sources": provenance,
            "apparel": magento_apparel(root),
            "gear": magento_gear(root),
            "giftware": gifts,
        },
        "suppliers.json": {"sources": {str(SELLERS): provenance[str(SELLERS)]}, "sellers": sellers(root)},
        "behaviour.json": {
            "sources": {str(p): sha256(root / p) for p in behaviour_sources},
            "skus": [g["sku"] for g in gifts],
            "invoices": invoices(root, [g["sku"] for g in gifts]),
        },
    }


def render(document: dict) -> str:
    """One record per line: small, and a diff of a rebuilt extract shows which records changed."""

    def dump(value) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    sections = []
    for key, value in document.items():
        if isinstance(value, list):
            body = ",\n".join(dump(item) for item in value)
            sections.append(f"{dump(key)}:[\n{body}\n]")
        else:
            sections.append(f"{dump(key)}:{dump(value)}")
    return "{\n" + ",\n".join(sections) + "\n}\n"


def main(argv: list[str]) -> None:
    root = Path(argv[1] if len(argv) > 1 else "/work/shared/datasets")
    DATA_DIR.mkdir(exist_ok=True)
    for name, document in build(root).items():
        (DATA_DIR / name).write_text(render(document), encoding="utf-8")
        print(f"wrote {DATA_DIR / name}")
    gifts = [g["sku"] for g in giftware(root)]
    (DATA_DIR / PAST_ORDERS_FILE).write_bytes(past_invoices(root, gifts))
    print(f"wrote {DATA_DIR / PAST_ORDERS_FILE}")


if __name__ == "__main__":
    main(sys.argv)
