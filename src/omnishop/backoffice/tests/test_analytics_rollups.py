"""The rollups follow every order change in its transaction, and equal what the orders say.

`direct_totals` computes the figures the slow, obvious way — order by order, from orders, payments, the store
credit ledger and returns — and `rollup_totals` reads them from the rollup tables; the tests (and the
Hypothesis test in test_analytics_equality.py) compare the two.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import call_command

from omnishop.backoffice.analytics import queries, rollups
from omnishop.backoffice.models import (
    DailyReturnReason,
    DailySales,
    DailyStatus,
    OrderFacts,
    ProductSales,
)
from omnishop.catalog.models import ChannelListing
from omnishop.customers.models import Customer
from omnishop.inventory import services as inventory
from omnishop.orders import services
from omnishop.orders.models import Order, ReturnRequest
from omnishop.orders.tests.conftest import Shop
from omnishop.payments.models import Payment, StoreCreditEntry

pytestmark = pytest.mark.django_db

S = Order.Status
_keys = itertools.count(1)
DAY0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


class Shops:
    """Two channels (web in GBP with card and bank-transfer checkout, a marketplace in EUR), one warehouse,
    three variants listed on both, three customers."""

    def __init__(self, web_channel, market_channel, make_key):
        warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
        for channel in (web_channel, market_channel):
            inventory.set_channel_locations(channel=channel, location_codes=[warehouse.code])
        self.web = Shop(web_channel, warehouse, make_key)
        self.market = Shop(market_channel, warehouse, make_key)
        self.variants = [self.web.variant(price=p, stock=10_000) for p in ("10.00", "24.50", "3.99")]
        for v, price in zip(self.variants, ("11.00", "27.00", "4.50"), strict=True):
            ChannelListing.objects.create(
                channel=market_channel, variant=v, is_published=True, price=Decimal(price), currency="EUR"
            )
        self.customers = [
            Customer.objects.create(email=f"c{i}@example.com", first_name=f"C{i}") for i in range(3)
        ]

    def place(self, *, market: bool, day: int, quantities: list[int], customer=None, bank=False) -> Order:
        """An order placed on day `day` after DAY0 (the clock is moved for the placement only)."""
        lines = {v: q for v, q in zip(self.variants, quantities, strict=False) if q}
        # The minute keeps orders apart within a day; `_keys` is shared by every test that places orders
        # (other files reuse Shops), so it is taken modulo 600: 10:00 + < 10 h stays on day `day` however many
        # orders ran before (unbounded, a long session pushed orders past midnight into the next day).
        at = DAY0 + timedelta(days=day, minutes=next(_keys) % 600)
        with mock.patch("django.utils.timezone.now", return_value=at):
            if market:
                order, _ = services.create_channel_order(
                    channel=self.market.channel,
                    lines=[services.ChannelLine(sku=v.sku, quantity=q) for v, q in lines.items()],
                    external_id=f"M-{next(_keys)}",
                    customer=customer,
                    actor="channel:marketplace",
                )
                return order
            return self.web.checkout(
                lines,
                key=f"k{next(_keys)}",
                customer=customer,
                provider="manual" if bank else "test_card",
                card="bank transfer" if bank else "4242424242424242",
            )


@pytest.fixture
def shops(web_channel, market_channel, make_key):
    return Shops(web_channel, market_channel, make_key)


def ship_all(order: Order) -> Order:
    for f in services.create_fulfilments(order=order, actor="test"):
        services.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T1", actor="test")
    return services.get_order(order.number)


def receive_one_unit_back(order: Order, *, reason: str, to_credit: bool = False) -> ReturnRequest:
    order = ship_all(order) if order.status in (S.PAID, S.PARTIALLY_FULFILLED) else order
    line = next(line for line in order.lines.all() if line.fulfilled > line.returned)
    rma = services.request_return(
        order=order,
        lines=[(line.pk, 1, reason)],
        refund_to="store_credit" if to_credit else "original",
        actor="shopper",
    )
    services.decide_return(rma=rma, approve=True, actor="staff")
    return services.receive_return(
        rma=rma, dispositions={line.pk: "write_off"}, location_code=None, actor="staff"
    )


# -- the two ways of counting ------------------------------------------------------------------------------


def _drop_zeros(table: dict) -> dict:
    return {k: v for k, v in table.items() if any(x != 0 for x in (v if isinstance(v, tuple) else (v,)))}


def direct_totals() -> dict:
    """The figures, order by order, from the orders, their payments, the credit ledger and their returns."""
    sales: dict = defaultdict(lambda: [0, 0, Decimal(0), Decimal(0), 0, 0, 0, 0, 0, 0])
    blocks: dict = defaultdict(lambda: [0, Decimal(0)])
    status: dict = defaultdict(int)
    reasons: dict = defaultdict(int)
    for o in Order.objects.prefetch_related("lines__variant", "returns__lines"):
        day = o.created_at.astimezone(UTC).date()
        status[(day, o.channel_id, o.status)] += 1
        row = sales[(day, o.channel_id, o.currency)]
        if o.status == S.CANCELLED:
            row[1] += 1
        if o.status in (S.CANCELLED, S.MERGED):
            continue
        received = [r for r in o.returns.all() if r.status == ReturnRequest.Status.RECEIVED]
        money_back = sum(
            (p.refunded for p in Payment.objects.filter(reference=o.payment_reference)), Decimal(0)
        )
        credit_back = sum(
            (
                e.amount
                for e in StoreCreditEntry.objects.filter(
                    kind="issue", reference__in=[r.number for r in received]
                )
            ),
            Decimal(0),
        )
        lines = list(o.lines.all())
        returned = sum(line.returned for line in lines)
        if o.customer_id is None:
            kind = 9
        else:
            earlier = Order.objects.filter(customer_id=o.customer_id, created_at__lt=o.created_at).exists()
            tied = Order.objects.filter(customer_id=o.customer_id, created_at=o.created_at, pk__lt=o.pk)
            kind = 8 if earlier or tied.exists() else 7
        for i, value in enumerate(
            (
                1,
                0,
                o.total,
                money_back + credit_back,
                sum(line.quantity - line.cancelled for line in lines),
                returned,
                int(returned > 0),
            )
        ):
            row[i] += value
        row[kind] += 1
        for line in lines:
            for grain in ("day", "week", "month"):
                block = blocks[
                    (grain, queries.bucket(day, grain), o.channel_id, o.currency, line.variant.product_id)
                ]
                block[0] += line.quantity - line.cancelled
                block[1] += line.line_total
        for r in received:
            for rl in r.lines.all():
                reasons[(day, o.channel_id, rl.reason or "(no reason given)")] += rl.quantity
    return {
        "sales": _drop_zeros({k: tuple(v) for k, v in sales.items()}),
        "blocks": _drop_zeros({k: tuple(v) for k, v in blocks.items()}),
        "status": _drop_zeros(dict(status)),
        "reasons": _drop_zeros(dict(reasons)),
    }


def rollup_totals() -> dict:
    """The same figures as the rollup tables hold them."""
    return {
        "sales": _drop_zeros(
            {
                (r.day, r.channel_id, r.currency): tuple(getattr(r, c) for c in rollups.SALES_COLUMNS)
                for r in DailySales.objects.all()
            }
        ),
        "blocks": _drop_zeros(
            {
                (r.grain, r.start, r.channel_id, r.currency, r.product_id): (r.units, r.revenue)
                for r in ProductSales.objects.all()
            }
        ),
        "status": _drop_zeros({(r.day, r.channel_id, r.status): r.orders for r in DailyStatus.objects.all()}),
        "reasons": _drop_zeros(
            {(r.day, r.channel_id, r.reason): r.units for r in DailyReturnReason.objects.all()}
        ),
    }


def assert_rollups_equal_the_orders() -> None:
    direct, rolled = direct_totals(), rollup_totals()
    for table in ("sales", "blocks", "status", "reasons"):
        assert rolled[table] == direct[table], table


# -- tests -------------------------------------------------------------------------------------------------


def test_a_placed_order_is_in_the_days_figures_at_once_with_its_units_and_revenue_per_product(shops):
    order = shops.place(market=False, day=0, quantities=[2, 1], customer=shops.customers[0])
    row = DailySales.objects.get(day=DAY0.date(), channel=shops.web.channel)
    assert (row.orders, row.sales, row.units, row.new_customers) == (1, order.total, 3, 1)
    by_product = {r.product_id: (r.units, r.revenue) for r in ProductSales.objects.filter(grain="day")}
    expected: dict = defaultdict(lambda: (0, Decimal(0)))
    for line in order.lines.select_related("variant"):
        units, revenue = expected[line.variant.product_id]
        expected[line.variant.product_id] = (units + line.quantity, revenue + line.line_total)
    assert by_product == dict(expected)
    assert DailyStatus.objects.get(channel=shops.web.channel, status=S.PAID).orders == 1
    assert_rollups_equal_the_orders()


def test_a_second_order_of_the_same_customer_counts_as_returning_and_guests_apart(shops):
    ada = shops.customers[0]
    shops.place(market=False, day=0, quantities=[1], customer=ada)
    shops.place(market=True, day=0, quantities=[1], customer=ada)
    shops.place(market=True, day=0, quantities=[1])
    web = DailySales.objects.get(channel=shops.web.channel)
    market = DailySales.objects.get(channel=shops.market.channel)
    assert (web.new_customers, web.returning_customers, web.guest_orders) == (1, 0, 0)
    assert (market.new_customers, market.returning_customers, market.guest_orders) == (0, 1, 1)
    assert market.currency == "EUR"
    assert_rollups_equal_the_orders()


def test_cancelling_moves_the_order_out_of_the_sales_and_into_the_cancelled_count(shops):
    order = shops.place(market=False, day=0, quantities=[2])
    services.cancel_order(order=order, actor="staff:1")
    row = DailySales.objects.get(channel=shops.web.channel)
    assert (row.orders, row.cancelled, row.sales, row.units) == (0, 1, 0, 0)
    statuses = {r.status: r.orders for r in DailyStatus.objects.all()}
    assert statuses == {S.PAID: 0, S.CANCELLED: 1}
    assert [r.units for r in ProductSales.objects.filter(grain="day")] == [0]
    assert_rollups_equal_the_orders()


def test_a_partial_cancel_lowers_units_and_sales_and_books_the_refund(shops):
    order = shops.place(market=False, day=0, quantities=[3])
    line = order.lines.get()
    order = services.cancel_order(order=order, quantities={line.pk: 1}, actor="staff:1")
    row = DailySales.objects.get(channel=shops.web.channel)
    assert (row.units, row.sales) == (2, order.total)
    assert row.refunds == Payment.objects.get(reference=order.payment_reference).refunded > 0
    assert_rollups_equal_the_orders()


def test_a_received_return_counts_its_units_reason_and_refund(shops):
    order = shops.place(market=False, day=0, quantities=[2], customer=shops.customers[1])
    rma = receive_one_unit_back(order, reason="too small")
    row = DailySales.objects.get(channel=shops.web.channel)
    assert (row.returned_units, row.returned_orders, row.refunds) == (1, 1, rma.refund_amount)
    assert DailyReturnReason.objects.get().units == 1
    assert DailyReturnReason.objects.get().reason == "too small"
    credit_order = shops.place(market=False, day=0, quantities=[1], customer=shops.customers[1])
    receive_one_unit_back(credit_order, reason="broken", to_credit=True)
    assert DailySales.objects.get(channel=shops.web.channel).refunds == rma.refund_amount + Decimal("10.00")
    assert_rollups_equal_the_orders()


def test_a_bank_transfer_order_waits_in_pending_until_the_money_comes(shops):
    order = shops.place(market=False, day=1, quantities=[1], bank=True)
    assert DailyStatus.objects.get(status=S.PENDING_PAYMENT).orders == 1
    from omnishop.payments import services as payments

    payments.confirm_payment(payment=Payment.objects.get(reference=order.payment_reference))
    statuses = {r.status: r.orders for r in DailyStatus.objects.filter(day=(DAY0 + timedelta(days=1)).date())}
    assert statuses == {S.PENDING_PAYMENT: 0, S.PAID: 1}
    assert_rollups_equal_the_orders()


def test_rebuild_recomputes_the_same_figures_and_repairs_a_damaged_rollup(shops):
    a = shops.place(market=False, day=0, quantities=[1, 2], customer=shops.customers[0])
    shops.place(market=True, day=3, quantities=[0, 1, 4], customer=shops.customers[0])
    receive_one_unit_back(a, reason="late")
    before = rollup_totals()
    DailySales.objects.update(orders=999)  # damage
    OrderFacts.objects.all().delete()
    call_command("analytics", "rebuild", verbosity=0)
    assert rollup_totals() == before
    assert_rollups_equal_the_orders()
    # and the incremental path carries on from the rebuilt facts
    services.cancel_order(order=shops.place(market=False, day=0, quantities=[1]), actor="t")
    assert_rollups_equal_the_orders()


def test_a_split_family_books_its_refunds_once(shops):
    order = shops.place(market=False, day=0, quantities=[2, 2])
    first = order.lines.first()
    child = services.split_order(order=order, quantities={first.pk: 2}, actor="staff:1")
    services.cancel_order(order=services.get_order(child.number), actor="staff:1")
    assert_rollups_equal_the_orders_with_families()


def assert_rollups_equal_the_orders_with_families() -> None:
    """Split families share one payment reference: its refunds count once, on the family's first order."""
    rolled = rollup_totals()["sales"]
    refunds = sum(row[3] for row in rolled.values())
    expected = sum(
        (p.refunded for p in Payment.objects.filter(reference__in=Order.objects.values("payment_reference"))),
        Decimal(0),
    )
    assert refunds == expected
    assert sum(row[0] for row in rolled.values()) == Order.objects.exclude(status__in=[S.CANCELLED]).count()


