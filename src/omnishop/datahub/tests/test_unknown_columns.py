"""A platform adds a column the profile does not know: the import goes on, and the job's quality report
lists the column, so nobody believes its data arrived."""

from __future__ import annotations

import pytest

from .conftest import dataset

pytestmark = pytest.mark.django_db


def test_columns_no_field_reads_are_listed_in_the_quality_report(run_import, retail_channel):
    data = (
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,Gift Wrap,Channel Note\n"
        b"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,France,yes,app\n"
    )
    job = run_import("online_retail", data, channel=retail_channel)
    assert job.imported == 1
    assert job.quality["unknown_columns"] == ["Gift Wrap", "Channel Note"]


def test_a_file_the_profile_reads_whole_has_no_unknown_columns(run_import, retail_channel):
    data = (
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,France\n"
    )
    job = run_import("online_retail", data, channel=retail_channel)
    assert job.quality["unknown_columns"] == []


def test_the_shared_shopify_export_shows_which_of_its_columns_the_profile_leaves_out(
    run_import, retail_channel
):
    job = run_import(
        "shopify_products", dataset("channel_exports", "shopify", "apparel.csv"), channel=retail_channel
    )
    unknown = job.quality["unknown_columns"]
    assert "Handle" not in unknown and "Title" not in unknown
    assert "Google Shopping / AdWords Labels" in unknown  # a column the catalogue has no place for


def test_the_quality_endpoint_shows_unknown_columns_and_repaired_rows(run_import, retail_channel, staff_api):
    data = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,Gift Wrap\n"
        "536365,85123A,CAFÃ‰ MUG,6,2010-12-01 08:26:00,2.55,17850.0,France,yes\n"
    ).encode()
    job = run_import("online_retail", data, channel=retail_channel)
    quality = staff_api.get(f"/datahub/imports/{job.pk}/quality").json()
    assert quality["unknown_columns"] == ["Gift Wrap"]
    assert quality["mojibake_repaired"]["rows"] == 1
    assert quality["mojibake_repaired"]["examples"][0]["repaired"] == "CAFÉ MUG"
