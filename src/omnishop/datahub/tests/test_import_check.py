"""`omnishop import check PROFILE FILE`: a dry run that shows how the first rows map, which columns the
profile does not read and which rows would be quarantined and why — and writes nothing (every table of
every app counted before and after)."""

from __future__ import annotations

import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,Gift Wrap\n"
FILE = (
    HEADER
    + "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,France,yes\n"
    + "536365,71053,WHITE METAL LANTERN,0,2010-12-01 08:26:00,3.39,17850.0,France,no\n"  # zero units
    + "536366,22633,HAND WARMER UNION JACK,12,2010-12-02 09:00:00,abc,,France,no\n"  # unreadable price
    + "536367,84999,check,3,2010-12-02 10:00:00,0,17850.0,France,\n"  # no product will ever come for it
)


def table_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def check(path, *args) -> dict:
    out = io.StringIO()
    call_command(
        "import", "check", "online_retail", str(path), "--channel", "retail", "--json", *args, stdout=out
    )
    return json.loads(out.getvalue())


def test_check_shows_the_mapping_unknown_columns_and_rows_that_would_be_quarantined_and_writes_nothing(
    datahub_dirs, retail_channel
):
    path = datahub_dirs / "sales.csv"
    path.write_bytes(FILE.encode())
    before = table_counts()
    report = check(path)
    assert table_counts() == before  # not a job, not a line, not a product, not a customer
    assert (report["format"], report["encoding"], report["rows_checked"]) == ("csv", "utf-8", 4)
    assert report["unknown_columns"] == ["Gift Wrap"]
    first = report["first_rows"][0]
    mapped = {entry["field"]: entry for entry in first["fields"]}
    assert mapped["document_no"]["column"] == "InvoiceNo" and mapped["document_no"]["value"] == "536365"
    assert mapped["customer_ref"]["read"] == "17850.0" and mapped["customer_ref"]["value"] == "17850"
    assert mapped["unit_price"]["value"] == "2.55"
    assert report["first_rows"][2]["reasons"][0]["field"] == "unit_price"
    assert report["would"] == {"imported": 1, "updated": 0, "unchanged": 0, "merged": 0, "quarantined": 3}
    why = [(entry["line"], entry["reasons"][0]["code"]) for entry in report["quarantined"]]
    assert why == [(0, "unknown_product"), (3, "zero_quantity"), (4, "invalid_number")]
    assert "84999" in report["quarantined"][0]["reasons"][0]["message"]  # found at the end of the run


def test_check_says_which_rows_are_already_in_quarantine(run_import, datahub_dirs, retail_channel):
    job = run_import("online_retail", FILE.encode(), channel=retail_channel)
    path = datahub_dirs / "again.csv"
    path.write_bytes(FILE.encode())
    before = table_counts()
    report = check(path)
    assert table_counts() == before
    waiting = {entry["line"]: entry["already_in_quarantine"] for entry in report["quarantined"]}
    assert set(job.quarantined_rows.filter(line__in=[3, 4]).values_list("pk", flat=True)) == {
        waiting[3],
        waiting[4],
    }
    assert report["would"]["unchanged"] == 2  # the good line, and the note line staged the first time


def test_check_prints_a_readable_report_and_stops_at_the_limit(
    datahub_dirs, retail_channel, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "300")
    path = datahub_dirs / "sales.csv"
    path.write_bytes(FILE.encode())
    call_command("import", "check", "online_retail", str(path), "--channel", "retail", "--limit", "2")
    text = capsys.readouterr().out
    assert "nothing was written" in text and "stopped at --limit" in text
    assert "Gift Wrap" in text and "zero_quantity" in text and "InvoiceNo" in text
    with pytest.raises(CommandError, match="Usage"):
        call_command("import", "check", "online_retail")


def test_check_reports_a_file_the_profile_cannot_read(datahub_dirs, retail_channel):
    path = datahub_dirs / "other.csv"
    path.write_bytes(b"order,item\n1,2\n")
    before = table_counts()
    report = check(path)
    assert report["error"]["code"] == "missing_columns" and table_counts() == before


def test_check_of_the_shared_shopify_export_predicts_its_import(datahub_dirs, retail_channel, run_import):
    from .conftest import dataset

    path = dataset("channel_exports", "shopify", "apparel.csv")
    before = table_counts()
    out = io.StringIO()
    call_command(
        "import", "check", "shopify_products", str(path), "--channel", "retail", "--json", stdout=out
    )
    report = json.loads(out.getvalue())
    assert table_counts() == before
    assert report["would"]["imported"] == 22 and report["quarantined"] == []
    assert "Google Shopping / AdWords Labels" in report["unknown_columns"]
    handle = {e["field"]: e for e in report["first_rows"][0]["fields"]}["product_key"]
    assert handle["column"] == "Handle" and handle["value"]
    job = run_import("shopify_products", path, channel=retail_channel)  # and the real import agrees
    assert (job.imported, job.quarantined) == (22, 0)
