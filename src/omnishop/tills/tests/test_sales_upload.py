"""A till's offline queue uploaded later: each sale becomes one paid, handed-over order of the store
channel, exactly once; bad sales are refused one by one with a code, nothing half-written."""

from __future__ import annotations

from omnishop.customers.models import Customer
from omnishop.orders.models import Fulfilment, Order, OrderException
from omnishop.payments.models import Payment
from omnishop.tills.models import TillSale

from .conftest import assert_books_balance, sale


def test_an_offline_batch_becomes_paid_orders_handed_over_at_the_till(store):
    mug, jug = store.variant(price="10.00", stock=5), store.variant(price="4.50", stock=5)
    queued = [
        sale((mug, 2, "10.00")),
        sale((jug, 1, "4.00"), (mug, 1, "9.00"), customer={"email": "Ada@Example.com"}),
    ]
    response = store.upload(queued, sent_at="2026-12-02T08:00:00+00:00")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["created", "created"]
    assert [r["id"] for r in results] == [s["id"] for s in queued]
    first, second = (Order.objects.get(number=r["order"]) for r in results)
    assert first.channel == store.channel and first.status == "fulfilled"
    assert str(second.total) == "13.0000"  # the prices as charged, not the list prices
    assert second.customer == Customer.objects.get(email="ada@example.com")
    assert Fulfilment.objects.get(order=first).location == store.location
    assert (store.level(mug).on_hand, store.level(jug).on_hand) == (2, 4)
    assert Payment.objects.filter(reference=first.number, status="captured").count() == 1
    recorded = TillSale.objects.get(sale_id=queued[0]["id"])
    assert recorded.sold_at.isoformat() == "2026-12-01T08:30:00+00:00"
    assert recorded.clock_skew_seconds is not None
    assert_books_balance()


def test_the_same_sale_uploaded_again_is_the_same_order_not_a_second_one(store):
    mug = store.variant(stock=5)
    queued = [sale((mug, 1, "10.00"))]
    first = store.upload(queued).json()["results"][0]
    again = store.upload(queued).json()["results"][0]
    assert (first["outcome"], again["outcome"]) == ("created", "duplicate")
    assert again["order"] == first["order"]
    assert Order.objects.count() == 1 and store.level(mug).on_hand == 4
    assert_books_balance()


def test_a_sale_id_reused_for_another_sale_is_refused(store):
    mug = store.variant(stock=5)
    original = sale((mug, 1, "10.00"))
    store.upload([original])
    changed = {**original, "lines": [{"sku": mug.sku, "quantity": 2, "unit_price": "10.00"}]}
    changed["payments"] = [{"method": "card", "amount": "20.00"}]
    result = store.upload([changed]).json()["results"][0]
    assert (result["outcome"], result["error"]["code"]) == ("rejected", "sale_id_reused")
    assert Order.objects.count() == 1


def test_bad_sales_are_refused_one_by_one_and_leave_nothing_behind(store):
    mug = store.variant(stock=5)
    good = sale((mug, 1, "10.00"))
    bad = [
        sale(("NO-SUCH-SKU", 1, "1.00")),
        sale((mug, -1, "10.00"), paid="0.00"),
        sale((mug, 1, "10.00"), currency="EUR"),
        sale((mug, 1, "10.00"), paid="7.00"),
        sale((mug, 1, "10.00"), id="not-a-uuid"),
        sale((mug, 1, "10.005")),
        {**sale((mug, 1, "10.00")), "sold_at": "2026-12-01T09:30:00"},
    ]
    response = store.upload([bad[0], good, *bad[1:]])
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["outcome"], r["error"] and r["error"]["code"]) for r in results] == [
        ("rejected", "unknown_sku"),
        ("created", None),
        ("rejected", "invalid_quantity"),
        ("rejected", "currency_mismatch"),
        ("rejected", "payment_mismatch"),
        ("rejected", "invalid_sale_id"),
        ("rejected", "invalid_amount"),
        ("rejected", "invalid_sale_time"),
    ]
    assert results[0]["error"]["field"] == "lines[0].sku"
    assert Order.objects.count() == 1 and TillSale.objects.count() == 1
    assert Payment.objects.count() == 1 and store.level(mug).on_hand == 4
    assert_books_balance()


