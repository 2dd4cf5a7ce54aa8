"""Interaction logs as arrays, the two shared retail datasets as loaders, and the time split.

Everything here is plain NumPy/SciPy so the same code trains on the shop's own events (services.py builds
an `Interactions` from the event table) and on the public datasets for the offline evaluation.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp

DAY = 86_400


@dataclass
class Interactions:
    """One row per (user, item, time) event; `weight` is the event's strength (a purchase counts most)."""

    user: np.ndarray  # int32 index into user_ids
    item: np.ndarray  # int32 index into item_ids
    time: np.ndarray  # int64 unix seconds
    weight: np.ndarray  # float32
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_text: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)

    def select(self, mask: np.ndarray) -> Interactions:
        """The same users and items (same indexes), fewer events."""
        return Interactions(
            self.user[mask],
            self.item[mask],
            self.time[mask],
            self.weight[mask],
            self.user_ids,
            self.item_ids,
            self.item_text,
        )

    def matrix(self, *, binary: bool = False) -> sp.csr_matrix:
        """Users × items, summed weights (repeat purchases add up), or 1/0 when `binary`."""
        data = np.ones(len(self.user), np.float32) if binary else self.weight.astype(np.float32)
        m = sp.csr_matrix(
            (data, (self.user, self.item)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m


def from_arrays(
    users, items, times, weights=None, *, item_text: dict | None = None, catalog_ids=None
) -> Interactions:
    """Factorise raw ids into dense indexes. `catalog_ids` adds items with no events (cold products)."""
    users = np.asarray(users)
    items = np.asarray(items)
    user_ids, user_idx = np.unique(users, return_inverse=True)
    if catalog_ids is not None:
        all_items = np.unique(np.concatenate([np.asarray(catalog_ids, dtype=items.dtype), items]))
        item_ids = all_items
        item_idx = np.searchsorted(all_items, items)
    else:
        item_ids, item_idx = np.unique(items, return_inverse=True)
    w = np.ones(len(users), np.float32) if weights is None else np.asarray(weights, np.float32)
    text = [item_text.get(i, "") for i in item_ids.tolist()] if item_text else [""] * len(item_ids)
    return Interactions(
        user_idx.astype(np.int32),
        item_idx.astype(np.int32),
        np.asarray(times, dtype=np.int64),
        w,
        user_ids,
        item_ids,
        text,
    )


# --- the shared datasets -------------------------------------------------------------------------------

_PRODUCT_CODE = re.compile(r"^\d{5}[A-Z]?$")


def load_online_retail(folder: Path, *, files: int | None = None) -> Interactions:
    """UCI Online Retail: customer × stock code purchases.

    Dropped: rows without a customer, cancellations (`C…`) and adjustments (`A…`), non-positive
    quantities, and stock codes that are not products (POST, M, DOT, BANK CHARGES, gift vouchers…).
    An item's text is its most frequent description. `files` keeps only the first monthly files.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    opts = pacsv.ConvertOptions(
        column_types={"InvoiceNo": pa.string(), "StockCode": pa.string(), "Description": pa.string()}
    )
    paths = sorted(Path(folder).glob("*.csv.gz"))[:files]
    tables = [pacsv.read_csv(f, convert_options=opts) for f in paths]
    t = pa.concat_tables(tables)
    customer = t["CustomerID"].to_numpy(zero_copy_only=False)
    invoice = np.array(t["InvoiceNo"].to_pylist(), dtype=object)
    code = np.array([(c or "").strip().upper() for c in t["StockCode"].to_pylist()], dtype=object)
    quantity = t["Quantity"].to_numpy(zero_copy_only=False)
    when = t["InvoiceDate"].cast(pa.timestamp("s")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    descriptions = t["Description"].to_pylist()
    is_product = np.fromiter((bool(_PRODUCT_CODE.match(c)) for c in code), bool, len(code))
    is_sale = np.fromiter((not (i or "").startswith(("C", "A")) for i in invoice), bool, len(invoice))
    keep = ~np.isnan(customer) & is_sale & is_product & (quantity > 0)
    counts: dict[str, Counter] = {}
    for c, d, k in zip(code.tolist(), descriptions, keep.tolist(), strict=True):
        if k and d and d.strip() and d.strip().isupper():
            counts.setdefault(c, Counter())[d.strip()] += 1
    text = {c: cnt.most_common(1)[0][0] for c, cnt in counts.items()}
    return from_arrays(
        customer[keep].astype(np.int64),
        code[keep].astype(str),
        when[keep],
        None,
        item_text=text,
    )


def load_complete_journey(folder: Path) -> Interactions:
    """The Complete Journey: household × product purchase lines.

    Dropped: fuel and other lines whose quantity is not a unit count (department FUEL/MISCELLANEOUS
    or quantity > 1000), quantity 0, and products missing from the product table (no content to show).
    An item's text is department, category, type, brand and package size.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = Path(folder)
    products = pq.read_table(folder / "products.parquet")
    pid = products["product_id"].to_numpy()
    cols = ["department", "product_category", "product_type", "brand", "package_size"]
    values = [products[c].to_pylist() for c in cols]
    text = {}
    excluded = set()
    for i, p in enumerate(pid.tolist()):
        dept = values[0][i] or ""
        if dept in ("FUEL", "MISCELLANEOUS", "KIOSK-GAS"):
            excluded.add(p)
        text[p] = " ".join(v[i] for v in values if v[i])
    t = pq.read_table(
        folder / "transactions_weeks01-39.parquet",
        columns=["household_id", "product_id", "quantity", "transaction_timestamp"],
    )
    product = t["product_id"].to_numpy()
    quantity = t["quantity"].to_numpy()
    when = pc.cast(t["transaction_timestamp"], "timestamp[s]").cast("int64").to_numpy()
    known = np.isin(product, pid)
    keep = known & (quantity > 0) & (quantity <= 1000) & ~np.isin(product, np.array(sorted(excluded)))
    return from_arrays(t["household_id"].to_numpy()[keep], product[keep], when[keep], None, item_text=text)


DATASETS = {"online_retail_uci": load_online_retail, "complete_journey": load_complete_journey}


# --- time split ----------------------------------------------------------------------------------------


@dataclass
class Split:
    """Train on events before `cutoff`; test users are those seen in training who bought, during the
    test window, at least one item they had not bought before; their truth is that set of new items."""

    train: Interactions
    test_users: np.ndarray
    truth: sp.csr_matrix  # users × items, 1 where a test user bought a new item in the window
    cutoff: int
    end: int


def time_split(data: Interactions, *, cutoff: int, end: int | None = None) -> Split:
    end = int(data.time.max()) + 1 if end is None else end
    train = data.select(data.time < cutoff)
    window = data.select((data.time >= cutoff) & (data.time < end))
    seen = train.matrix(binary=True)
    later = window.matrix(binary=True)
    # Items no one bought in training cannot be recommended by any collaborative model; they are not
    # in the catalogue being ranked (they are reported as excluded in the protocol).
    trained_items = np.asarray(seen.sum(axis=0)).ravel() > 0
    later = later.multiply(trained_items[None, :]).tocsr()
    new = (later - later.multiply(seen)).tocsr()
    new.eliminate_zeros()
    users_in_train = np.asarray(seen.sum(axis=1)).ravel() > 0
    has_new = np.diff(new.indptr) > 0
    test_users = np.flatnonzero(users_in_train & has_new).astype(np.int32)
    return Split(train=train, test_users=test_users, truth=new, cutoff=cutoff, end=end)


def to_unix(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp() if "+" in value else _naive_utc(value))


def _naive_utc(value: str) -> float:
    from datetime import UTC

    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
