"""Orders a channel already took (marketplace imports, POS sales): deduplication, prices and shipping the
channel sets, what was paid, stock held or the exception queue, and a POS sale handed over at the till."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.core.errors import DomainError
from omnishop.inventory import services as inventory
from omnishop.orders import services
from omnishop.orders.models import Fulfilment, Order, OrderException
from omnishop.orders.services import listeners
from omnishop.payments.models import Payment

from .conftest import ADDRESS, assert_books_balance

pytestmark = pytest.mark.django_db
S = Order.Status
Line = services.ChannelLine


def import_order(shop, lines, **kw):
    args = dict(channel=shop.channel, lines=lines, actor="channel:amazon")
    args.update(kw)
    return services.create_channel_order(**args)


def refused(fn, code: str, field: str | None):
    with pytest.raises(DomainError) as caught:
        fn()
    assert (caught.value.code, caught.value.field) == (code, field), caught.value.as_dict()


def test_an_imported_order_is_paid_held_and_recorded_to_the_cent(
    shop, customer, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr(listeners, "LISTENERS", [told.append])
    a = shop.variant(price="10.00", stock=5, weight=100)
    b = shop.variant(price="2.50", stock=5)
    with django_capture_on_commit_callbacks(execute=True):
        order, created = import_order(
            shop,
            [Line(a.sku, 2), Line(b.sku, 1, unit_price="1.99")],
            external_id="AMZ-9",
            customer=customer,
            email="ada@example.com",
            shipping_address={**ADDRESS, "country": "fr"},
        )
    assert created is True
    order = services.get_order(order.number)
    # FR: the '*' 10 % inside the prices; the marketplace's own price for b; no shipping named
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        Decimal("21.99"),
        Decimal("0.00"),
        Decimal("1.82") + Decimal("0.18"),
        Decimal("21.99"),
    )
    assert (order.status, order.external_id, order.customer, order.email) == (
        S.PAID,
        "AMZ-9",
        customer,
        "ada@example.com",
    )
    assert (order.shipping_address["country"], order.shipping_method, order.shipping_method_name) == (
        "FR",
        None,
        "",
    )
    assert (order.currency, order.prices_include_tax, order.payment_reference) == ("GBP", True, order.number)
    assert order.number.startswith("WEB-") and order.tracking_token
    rows = [
        (x.sku, x.quantity, x.allocated, x.unit_price, x.line_total, x.weight_grams)
        for x in order.lines.order_by("pk")
    ]
    assert rows == [
        (a.sku, 2, 2, Decimal("10.00"), Decimal("20.00"), 200),
        (b.sku, 1, 1, Decimal("1.99"), Decimal("1.99"), 0),
    ]
    payment = Payment.objects.get(reference=order.number)
    assert (payment.provider, payment.status, payment.captured, payment.method_label, payment.customer) == (
        "manual",
        "captured",
        Decimal("21.99"),
        "paid on web",
        customer,
    )
    placed, moved = order.events.order_by("pk")
    assert (placed.kind, placed.actor, placed.message, placed.after) == (
        "placed",
        "channel:amazon",
        "Created by channel web.",
        {"total": "21.99", "external_id": "AMZ-9"},
    )
    assert (moved.kind, moved.actor, moved.before, moved.after) == (
        "status_changed",
        "channel:amazon",
        {"status": "pending_payment"},
        {"status": "paid"},
    )
    assert (shop.stock(a).allocated, shop.stock(b).allocated) == (2, 1)
    assert [o.number for o in told] == [order.number]
    assert_books_balance()


def test_the_same_external_id_twice_is_one_order_but_orders_without_one_are_all_kept(shop):
    v = shop.variant(stock=5)
    first, _ = import_order(shop, [Line(v.sku, 1)], external_id="E-1")
    again, created = import_order(shop, [Line(v.sku, 3)], external_id="E-1")
    assert (again.pk, created) == (first.pk, False)
    one, _ = import_order(shop, [Line(v.sku, 1)])
    two, created = import_order(shop, [Line(v.sku, 1)])
    assert one.pk != two.pk and created is True
    assert shop.stock(v).allocated == 3 and Payment.objects.count() == 3


def test_channel_order_refusals_name_the_field(shop):
    v = shop.variant(stock=5)
    refused(lambda: import_order(shop, []), "empty_cart", "lines")
    refused(lambda: import_order(shop, [Line(v.sku, 1), Line(v.sku, 2)]), "validation_error", "lines[1].sku")
    refused(
        lambda: import_order(shop, [Line(v.sku, 1), Line("NOPE", 1)]), "variant_unavailable", "lines[1].sku"
    )
    refused(lambda: import_order(shop, [Line(v.sku, 0)]), "quantity_too_large", "lines[0].quantity")
    refused(
        lambda: import_order(shop, [Line(v.sku, 1), Line(shop.variant().sku, 1, unit_price="1.999")]),
        "invalid_amount",
        "lines[1].unit_price",
    )
    refused(
        lambda: import_order(shop, [Line(v.sku, 1)], shipping_total="-1"), "invalid_amount", "shipping_total"
    )
    refused(lambda: import_order(shop, [Line(v.sku, 1)], paid_amount="x"), "invalid_amount", "paid_amount")
    refused(
        lambda: import_order(shop, [Line(v.sku, 1)], shipping_method="drone"),
        "shipping_method_unavailable",
        "shipping_method",
    )
    refused(
        lambda: import_order(shop, [Line(v.sku, 1)], shipping_address={"name": "A"}),
        "invalid_address",
        "shipping_address.line1",
    )
    assert Order.objects.count() == 0 and Payment.objects.count() == 0


def test_a_shipping_fee_the_marketplace_charged_is_taxed_like_a_line(shop):
    v = shop.variant(price="10.00", stock=5)
    order, _ = import_order(shop, [Line(v.sku, 1)], shipping_total="3.60", shipping_address=ADDRESS)
    # GB 20 %: 10.00 (tax 1.67) + 3.60 (tax 0.60)
    assert (order.shipping_total, order.tax_total, order.total) == (
        Decimal("3.60"),
        Decimal("2.27"),
        Decimal("13.60"),
    )
    assert Payment.objects.get().captured == Decimal("13.60")


def test_a_named_shipping_method_prices_the_shipping_unless_the_channel_says_otherwise(shop):
    v = shop.variant(price="10.00", stock=5)
    order, _ = import_order(shop, [Line(v.sku, 1)], shipping_method="standard", shipping_address=ADDRESS)
    assert (order.shipping_method, order.shipping_method_name) == (shop.standard, "Standard")
    assert (order.shipping_total, order.tax_total, order.total) == (
        Decimal("4.95"),
        Decimal("2.50"),
        Decimal("14.95"),
    )
    fixed, _ = import_order(
        shop, [Line(v.sku, 1)], shipping_method="standard", shipping_total="1.20", shipping_address=ADDRESS
    )
    assert (fixed.shipping_total, fixed.total) == (Decimal("1.20"), Decimal("11.20"))


def test_a_tax_exclusive_channel_adds_the_tax_of_the_shipping(make_channel, make_key):
    from .conftest import Shop

    channel = make_channel("b2b", "web", "GBP", prices_include_tax=False)
    wh = inventory.create_location(code="b2b-wh", name="B2B")
    inventory.set_channel_locations(channel=channel, location_codes=[wh.code])
    shop = Shop(channel, wh, make_key)
    v = shop.variant(price="10.00", stock=5)
    order, _ = import_order(shop, [Line(v.sku, 1)], shipping_total="5.00")
    # no address: the channel's country (GB, 20 %) — 10.00 + 2.00, shipping 5.00 + 1.00
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        Decimal("10.00"),
        Decimal("5.00"),
        Decimal("3.00"),
        Decimal("18.00"),
    )
    assert order.shipping_address is None


def test_what_was_paid_decides_paid_or_pending(shop):
    v = shop.variant(price="10.00", stock=5)
    short, _ = import_order(shop, [Line(v.sku, 1)], paid_amount="9.99", payment_label="eBay payout")
    assert short.status == S.PENDING_PAYMENT
    p = Payment.objects.get(reference=short.number)
    assert (p.captured, p.method_label) == (Decimal("9.99"), "eBay payout")
    exact, _ = import_order(shop, [Line(v.sku, 1)], paid_amount="10.00")
    assert exact.status == S.PAID
    coins, _ = import_order(shop, [Line(v.sku, 1)], paid_amount="0.50")
    assert Payment.objects.get(reference=coins.number).captured == Decimal("0.50")
    unpaid, _ = import_order(shop, [Line(v.sku, 1)], paid_amount="0")
    assert unpaid.status == S.PENDING_PAYMENT
    assert not Payment.objects.filter(reference=unpaid.number).exists()
    assert unpaid.events.get(kind="status_changed").after == {"status": "pending_payment"}
    assert shop.stock(v).allocated == 4


def test_an_import_without_stock_holds_what_is_there_and_waits_in_the_exception_queue(shop):
    have = shop.variant(price="10.00", stock=2)
    missing = shop.variant(price="7.00", stock=1)
    order, created = import_order(shop, [Line(have.sku, 2), Line(missing.sku, 3)], external_id="E-2")
    assert created is True and order.status == S.ON_HOLD
    assert [(x.sku, x.allocated) for x in order.lines.order_by("pk")] == [(have.sku, 2), (missing.sku, 0)]
    item = OrderException.objects.get(order=order)
    assert item.reason == "out_of_stock" and item.resolved_at is None
    ((details,),) = [item.details["missing"]]
    assert (details["sku"], details["requested"]) == (missing.sku, 3)
    assert services.paid(order) == order.total == Decimal("41.00")
    assert order.events.get(kind="status_changed").after == {"status": "on_hold"}
    assert (shop.stock(have).allocated, shop.stock(missing).allocated) == (2, 0)
    assert_books_balance()


def test_a_pos_sale_handed_over_at_the_till_is_shipped_at_once(shop):
    store = inventory.create_location(code="till", name="Till", kind="retail_store", serves_pickup=True)
    # the warehouse comes first for deliveries; a sale at the till takes the till's stock
    inventory.set_channel_locations(channel=shop.channel, location_codes=[shop.warehouse.code, store.code])
    services.create_shipping_method(
        channel=shop.channel, code="counter", name="Counter", kind="pickup", pickup_location="till"
    )
    v = shop.variant(price="10.00", stock=5)
    inventory.receive_stock(variant=v, location=store, quantity=1, reference="t")
    order, _ = import_order(
        shop, [Line(v.sku, 1)], shipping_method="counter", handed_over=True, actor="pos:1"
    )
    assert order.status == S.FULFILLED
    f = Fulfilment.objects.get(order=order)
    assert (f.status, f.carrier, f.tracking_number, f.location) == ("shipped", "in_store", "", store)
    assert (shop.stock(v, store).on_hand, shop.stock(v).on_hand) == (0, 5)
    assert_books_balance()


def test_an_unpaid_pos_sale_is_not_handed_over(shop):
    v = shop.variant(price="10.00", stock=5)
    order, _ = import_order(shop, [Line(v.sku, 1)], paid_amount="5.00", handed_over=True)
    assert order.status == S.PENDING_PAYMENT and not Fulfilment.objects.exists()


def test_a_retired_shipping_method_is_refused_even_with_the_channels_own_fee(shop):
    from omnishop.orders.models import ShippingMethod

    v = shop.variant(stock=5)
    ShippingMethod.objects.filter(pk=shop.standard.pk).update(is_active=False)
    refused(
        lambda: import_order(shop, [Line(v.sku, 1)], shipping_method="standard", shipping_total="2.00"),
        "shipping_method_unavailable",
        "shipping_method",
    )


def test_a_replayed_import_answers_the_first_order_whatever_it_carries(shop):
    v = shop.variant(stock=5)
    first, _ = import_order(shop, [Line(v.sku, 1)], external_id="E-7")
    for lines in ([], [Line("NOPE", 1)], [Line(v.sku, 1), Line(v.sku, 1)]):
        again, created = import_order(shop, lines, external_id="E-7")
        assert (again.pk, created) == (first.pk, False)
    assert first.email == ""


def test_the_same_external_id_on_another_channel_is_another_order(shop, make_channel, make_key):
    from .conftest import Shop

    other = make_channel("ebay", "marketplace", "GBP")
    wh = inventory.create_location(code="ebay-wh", name="eBay")
    inventory.set_channel_locations(channel=other, location_codes=[wh.code])
    ebay = Shop(other, wh, make_key)
    mine, _ = import_order(shop, [Line(shop.variant(stock=5).sku, 1)], external_id="X-1")
    theirs, created = import_order(ebay, [Line(ebay.variant(stock=5).sku, 1)], external_id="X-1")
    assert created is True and theirs.pk != mine.pk and theirs.channel == other


def test_channel_orders_in_a_three_decimal_currency_keep_their_fils(make_channel, make_key):
    from .conftest import Shop

    channel = make_channel("bh", "marketplace", "BHD", country="BH")
    wh = inventory.create_location(code="bh-wh", name="Manama")
    inventory.set_channel_locations(channel=channel, location_codes=[wh.code])
    bh = Shop(channel, wh, make_key)
    services.create_shipping_method(channel=channel, code="fils", name="Fils", kind="flat", price="1.235")
    v = bh.variant(price="2.000", stock=5)
    order, _ = import_order(bh, [Line(v.sku, 1, unit_price="1.997")], shipping_total="0.128")
    # the '*' 10 % inside the prices: 1.997 holds 0.182 tax, 0.128 holds 0.012
    assert (order.lines.get().unit_price, order.shipping_total, order.tax_total, order.total) == (
        Decimal("1.997"),
        Decimal("0.128"),
        Decimal("0.194"),
        Decimal("2.125"),
    )
    assert order.status == S.PAID and services.paid(order) == Decimal("2.125")
    from omnishop.core.models import OutboxEvent

    placed = OutboxEvent.objects.get(aggregate_id=order.number, type="order.placed").envelope()
    assert placed["data"]["order"]["total"] == "2.125"  # channels read the fils too
    short, _ = import_order(
        bh, [Line(v.sku, 1, unit_price="1.997")], shipping_total="0.128", paid_amount="2.124"
    )
    assert short.status == S.PENDING_PAYMENT and services.paid(short) == Decimal("2.124")
    quoted, _ = import_order(bh, [Line(v.sku, 1)], shipping_method="fils")
    assert (quoted.shipping_total, quoted.total) == (Decimal("1.235"), Decimal("3.235"))


def test_a_named_method_prices_by_goods_weight_and_destination(shop):
    services.create_shipping_method(
        channel=shop.channel, code="free50", name="Free", kind="free_over", price="3.00", free_over="50.00"
    )
    services.create_shipping_method(
        channel=shop.channel,
        code="bands",
        name="Bands",
        kind="weight",
        bands=[{"up_to_grams": 500, "price": "2.00"}, {"up_to_grams": 5000, "price": "6.00"}],
    )
    services.create_shipping_method(
        channel=shop.channel, code="uk", name="UK", kind="flat", price="1.00", countries=["GB"]
    )
    v = shop.variant(price="30.00", stock=20, weight=400)
    free, _ = import_order(shop, [Line(v.sku, 2)], shipping_method="free50", shipping_address=ADDRESS)
    paid3, _ = import_order(shop, [Line(v.sku, 1)], shipping_method="free50", shipping_address=ADDRESS)
    light, _ = import_order(shop, [Line(v.sku, 1)], shipping_method="bands", shipping_address=ADDRESS)
    heavy, _ = import_order(shop, [Line(v.sku, 2)], shipping_method="bands", shipping_address=ADDRESS)
    uk, _ = import_order(shop, [Line(v.sku, 1)], shipping_method="uk", shipping_address=ADDRESS)
    assert [o.shipping_total for o in (free, paid3, light, heavy, uk)] == [
        Decimal("0.00"),
        Decimal("3.00"),
        Decimal("2.00"),
        Decimal("6.00"),
        Decimal("1.00"),
    ]
    refused(
        lambda: import_order(
            shop, [Line(v.sku, 1)], shipping_method="uk", shipping_address={**ADDRESS, "country": "FR"}
        ),
        "shipping_method_unavailable",
        "shipping_method",
    )