def test_a_refused_sale_can_be_corrected_and_uploaded_with_its_own_id(store):
    mug = store.variant(stock=5)
    wrong = sale((mug, 1, "10.00"), paid="9.00")
    assert store.upload([wrong]).json()["results"][0]["outcome"] == "rejected"
    fixed = {
        **wrong,
        "payments": [{"method": "cash", "amount": "5.00"}, {"method": "card", "amount": "5.00"}],
    }
    assert store.upload([fixed]).json()["results"][0]["outcome"] == "created"


def test_a_sale_beyond_stock_goes_negative_and_is_flagged_where_the_store_allows_it(store):
    store.allow_negative()
    mug = store.variant(stock=1)
    result = store.upload([sale((mug, 3, "10.00"))]).json()["results"][0]
    assert result["outcome"] == "exception"
    assert result["exception"] == {
        "kind": "negative_stock",
        "details": {"location": "store-1", "on_hand_after": {mug.sku: -2}},
    }
    order = Order.objects.get(number=result["order"])
    assert order.status == "fulfilled"  # the goods left with the customer: the sale is not lost
    level = store.level(mug)
    assert (level.on_hand, level.allocated, level.oversold) == (-2, 0, True)
    assert TillSale.objects.get(order=order).exception == "negative_stock"
    assert_books_balance()
    # stock arriving later brings the level back up, through the ledger
    from omnishop.inventory import services as inventory

    inventory.receive_stock(variant=mug, location=store.location, quantity=5, reference="delivery")
    assert store.level(mug).on_hand == 3
    assert_books_balance()


def test_a_sale_beyond_stock_waits_in_the_exception_queue_where_negative_stock_is_not_allowed(store):
    mug = store.variant(stock=1)
    result = store.upload([sale((mug, 3, "10.00"))]).json()["results"][0]
    assert result["outcome"] == "exception" and result["exception"]["kind"] == "out_of_stock"
    order = Order.objects.get(number=result["order"])
    assert order.status == "on_hold"
    item = OrderException.objects.get(order=order)
    assert item.reason == "out_of_stock" and result["exception"]["details"]["order_exception"] == item.pk
    level = store.level(mug)
    assert (level.on_hand, level.allocated) == (1, 0)  # never negative; staff decide in the queue
    assert_books_balance()
    again = store.upload([{**sale((mug, 3, "10.00")), "id": result["id"]}]).json()["results"][0]
    assert again["outcome"] == "duplicate" and again["exception"]["kind"] == "out_of_stock"


def test_a_till_is_known_only_to_its_channel_and_its_device(store, make_channel, make_key, api):
    mug = store.variant(stock=5)
    other = api.with_key(make_key(make_channel("store-2", "pos_store", "GBP")))
    path = f"/tills/{store.till}/sales:batch"
    body = {"sales": [sale((mug, 1, "10.00"))]}
    assert other.post(path, body, headers=store.device).status_code == 404
    assert store.api.post(path, body, headers={"X-Till-Device": "stolen"}).status_code == 404
    assert store.api.post(path, body).status_code == 422  # the device header is required
    assert Order.objects.count() == 0


def test_registering_the_same_device_again_returns_the_same_till(store):
    again = store.api.post("/tills", {"device_id": "ipad-1", "location": store.location.code})
    assert again.status_code == 200 and again.json()["id"] == store.till
    wrong = store.api.post("/tills", {"device_id": "ipad-2", "location": "nowhere"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "till_location_invalid"


def test_a_batch_larger_than_the_limit_is_refused_whole(store):
    mug = store.variant(stock=5)
    response = store.upload([sale((mug, 1, "10.00")) for _ in range(101)])
    assert response.status_code == 422 and Order.objects.count() == 0
