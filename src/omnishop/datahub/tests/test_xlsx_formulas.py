"""XLSX formula cells: a formula saved with its value reads as the value; one saved without (a workbook
written by a script and never opened in a spreadsheet) is quarantined as `formula_without_value` with the
formula shown, instead of reading as an empty cell."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook

from omnishop.datahub.models import QuarantinedRow, StagedTransactionLine

pytestmark = pytest.mark.django_db

HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


def workbook(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_saved_value(data: bytes, cell: str, value: str) -> bytes:
    """What a spreadsheet does on save: the formula of `cell` keeps its computed value next to it."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(
                    rf'(<c r="{cell}"[^>]*>\s*<f>[^<]*</f>)\s*(<v\s*/>|<v></v>)?'.encode(),
                    rb"\1<v>" + value.encode() + b"</v>",
                    content,
                )
            target.writestr(item, content)
    return out.getvalue()


def test_a_formula_without_a_saved_value_is_quarantined_with_the_formula_shown(run_import, retail_channel):
    at = datetime(2010, 12, 1, 8, 26)
    data = workbook(
        [
            ["536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, at, 2.55, 17850, "United Kingdom"],
            ["536365", "71053", "WHITE METAL LANTERN", 6, at, "=F2+0.84", 17850, "United Kingdom"],
            ["536365", "22752", "SET 7 BABUSHKA NESTING BOXES", 2, at, "=F2*3", 17850, "United Kingdom"],
        ]
    )
    data = with_saved_value(data, "F4", "7.65")
    job = run_import("online_retail", data, name="sales.xlsx", channel=retail_channel)
    assert (job.rows_read, job.imported, job.quarantined) == (3, 2, 1)
    row = QuarantinedRow.objects.get(job=job)
    assert row.line == 3 and row.raw["UnitPrice"] == "=F2+0.84"
    reason = row.reasons[0]
    assert (reason["field"], reason["code"]) == ("UnitPrice", "formula_without_value")
    assert "=F2+0.84" in reason["message"] and "F3" in reason["message"]
    # The formula that was saved with its value reads as that value.
    saved = StagedTransactionLine.objects.get(sku="22752")
    assert str(saved.unit_price.normalize()) == "7.65"


def test_a_formula_in_a_column_the_profile_does_not_read_does_not_stop_the_row(run_import, retail_channel):
    at = datetime(2010, 12, 1, 8, 26)
    book = Workbook()
    sheet = book.active
    sheet.append([*HEADER, "Check"])
    sheet.append(
        ["536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, at, 2.55, 17850, "France", "=D2*F2"]
    )
    out = io.BytesIO()
    book.save(out)
    job = run_import("online_retail", out.getvalue(), name="sales.xlsx", channel=retail_channel)
    assert (job.imported, job.quarantined) == (1, 0)
