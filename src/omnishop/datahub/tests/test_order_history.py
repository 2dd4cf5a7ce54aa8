"""Transaction imports become order history: invoices are completed, paid past orders; credit notes are
returns and refunds against the same customer's earlier orders; write-offs and adjustments are kept but are
not sales — and a re-import changes nothing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from omnishop.backoffice.analytics import rollups
from omnishop.backoffice.models import ProductSales
from omnishop.backoffice.tests.test_analytics_rollups import rollup_totals
from omnishop.customers.models import ChannelIdentity
from omnishop.datahub.models import StagedDocument, StagedTransactionLine
from omnishop.orders.models import Order, OrderEvent, OrderLine, ReturnRequest
from omnishop.orders.services import orders_for_customer
from omnishop.payments.models import Payment, Refund
from omnishop.payments.services import paid_amount
from omnishop.recommendations.models import Event

from .conftest import dataset, head_of_gzip

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
Use = StagedTransactionLine.Use
Status = StagedDocument.Status


def statuses() -> dict[str, str]:
    return dict(StagedDocument.objects.values_list("document_no", "status"))


def csv(*lines: str) -> bytes:
    return (HEADER + "".join(f"{line}\n" for line in lines)).encode()


SALES = csv(
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.0,17850.0,United Kingdom",
    "536365,M,Manual,1,2010-12-01 08:26:00,4.5,17850.0,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,12,2010-12-02 09:00:00,1.85,,Unspecified",
    "536367,21777,damaged,-10,2010-12-02 10:00:00,0.0,,United Kingdom",
    "A563185,B,Adjust bad debt,1,2010-12-03 14:50:00,11062.06,,United Kingdom",
)


def test_an_invoice_becomes_one_completed_paid_order_with_one_line_per_product(run_import, retail_channel):
    job = run_import("online_retail", SALES, channel=retail_channel)
    assert (job.imported, job.quarantined) == (8, 0)
    order = Order.objects.get(channel=retail_channel, external_id="536365")
    assert order.status == Order.Status.COMPLETED
    assert order.created_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)  # the invoice's time, not today's
    assert order.customer == ChannelIdentity.objects.get(external_id="17850").customer
    lines = {line.sku: line for line in order.lines.all()}
    assert set(lines) == {"85123A", "71053"}  # postage and the manual amount are not products
    hearts = lines["85123A"]  # the same product twice in the invoice: one line of 12
    assert (hearts.quantity, hearts.fulfilled, hearts.line_total, hearts.unit_price) == (
        12,
        12,
        Decimal("30.6000"),
        Decimal("2.5500"),
    )
    assert order.subtotal == Decimal("30.60") + Decimal("20.34")
    assert (order.shipping_total, order.fees_total) == (Decimal("18.00"), Decimal("4.50"))
    assert order.total == Decimal("73.44")
    assert paid_amount(reference=order.payment_reference) == order.total
    assert OrderEvent.objects.filter(order=order, kind="imported").count() == 1


def test_guest_invoices_are_orders_without_a_customer_and_write_offs_are_not_sales(
    run_import, retail_channel
):
    run_import("online_retail", SALES, channel=retail_channel)
    guest = Order.objects.get(external_id="536366")
    assert guest.customer is None and guest.total == Decimal("22.20")
    assert not Order.objects.filter(external_id__in=["536367", "A563185"]).exists()
    uses = dict(StagedTransactionLine.objects.values_list("document_no", "consumed_as"))
    assert uses["536367"] == Use.WRITE_OFF
    assert uses["A563185"] == Use.ADJUSTMENT
    assert statuses() == {
        "536365": Status.ORDER,
        "536366": Status.ORDER,
        "536367": Status.NOT_A_SALE,
        "A563185": Status.NOT_A_SALE,
    }


def test_a_credit_note_returns_units_from_the_customers_latest_earlier_purchase(run_import, retail_channel):
    data = csv(
        "536400,22633,HAND WARMER UNION JACK,6,2010-12-01 09:00:00,1.85,12583.0,France",
        "536401,22633,HAND WARMER UNION JACK,6,2010-12-02 09:00:00,1.85,12583.0,France",
        "536402,71053,WHITE METAL LANTERN,2,2010-12-02 09:00:00,3.39,12583.0,France",
        "C536403,22633,HAND WARMER UNION JACK,-8,2010-12-03 09:00:00,1.85,12583.0,France",
        "C536403,D,Discount,-1,2010-12-03 09:00:00,2.00,12583.0,France",
    )
    job = run_import("online_retail", data, channel=retail_channel)
    older, newer = Order.objects.get(external_id="536400"), Order.objects.get(external_id="536401")
    # Newest purchase first: 6 units from 536401, the remaining 2 from 536400.
    assert newer.lines.get().returned == 6 and older.lines.get().returned == 2
    newer.refresh_from_db(), older.refresh_from_db()
    assert newer.status == Order.Status.RETURNED
    assert older.status == Order.Status.PARTIALLY_RETURNED
    requests = ReturnRequest.objects.filter(order__in=[older, newer])
    assert {r.status for r in requests} == {ReturnRequest.Status.RECEIVED}
    assert sum(r.refund_amount for r in requests) == Decimal("14.80") + Decimal("2.00")  # units + discount
    for order in (older, newer):
        payments = Payment.objects.filter(reference=order.payment_reference)
        captured = payments.aggregate(s=Sum("captured"))["s"]
        refunded = Refund.objects.filter(payment__in=payments).aggregate(s=Sum("amount"))["s"] or 0
        assert paid_amount(reference=order.payment_reference) == captured - refunded
    assert paid_amount(reference=newer.payment_reference) == Decimal("11.10") - Decimal("11.10")
    assert Order.objects.get(external_id="536402").status == Order.Status.COMPLETED  # other product
    uses = Counter(
        StagedTransactionLine.objects.filter(document_no="C536403").values_list("consumed_as", flat=True)
    )
    assert uses == {Use.RETURN: 2}
    assert statuses()["C536403"] == Status.RETURNS
    assert job.entity_counts["lines_return"] == 2


def test_credit_notes_that_match_no_purchase_are_kept_and_reported_not_forced(run_import, retail_channel):
    data = csv(
        "536500,22633,HAND WARMER UNION JACK,2,2010-12-01 09:00:00,1.85,14911.0,EIRE",
        # more units than were bought: 2 match, the line is partly matched
        "C536501,22633,HAND WARMER UNION JACK,-5,2010-12-02 09:00:00,1.85,14911.0,EIRE",
        # a product this customer never bought here (bought before the imported period)
        "C536502,71053,WHITE METAL LANTERN,-1,2010-12-02 09:00:00,3.39,14911.0,EIRE",
        # a guest credit note: nobody to match
        "C536503,22633,HAND WARMER UNION JACK,-1,2010-12-02 09:00:00,1.85,,United Kingdom",
        # a credit dated before the purchase cannot return it
        "C536499,22633,HAND WARMER UNION JACK,-1,2010-11-30 09:00:00,1.85,14911.0,EIRE",
    )
    job = run_import("online_retail", data, channel=retail_channel)
    uses = dict(StagedTransactionLine.objects.values_list("document_no", "consumed_as"))
    assert uses["C536501"] == Use.RETURN_PARTIAL
    assert uses["C536502"] == uses["C536503"] == uses["C536499"] == Use.UNMATCHED_RETURN
    order = Order.objects.get(external_id="536500")
    assert order.lines.get().returned == 2 and order.status == Order.Status.RETURNED
    assert paid_amount(reference=order.payment_reference) == 0
    assert ReturnRequest.objects.count() == 1
    assert job.entity_counts["lines_unmatched_return"] == 3


def test_importing_the_same_invoices_again_changes_no_order(run_import, retail_channel):
    data = csv(
        "536600,22633,HAND WARMER UNION JACK,6,2010-12-01 09:00:00,1.85,12583.0,France",
        "C536601,22633,HAND WARMER UNION JACK,-2,2010-12-02 09:00:00,1.85,12583.0,France",
    )
    run_import("online_retail", data, channel=retail_channel)
    before = (
        list(Order.objects.values_list("pk", "status", "total", "updated_at")),
        list(OrderLine.objects.values_list("pk", "returned")),
        Payment.objects.aggregate(c=Sum("captured"), r=Sum("refunded")),
        ReturnRequest.objects.count(),
        OrderEvent.objects.count(),
    )
    again = run_import("online_retail", data, channel=retail_channel)
    assert (again.unchanged, again.imported) == (2, 0)
    after = (
        list(Order.objects.values_list("pk", "status", "total", "updated_at")),
        list(OrderLine.objects.values_list("pk", "returned")),
        Payment.objects.aggregate(c=Sum("captured"), r=Sum("refunded")),
        ReturnRequest.objects.count(),
        OrderEvent.objects.count(),
    )
    assert after == before


def test_an_invoice_continued_in_a_later_file_is_rebuilt_whole(run_import, retail_channel):
    run_import(
        "online_retail",
        csv("536700,22633,HAND WARMER UNION JACK,6,2010-12-01 09:00:00,1.85,12583.0,France"),
        name="part1.csv",
        channel=retail_channel,
    )
    order = Order.objects.get(external_id="536700")
    assert order.total == Decimal("11.10")
    run_import(
        "online_retail",
        csv(
            "536700,22633,HAND WARMER UNION JACK,6,2010-12-01 09:00:00,1.85,12583.0,France",
            "536700,71053,WHITE METAL LANTERN,1,2010-12-01 09:00:00,3.39,12583.0,France",
        ),
        name="part2.csv",
        channel=retail_channel,
    )
    order.refresh_from_db()
    assert Order.objects.filter(external_id="536700").count() == 1
    assert order.total == Decimal("14.49")
    assert sorted(order.lines.values_list("sku", flat=True)) == ["22633", "71053"]
    assert paid_amount(reference=order.payment_reference) == Decimal("14.49")
    assert order.events.filter(kind="reimported").exists()


def test_a_changed_invoice_with_returns_recorded_is_left_alone_and_flagged(run_import, retail_channel):
    first = csv(
        "536800,22633,HAND WARMER UNION JACK,6,2010-12-01 09:00:00,1.85,12583.0,France",
        "C536801,22633,HAND WARMER UNION JACK,-1,2010-12-02 09:00:00,1.85,12583.0,France",
    )
    run_import("online_retail", first, channel=retail_channel)
    changed = csv("536800,22633,HAND WARMER UNION JACK,6,2010-12-01 09:00:00,1.95,12583.0,France")
    job = run_import("online_retail", changed, name="changed.csv", channel=retail_channel)
    assert job.updated == 1
    order = Order.objects.get(external_id="536800")
    assert order.total == Decimal("11.10")  # not rewritten under a recorded return
    assert statuses()["536800"] == Status.CONFLICT
    assert job.entity_counts["orders_conflict"] == 1


def test_past_orders_show_in_the_customers_history(run_import, retail_channel):
    run_import("online_retail", SALES, channel=retail_channel)
    customer = ChannelIdentity.objects.get(external_id="17850").customer
    history = orders_for_customer(customer=customer)
    assert [o["number"] for o in history] == [Order.objects.get(external_id="536365").number]


def test_a_real_month_balances_order_by_order(run_import, retail_channel, django_capture_on_commit_callbacks):
    """The first 6,000 lines of December 2010: every order's money and units add up, every staged line
    says what it became, and paid = captured − refunded for every order."""
    data = head_of_gzip(dataset("online_retail_uci", "online_retail_2010-12.csv.gz"), 6001)
    with django_capture_on_commit_callbacks(execute=True):  # the listeners of past orders run after commit
        job = run_import("online_retail", data, channel=retail_channel)
    assert job.rows_read == 6000
    staged = StagedTransactionLine.objects.count()
    assert staged == job.imported
    documents = Counter(statuses().values())
    assert Status.PENDING not in documents and documents[Status.ORDER] > 200 and documents[Status.RETURNS] > 0
    invoices = {d for d, status in statuses().items() if status == Status.ORDER}
    assert set(Order.objects.values_list("external_id", flat=True)) == invoices
    counts = job.entity_counts
    settled = sum(counts.get(f"lines_{x}", 0) for x in ("order", "write_off", "adjustment", "rejected"))
    credit_lines = sum(counts.get(f"lines_{x}", 0) for x in ("return", "return_partial", "unmatched_return"))
    assert settled + credit_lines == staged  # every staged line is accounted for exactly once
    for order in Order.objects.prefetch_related("lines"):
        lines = list(order.lines.all())
        assert order.subtotal == sum((x.line_total for x in lines), Decimal(0))
        assert order.total == order.subtotal + order.shipping_total + order.fees_total
        assert all(x.returned <= x.fulfilled == x.quantity for x in lines)
        payments = Payment.objects.filter(reference=order.payment_reference)
        captured = sum((p.captured for p in payments), Decimal(0))
        refunded = Refund.objects.filter(payment__in=payments).aggregate(s=Sum("amount"))["s"] or 0
        assert captured == order.total
        assert paid_amount(reference=order.payment_reference) == captured - refunded >= 0
    # Units in the invoices' staged sale lines = units ordered.
    staged_units = StagedTransactionLine.objects.filter(
        document_no__in=invoices, kind=StagedTransactionLine.Kind.SALE, variant__isnull=False
    ).aggregate(s=Sum("quantity"))["s"]
    assert OrderLine.objects.aggregate(s=Sum("quantity"))["s"] == staged_units
    # The dashboard's figures took the history in bulk (on PostgreSQL: facts by COPY, rollups summed in SQL):
    # the same figures as a rebuild from the orders.
    assert ProductSales.objects.filter(grain="day").count() > 500
    figures = rollup_totals()
    rollups.rebuild()
    assert rollup_totals() == figures


def test_cdnow_customer_days_become_orders_of_the_catch_all_product(run_import, make_channel):
    channel = make_channel("cdnow", "web", "USD", country="US")
    data = (
        b" customer_id  date number_of_cds  dollar_value\r\n"
        b" 00001 19970101  1   11.77\r\n"
        b" 00002 19970112  1   12.00\r\n"
        b" 00002 19970112  5   77.00\r\n"
        b" 00003 19970102  2   20.76\r\n"
    )
    job = run_import("cdnow", data, name="cdnow.txt", channel=channel)
    assert job.imported == 4
    orders = {o.external_id: o for o in Order.objects.filter(channel=channel)}
    assert set(orders) == {"00001-19970101", "00002-19970112", "00003-19970102"}
    same_day = orders["00002-19970112"]  # two purchases of one customer on one day: one order
    assert same_day.total == Decimal("89.00") and same_day.lines.get().quantity == 6
    assert same_day.customer == ChannelIdentity.objects.get(channel=channel, external_id="00002").customer
    assert {line.sku for line in OrderLine.objects.all()} == {"CDNOW-CD"}


def test_vouchers_free_lines_and_description_drift_from_the_readme(run_import, retail_channel):
    """Gift vouchers (`gift_0001_NN`, with a £ in the description) are charges, not products; a paid line at
    price 0 is a free line of the order; a stock code seen under two descriptions is one product named by
    the first paid sale."""
    data = csv(
        "540238,gift_0001_30,Dotcomgiftshop Gift Voucher £30.00,1,2011-01-05 14:44:00,25.53,,United Kingdom",
        "540238,22633,HAND WARMER UNION JACK,6,2011-01-05 14:44:00,1.85,,United Kingdom",
        "540238,21034,REX CASH+CARRY JUMBO SHOPPER,1,2011-01-05 14:44:00,0.0,,United Kingdom",
        "540300,22633,HAND WARMER UNION JACK RED,2,2011-01-06 10:00:00,1.95,,United Kingdom",
    )
    job = run_import("online_retail", data, channel=retail_channel)
    assert job.quarantined == 0
    order = Order.objects.get(external_id="540238")
    assert order.fees_total == Decimal("25.53")
    assert not order.lines.filter(sku__startswith="GIFT").exists()
    free = order.lines.get(sku="21034")
    assert (free.quantity, free.line_total) == (1, Decimal("0.0000"))
    assert order.total == Decimal("25.53") + Decimal("11.10")
    drift = OrderLine.objects.filter(sku="22633")
    assert {line.variant.product.title for line in drift} == {"HAND WARMER UNION JACK"}
    assert set(drift.values_list("title", flat=True)) == {
        "HAND WARMER UNION JACK",
        "HAND WARMER UNION JACK RED",
    }


def test_recent_past_orders_become_purchase_events_once_and_old_ones_do_not(
    run_import, retail_channel, django_capture_on_commit_callbacks
):
    """A merchant moving last month's orders gets personal recommendations from them; a purchase from
    2010 is past the events' retention window and is not written (the purge would drop it)."""
    when = (timezone.now() - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:00")
    data = csv(
        f"700001,22633,HAND WARMER UNION JACK,6,{when},1.85,12583.0,France",
        f"700001,71053,WHITE METAL LANTERN,2,{when},3.39,12583.0,France",
        f"700001,POST,POSTAGE,1,{when},18.0,12583.0,France",
        f"700002,22633,HAND WARMER UNION JACK,1,{when},1.85,,United Kingdom",
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    )
    with django_capture_on_commit_callbacks(execute=True):
        run_import("online_retail", data, channel=retail_channel)
    events = Event.objects.filter(source="history", kind=Event.Kind.PURCHASE)
    customer = ChannelIdentity.objects.get(external_id="12583").customer_id
    assert sorted(events.filter(customer_id=customer).values_list("quantity", flat=True)) == [2, 6]
    guest = events.get(customer_id__isnull=True)
    assert guest.anonymous_id == f"order:{Order.objects.get(external_id='700002').number}"
    assert events.count() == 3  # nothing for 2010's invoice, nothing for postage
    with django_capture_on_commit_callbacks(execute=True):
        run_import("online_retail", data, channel=retail_channel)
    assert Event.objects.filter(source="history").count() == 3
