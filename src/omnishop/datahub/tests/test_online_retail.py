"""The generic transactions profile on real Online Retail lines: cancellations, write-offs, adjustments,
fees, missing customers, float ids, duplicates, non-ISO countries — and re-imports that change nothing."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook

from omnishop.catalog.models import Variant
from omnishop.customers.models import ChannelIdentity
from omnishop.datahub.models import ImportJob, StagedDocument, StagedTransactionLine
from omnishop.orders.models import Order

from .conftest import dataset, head_of_gzip

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

# Crafted from the README's named problems, in the real file's format.
PROBLEM_LINES = (
    HEADER
    + "541431,23166,MEDIUM CERAMIC TOP STORAGE JAR,74215,2011-01-18 10:01:00,1.04,12346.0,United Kingdom\n"
    + "C541433,23166,MEDIUM CERAMIC TOP STORAGE JAR,-74215,2011-01-18 10:17:00,1.04,12346.0,United Kingdom\n"
    + "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,11062.06,,United Kingdom\n"
    + "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,,United Kingdom\n"
    + "536589,21777,damaged,-10,2010-12-01 16:50:00,0.0,,United Kingdom\n"
    + "536590,21777,,-4,2010-12-01 16:52:00,0.0,,United Kingdom\n"
    + "536591,POST,POSTAGE,3,2010-12-01 17:00:00,18.0,12583.0,France\n"
    + "536592,85123a,CREAM HANGING HEART T-LIGHT HOLDER,2,2010-12-01 17:05:00,2.95,14911.0,EIRE\n"
    + "536593,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 17:06:00,2.55,,Unspecified\n"
    + "536593,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 17:06:00,2.55,,Unspecified\n"
    + "536594,22633,HAND WARMER UNION JACK,6,2010-12-01 17:07:00,1.85,17850.0,RSA\n"
    + "536595,22633,HAND WARMER UNION JACK,6,2010-12-01 17:08:00,-1.85,17850.0,United Kingdom\n"
)


def test_each_named_problem_lands_as_the_right_kind_of_line(run_import, retail_channel):
    job = run_import("online_retail", PROBLEM_LINES.encode(), channel=retail_channel)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_read, job.imported, job.quarantined) == (12, 11, 1)
    kinds = dict(StagedTransactionLine.objects.values_list("document_no", "kind"))
    assert kinds["541431"] == "sale"
    assert kinds["C541433"] == "cancellation"
    assert kinds["A563185"] == "adjustment"
    assert kinds["536589"] == "write_off"
    assert kinds["536591"] == "fee"
    negative_debt = StagedTransactionLine.objects.get(document_no="A563186")
    assert negative_debt.unit_price < 0 and negative_debt.kind == "adjustment"
    # A negative price is only legitimate on a bad-debt adjustment: elsewhere the line waits in quarantine.
    quarantined = job.quarantined_rows.get()
    assert quarantined.line == 13
    assert quarantined.raw["InvoiceNo"] == "536595"
    assert [(r["field"], r["code"]) for r in quarantined.reasons] == [("unit_price", "negative_price")]


def test_missing_customer_keeps_the_line_without_a_customer(run_import, retail_channel):
    run_import("online_retail", PROBLEM_LINES.encode(), channel=retail_channel)
    guest = StagedTransactionLine.objects.filter(document_no="536593")
    assert guest.count() == 2
    assert all(line.customer_id is None and line.customer_ref == "" for line in guest)


def test_float_customer_ids_become_one_customer_identity(run_import, retail_channel):
    run_import("online_retail", PROBLEM_LINES.encode(), channel=retail_channel)
    assert set(ChannelIdentity.objects.values_list("external_id", flat=True)) == {
        "12346",
        "12583",
        "14911",
        "17850",
    }
    line = StagedTransactionLine.objects.get(document_no="541431")
    assert line.customer_ref == "12346"
    assert line.customer.identities.get().external_id == "12346"


def test_warehouse_notes_never_become_product_titles_and_sku_case_is_folded(run_import, retail_channel):
    run_import("online_retail", PROBLEM_LINES.encode(), channel=retail_channel)
    assert not Variant.objects.filter(sku="21777").exists()  # only "damaged" and an empty description seen
    hearts = Variant.objects.get(sku="85123A")
    assert hearts.product.title == "CREAM HANGING HEART T-LIGHT HOLDER"
    assert set(StagedTransactionLine.objects.filter(sku="85123A").values_list("variant_id", flat=True)) == {
        hearts.pk
    }
    assert not Variant.objects.filter(sku__in=["POST", "B"]).exists()


def test_non_iso_countries_are_mapped_and_unspecified_is_blank(run_import, retail_channel):
    run_import("online_retail", PROBLEM_LINES.encode(), channel=retail_channel)
    countries = dict(StagedTransactionLine.objects.values_list("document_no", "country"))
    assert countries["536592"] == "IE"
    assert countries["536594"] == "ZA"
    assert countries["536593"] == ""
    assert StagedTransactionLine.objects.filter(document_no="536593").first().country_raw == "Unspecified"


def test_exact_duplicate_lines_are_both_kept_and_reported(run_import, retail_channel):
    job = run_import("online_retail", PROBLEM_LINES.encode(), channel=retail_channel)
    assert StagedTransactionLine.objects.filter(document_no="536593").count() == 2
    assert job.quality["duplicate_rows"] == 1


def test_invoice_dates_are_uk_local_time_stored_as_utc(run_import, retail_channel):
    summer = (
        HEADER + "563000,22633,HAND WARMER UNION JACK,6,2011-08-12 14:50:00,1.85,17850.0,United Kingdom\n"
    )
    run_import("online_retail", (PROBLEM_LINES + summer[len(HEADER) :]).encode(), channel=retail_channel)
    assert StagedTransactionLine.objects.get(document_no="563000").occurred_at == datetime(
        2011, 8, 12, 13, 50, tzinfo=UTC
    )
    assert StagedTransactionLine.objects.get(document_no="536594").occurred_at == datetime(
        2010, 12, 1, 17, 7, tzinfo=UTC
    )


def test_importing_the_same_real_file_twice_changes_nothing(run_import, retail_channel):
    data = head_of_gzip(dataset("online_retail_uci", "online_retail_2011-02.csv.gz"), 1500)
    first = run_import("online_retail", data, channel=retail_channel)
    assert first.rows_read == 1499 and first.imported + first.quarantined == 1499
    lines, variants = StagedTransactionLine.objects.count(), Variant.objects.count()
    second = run_import("online_retail", data, channel=retail_channel)
    assert (second.unchanged, second.imported, second.updated) == (first.imported, 0, 0)
    assert second.quarantined == first.quarantined
    assert (StagedTransactionLine.objects.count(), Variant.objects.count()) == (lines, variants)


def test_the_xlsx_twin_of_a_csv_is_recognised_as_the_same_lines(run_import, retail_channel):
    """UCI ships XLSX with numeric invoice numbers/ids and real datetimes; both must give the same keys."""
    data = head_of_gzip(dataset("online_retail_uci", "online_retail_2010-12.csv.gz"), 400).decode()
    csv_job = run_import("online_retail", data.encode(), channel=retail_channel)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Online Retail"
    rows = list(csv.reader(io.StringIO(data)))
    sheet.append(rows[0])
    for invoice, code, description, quantity, when, price, customer, country in rows[1:]:
        sheet.append(
            [
                int(invoice) if invoice.isdigit() else invoice,
                int(code) if code.isdigit() else code,
                description,
                int(quantity),
                datetime.strptime(when, "%Y-%m-%d %H:%M:%S"),
                float(price),
                int(float(customer)) if customer else None,
                country,
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    xlsx_job = run_import(
        "online_retail", buffer.getvalue(), name="online_retail.xlsx", channel=retail_channel
    )
    assert xlsx_job.format == "xlsx"
    assert xlsx_job.unchanged == csv_job.imported
    assert xlsx_job.imported == xlsx_job.updated == 0


def test_a_job_killed_halfway_is_finished_by_a_rerun_without_duplicates(run_import, retail_channel, settings):
    settings.OMNISHOP_DATAHUB_BATCH_SIZE = 500
    data = head_of_gzip(dataset("online_retail_uci", "online_retail_2011-02.csv.gz"), 4001)
    # The upload broke off: a truncated gzip stops the job after the batches it could read.
    truncated = gzip.compress(data)[: len(gzip.compress(data)) // 2]
    broken = run_import("online_retail", truncated, name="feb.csv.gz", channel=retail_channel)
    assert broken.status == ImportJob.Status.FAILED and broken.error_code == "truncated_file"
    assert not Order.objects.exists()
    assert 0 < broken.rows_read < 4000
    committed = StagedTransactionLine.objects.count()
    assert committed == broken.imported
    done = run_import("online_retail", gzip.compress(data), name="feb.csv.gz", channel=retail_channel)
    assert done.status == ImportJob.Status.SUCCEEDED
    assert done.unchanged == committed
    assert StagedTransactionLine.objects.count() == 4000 - done.quarantined
    keys = list(StagedTransactionLine.objects.values_list("natural_key", flat=True))
    assert len(keys) == len(set(keys))
    # The broken job built no orders (it never reached its end); the re-run settled every document.
    assert not StagedDocument.objects.filter(status=StagedDocument.Status.PENDING).exists()
    invoices = set(
        StagedDocument.objects.filter(status=StagedDocument.Status.ORDER).values_list(
            "document_no", flat=True
        )
    )
    assert invoices and set(Order.objects.values_list("external_id", flat=True)) == invoices