def test_an_order_dated_before_the_customers_first_order_makes_it_returning_at_the_next_rebuild(shops):
    """Only imported history arrives dated in the past; its order refreshes, the customer's later order is
    reclassified by `rebuild` (the documented limit, docs/adr/0017)."""
    ada = shops.customers[0]
    later = shops.place(market=False, day=2, quantities=[1], customer=ada)
    earlier = shops.place(market=False, day=0, quantities=[1], customer=ada)  # as an import would date it
    kinds = dict(OrderFacts.objects.values_list("order_id", "customer_kind"))
    assert kinds == {later.pk: "new", earlier.pk: "new"}  # the later order was not revisited
    rollups.rebuild()
    kinds = dict(OrderFacts.objects.values_list("order_id", "customer_kind"))
    assert kinds == {later.pk: "returning", earlier.pk: "new"}
    assert_rollups_equal_the_orders()


@pytest.mark.parametrize("new_in_sql_above", [0, 10**9], ids=["summed-in-sql", "deltas-staged"])
def test_a_refresh_of_many_orders_at_once_adds_the_same_figures_as_one_order_at_a_time(
    shops, monkeypatch, new_in_sql_above
):
    """An imported history refreshes thousands of orders at once: on PostgreSQL its rows are staged by COPY
    (forced here for a few orders) — orders with no facts yet have their rollups summed from the staged facts
    by the server, or (the other path) their differences staged per rollup row — and added onto whatever the
    rollups already hold."""
    a = shops.place(market=False, day=0, quantities=[1, 2], customer=shops.customers[0])
    shops.place(market=True, day=3, quantities=[0, 1, 4], customer=shops.customers[0])
    shops.place(market=False, day=1, quantities=[2], customer=shops.customers[1])
    services.cancel_order(order=shops.place(market=False, day=0, quantities=[1]), actor="t")
    receive_one_unit_back(a, reason="late")
    before = rollup_totals()
    for model in rollups.ROLLUPS:
        model.objects.all().delete()
    monkeypatch.setattr(rollups, "STAGE_ABOVE", 0)
    monkeypatch.setattr(rollups, "NEW_IN_SQL_ABOVE", new_in_sql_above)
    ids = sorted(Order.objects.values_list("pk", flat=True))
    rollups.refresh(order_ids=ids[:2])  # the second refresh adds onto the rows the first wrote
    rollups.refresh(order_ids=ids[2:])
    assert rollup_totals() == before
    assert OrderFacts.objects.count() == len(ids)
    monkeypatch.setattr(rollups, "STAGE_ABOVE", 500)
    services.cancel_order(order=shops.place(market=False, day=0, quantities=[1]), actor="t")
    assert_rollups_equal_the_orders()


def test_a_deleted_order_takes_its_facts_along_without_a_database_constraint(shops):
    """The rollups' foreign keys have no database constraint (ADR 0046): Django's cascade still removes an
    order's facts with the order, and the facts of every other order stay."""
    gone = shops.place(market=False, day=0, quantities=[1], customer=shops.customers[0])
    kept = shops.place(market=False, day=1, quantities=[2], customer=shops.customers[1])
    assert set(OrderFacts.objects.values_list("order_id", flat=True)) == {gone.pk, kept.pk}
    gone.delete()
    assert list(OrderFacts.objects.values_list("order_id", flat=True)) == [kept.pk]
