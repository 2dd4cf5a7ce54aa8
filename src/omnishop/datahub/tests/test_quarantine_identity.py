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
