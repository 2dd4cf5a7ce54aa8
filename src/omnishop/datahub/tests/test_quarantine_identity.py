"""A bad row is one quarantine entry however often it is imported: a re-import meets the open entry again
(and records that it did) instead of opening a second one, and the fixed row arriving later resolves it."""

from __future__ import annotations

import pytest

from omnishop.datahub import services
from omnishop.datahub.models import QuarantinedRow, QuarantineSighting

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def retail(*lines: str) -> bytes:
    return (HEADER + "".join(f"{line}\n" for line in lines)).encode()


BAD = retail(
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,0,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",  # zero units
    "536366,22633,HAND WARMER UNION JACK,12,2010-12-02 09:00:00,abc,,United Kingdom",  # unreadable price
)

CUSTOMERS = "id,email,first_name\r\nK1,kai@example.com,Kai\r\nK2,not-an-email,Bad\r\nK3,not-an-email,Bad\r\n"


def open_rows():
    return QuarantinedRow.objects.filter(status=QuarantinedRow.Status.OPEN)


def test_importing_the_same_file_twice_leaves_one_open_entry_per_bad_row(run_import, retail_channel):
    first = run_import("online_retail", BAD, channel=retail_channel)
    second = run_import("online_retail", BAD, name="again.csv", channel=retail_channel)
    assert first.quarantined == second.quarantined == 2  # the job still says what it met
    assert open_rows().count() == 2
    assert set(open_rows().values_list("job_id", flat=True)) == {first.pk}
    seen = QuarantineSighting.objects.filter(job=second)
    assert sorted(seen.values_list("line", flat=True)) == [3, 4]
    assert {s.row.job_id for s in seen} == {first.pk}
    assert services.quarantine_of(job=second).count() == 2  # the job's quarantine lists what it met
    third = run_import("online_retail", BAD, name="third.csv", channel=retail_channel)
    assert third.quarantined == 2 and open_rows().count() == 2
    row = open_rows().get(line=3)
    assert row.sightings.count() == 2 and row.row_key == "536365:71053"


def test_the_quarantine_list_of_a_re_import_shows_the_rows_it_met_again(
    run_import, retail_channel, staff_api
):
    first = run_import("online_retail", BAD, channel=retail_channel)
    second = run_import("online_retail", BAD, name="again.csv", channel=retail_channel)
    page = staff_api.get(f"/datahub/imports/{second.pk}/quarantine").json()
    assert [
        (row["line"], row["job"], row["seen_again"], row["last_seen_by_job"]) for row in page["items"]
    ] == [
        (3, first.pk, 1, second.pk),
        (4, first.pk, 1, second.pk),
    ]
    quality = staff_api.get(f"/datahub/imports/{second.pk}/quality").json()
    assert quality["open_quarantine"] == 2


def test_identical_bad_rows_pair_off_with_their_entries_on_a_re_import(run_import, retail_channel):
    first = run_import("customers", CUSTOMERS.encode(), channel=retail_channel)
    second = run_import("customers", CUSTOMERS.encode(), name="again.csv", channel=retail_channel)
    assert first.quarantined == second.quarantined == 2
    assert open_rows().count() == 2  # two identical bad rows in the file: two entries, not four, not one
    assert QuarantineSighting.objects.filter(job=second).count() == 2


def test_the_fixed_row_imported_later_resolves_the_open_entry(run_import, retail_channel):
    first = run_import("online_retail", BAD, channel=retail_channel)
    fixed = retail(
        "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
        "536366,22633,HAND WARMER UNION JACK,12,2010-12-02 09:00:00,1.85,,United Kingdom",
    )
    later = run_import("online_retail", fixed, name="fixed.csv", channel=retail_channel)
    assert later.quarantined == 0
    assert not open_rows().exists()
    assert set(QuarantinedRow.objects.filter(job=first).values_list("status", "resolved_by_job_id")) == {
        ("resolved", later.pk)
    }


def test_a_re_import_of_the_same_bad_file_does_not_resolve_its_own_rows(run_import, retail_channel):
    # The good line of invoice 536365 is "unchanged" on a re-import: it is not the fix of anything.
    run_import("online_retail", BAD, channel=retail_channel)
    run_import("online_retail", BAD, name="again.csv", channel=retail_channel)
    assert open_rows().count() == 2


NOTE_ON_UNKNOWN_CODE = retail(
    "536370,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583.0,France",
    # A warehouse note at price 0 on a stock code no line ever names: it can never become a product.
    "536370,84999,check,3,2010-12-01 08:45:00,0,12583.0,France",
)
LATER = retail("536380,22728,ALARM CLOCK BAKELIKE PINK,2,2010-12-05 10:00:00,3.75,12583.0,France")


def test_a_line_that_can_never_be_built_is_quarantined_once_and_its_invoice_is_built(
    run_import, retail_channel
):
    from omnishop.datahub.models import StagedDocument
    from omnishop.orders.models import Order

    job = run_import("online_retail", NOTE_ON_UNKNOWN_CODE, channel=retail_channel)
    assert (job.imported, job.quarantined) == (1, 1)  # not "everything imported"
    row = QuarantinedRow.objects.get(job=job)
    assert row.status == "open" and row.reasons[0]["code"] == "unknown_product"
    assert "84999" in row.reasons[0]["message"]
    assert row.raw["StockCode"] == "84999" and row.raw["InvoiceNo"] == "536370"
    assert job.quality["rejects_by_reason"][0]["reason"] == "sku:unknown_product"
    order = Order.objects.get(channel=retail_channel, external_id="536370")
    assert [line.sku for line in order.lines.all()] == ["22728"]
    assert StagedDocument.objects.get(document_no="536370").status == StagedDocument.Status.ORDER
    # Later imports neither retry the invoice nor quarantine the line again.
    later = run_import("online_retail", LATER, name="later.csv", channel=retail_channel)
    again = run_import("online_retail", NOTE_ON_UNKNOWN_CODE, name="again.csv", channel=retail_channel)
    for other in (later, again):
        assert other.quarantined == 0 and "orders_rejected_unknown_product" not in other.entity_counts
        assert "lines_quarantined" not in other.entity_counts
    assert again.unchanged == 2
    assert QuarantinedRow.objects.count() == 1


def test_a_quarantined_invoice_line_fixed_and_re_submitted_rebuilds_its_invoice(run_import, retail_channel):
    from omnishop.orders.models import Order

    job = run_import("online_retail", NOTE_ON_UNKNOWN_CODE, channel=retail_channel)
    row = QuarantinedRow.objects.get(job=job)
    row, small = services.resubmit_quarantined(row=row, values={"Description": "PINK CLOCK SPARE BELL"})
    assert row.status == "resolved" and small.imported == 1
    order = Order.objects.get(channel=retail_channel, external_id="536370")
    assert sorted(line.sku for line in order.lines.all()) == ["22728", "84999"]
