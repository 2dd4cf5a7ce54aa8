"""A till that was offline catches up on prices and stock by cursor: a full snapshot first, then only the
changes, in a stable order; rows sharing one timestamp are never skipped across pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from omnishop.catalog.models import ChannelListing
from omnishop.inventory.models import StockLevel

from .conftest import sale


@pytest.fixture(autouse=True)
def _no_settle_window(settings):
    settings.OMNISHOP_TILL_CURSOR_SETTLE_SECONDS = 0


def walk(store, what: str, cursor=None, limit=2):
    """Every page from `cursor` on: (items, the last cursor)."""
    items = []
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = store.api.get(f"/tills/{store.till}/{what}", params, headers=store.device)
        assert response.status_code == 200, response.content
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items, cursor


def test_the_price_list_is_a_full_snapshot_then_only_what_changed(store):
    mugs = [store.variant(price=f"{n}.00") for n in range(1, 6)]
    hidden = store.variant(price="9.00", published=False)
    snapshot, cursor = walk(store, "prices")
    assert sorted(x["sku"] for x in snapshot) == sorted([m.sku for m in mugs] + [hidden.sku])
    assert {x["sku"]: (x["price"], x["published"]) for x in snapshot}[mugs[0].sku] == ("1.00", True)
    assert walk(store, "prices", cursor)[0] == []  # nothing changed
    listing = ChannelListing.objects.get(variant=mugs[2])
    listing.price = Decimal("3.50")
    listing.save()
    ChannelListing.objects.filter(variant=mugs[4]).update(is_published=False, updated_at=timezone.now())
    changed, _ = walk(store, "prices", cursor)
    assert [(x["sku"], x["price"], x["published"]) for x in changed] == [
        (mugs[2].sku, "3.50", True),
        (mugs[4].sku, "5.00", False),
    ]


def test_rows_sharing_a_timestamp_are_never_skipped_between_pages(store):
    mugs = [store.variant(stock=n + 1) for n in range(7)]
    same = timezone.now() - timedelta(minutes=1)
    StockLevel.objects.filter(location=store.location).update(updated_at=same)
    snapshot, cursor = walk(store, "stock", limit=2)
    assert sorted(x["sku"] for x in snapshot) == sorted(m.sku for m in mugs)
    assert len(snapshot) == 7  # none twice either
    StockLevel.objects.filter(variant__in=mugs[1:4]).update(updated_at=same + timedelta(seconds=30))
    changed, _ = walk(store, "stock", cursor, limit=2)
    assert sorted(x["sku"] for x in changed) == sorted(m.sku for m in mugs[1:4])


def test_stock_catches_up_after_days_offline_sales_included(store):
    mug, jug = store.variant(stock=5), store.variant(stock=2)
    _, cursor = walk(store, "stock")
    store.upload([sale((mug, 2, "10.00"))])
    changed, cursor = walk(store, "stock", cursor)
    assert [(x["sku"], x["on_hand"], x["available"]) for x in changed] == [(mug.sku, 3, 3)]
    assert walk(store, "stock", cursor)[0] == []
    assert jug  # unchanged, not sent again


def test_rows_written_inside_the_settle_window_wait_for_the_next_call(store, settings):
    settings.OMNISHOP_TILL_CURSOR_SETTLE_SECONDS = 60
    store.variant(stock=5)
    assert walk(store, "stock")[0] == []
    StockLevel.objects.update(updated_at=timezone.now() - timedelta(minutes=2))
    assert len(walk(store, "stock")[0]) == 1


def test_a_cursor_from_elsewhere_is_refused(store):
    store.variant(stock=5)
    _, stock_cursor = walk(store, "stock")
    response = store.api.get(f"/tills/{store.till}/prices", {"cursor": stock_cursor}, headers=store.device)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_cursor"
    garbage = store.api.get(f"/tills/{store.till}/stock", {"cursor": "!!"}, headers=store.device)
    assert garbage.status_code == 422
