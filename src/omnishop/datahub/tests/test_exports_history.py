"""Orders, order lines, returns and stock levels export like every other entity: streamed, in CSV, XLSX,
JSON Lines or Parquet, with cells a spreadsheet would run as a formula neutralised."""

from __future__ import annotations

import csv
import io
import json

import pytest

from omnishop.inventory.services import create_location, receive_stock

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
HISTORY = (
    HEADER
    + '536365,85123A,"=HYPERLINK(""HTTP://EVIL.EXAMPLE"",""CLICK"")",6,2010-12-01 08:26:00,2.55,12583.0,France\n'
    + "536365,22633,HAND WARMER UNION JACK,8,2010-12-01 08:26:00,1.85,12583.0,France\n"
    + "C536403,22633,HAND WARMER UNION JACK,-3,2010-12-03 09:00:00,1.85,12583.0,France\n"
).encode()


def table(staff_api, entity: str) -> list[dict]:
    response = staff_api.get(f"/datahub/exports/{entity}", {"format": "csv"})
    assert response.status_code == 200, response.content
    assert response.streaming  # streamed, never built whole
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_orders_lines_returns_and_stock_levels_are_exported(run_import, retail_channel, staff_api):
    from omnishop.catalog.models import Variant

    run_import("online_retail", HISTORY, channel=retail_channel)
    orders = table(staff_api, "orders")
    assert [(o["external_id"], o["channel__code"], o["total"]) for o in orders] == [
        ("536365", retail_channel.code, "30.1000")
    ]
    lines = {line["sku"]: line for line in table(staff_api, "order_lines")}
    assert set(lines) == {"85123A", "22633"}
    assert lines["85123A"]["title"].startswith("'=HYPERLINK(")  # neutralised: a text cell, not a formula
    assert lines["22633"]["returned"] == "3"
    returns = table(staff_api, "returns")
    assert len(returns) == 1 and returns[0]["order__external_id"] == "536365"
    assert returns[0]["refund_amount"] == "5.5500"
    return_lines = table(staff_api, "return_lines")
    assert [(r["order_line__sku"], r["quantity"]) for r in return_lines] == [("22633", "3")]
    london = create_location(code="london", name="London store", kind="retail_store")
    receive_stock(variant=Variant.objects.get(sku="22633"), location=london, quantity=12)
    stock = table(staff_api, "stock_levels")
    assert [(s["variant__sku"], s["location__code"], s["on_hand"]) for s in stock] == [
        ("22633", "london", "12")
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "xlsx", "parquet"])
def test_order_lines_export_in_every_format_with_formulas_neutralised(
    run_import, retail_channel, staff_api, fmt
):
    run_import("online_retail", HISTORY, channel=retail_channel)
    response = staff_api.get("/datahub/exports/order_lines", {"format": fmt})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    if fmt == "jsonl":
        titles = {json.loads(line)["title"] for line in body.splitlines()}
        assert '=HYPERLINK("HTTP://EVIL.EXAMPLE","CLICK")' in titles  # JSON is data, not a sheet
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        rows = list(load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True))
        title = rows[0].index("title")
        assert {row[title] for row in rows[1:]} >= {'\'=HYPERLINK("HTTP://EVIL.EXAMPLE","CLICK")'}
    else:
        import pyarrow.parquet as pq

        assert sorted(pq.read_table(io.BytesIO(body)).column("sku").to_pylist()) == ["22633", "85123A"]
