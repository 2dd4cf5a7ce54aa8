"""Export any entity to CSV, XLSX, JSON Lines or Parquet, streaming: rows are read from the database in
chunks and written out as they come (XLSX and Parquet through a temporary file, never a whole sheet in
memory). Text cells that a spreadsheet would run as a formula (= + - @, tab, CR) are neutralised with a
leading apostrophe (OWASP "CSV injection"); numbers are left alone.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import orjson
from django.db.models import Q, QuerySet

from .errors import UnknownEntity

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000


def safe_cell(value):
    """A value as it may go into a spreadsheet cell without being executed."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@dataclass
class Entity:
    name: str
    columns: list[str]
    queryset: Callable[[object], QuerySet]


def _entities() -> dict[str, Entity]:
    from omnishop.catalog.models import Product, Supplier, SupplierOffer, Variant
    from omnishop.customers.models import Customer
    from omnishop.inventory.models import StockLevel
    from omnishop.orders.models import Order, OrderLine, ReturnLine, ReturnRequest

    from .models import ImportJob, QuarantinedRow, StagedTransactionLine

    def staged(principal):
        qs = StagedTransactionLine.objects.all()
        return qs.filter(channel=principal.channel) if principal.kind == "channel" else qs

    def of_channel(qs: QuerySet, path: str) -> Callable[[object], QuerySet]:
        """Staff see every channel's rows; a channel key (should exports ever open to one) its own."""
        return lambda p: qs.filter(**{path: p.channel}) if p.kind == "channel" else qs

    return {
        "orders": Entity(
            "orders",
            [
                "id",
                "number",
                "external_id",
                "channel__code",
                "status",
                "customer_id",
                "email",
                "currency",
                "subtotal",
                "shipping_total",
                "tax_total",
                "fees_total",
                "total",
                "shipping_method_name",
                "created_at",
                "updated_at",
            ],
            of_channel(Order.objects.all(), "channel"),
        ),
        "order_lines": Entity(
            "order_lines",
            [
                "id",
                "order_id",
                "order__number",
                "order__external_id",
                "order__channel__code",
                "variant_id",
                "sku",
                "title",
                "quantity",
                "allocated",
                "fulfilled",
                "returned",
                "cancelled",
                "unit_price",
                "tax_rate",
                "line_net",
                "line_tax",
                "line_total",
                "order__currency",
                "order__created_at",
            ],
            of_channel(OrderLine.objects.all(), "order__channel"),
        ),
        "returns": Entity(
            "returns",
            [
                "id",
                "number",
                "order_id",
                "order__number",
                "order__external_id",
                "order__channel__code",
                "status",
                "refund_to",
                "refund_amount",
                "order__currency",
                "note",
                "created_at",
                "closed_at",
            ],
            of_channel(ReturnRequest.objects.all(), "order__channel"),
        ),
        "return_lines": Entity(
            "return_lines",
            [
                "id",
                "request_id",
                "request__number",
                "request__order__number",
                "order_line_id",
                "order_line__sku",
                "quantity",
                "reason",
                "disposition",
                "request__status",
                "request__created_at",
            ],
            of_channel(ReturnLine.objects.all(), "request__order__channel"),
        ),
        "stock_levels": Entity(
            "stock_levels",
            [
                "id",
                "variant_id",
                "variant__sku",
                "location__code",
                "on_hand",
                "allocated",
                "reserved",
                "reorder_point",
                "oversold",
                "updated_at",
            ],
            of_channel(StockLevel.objects.all(), "location__channel_links__channel"),
        ),
        "products": Entity(
            "products",
            ["id", "title", "slug", "brand", "category__path", "description", "is_active", "updated_at"],
            lambda p: Product.objects.all(),
        ),
        "variants": Entity(
            "variants",
            ["id", "sku", "gtin", "product_id", "product__title", "title", "weight_grams", "is_active"],
            lambda p: Variant.objects.all(),
        ),
        "customers": Entity(
            "customers",
            ["id", "first_name", "last_name", "email", "phone", "merged_into_id", "created_at"],
            lambda p: Customer.objects.all(),
        ),
        "suppliers": Entity(
            "suppliers",
            ["id", "code", "name", "email", "phone", "country", "city", "postcode", "currency"],
            lambda p: Supplier.objects.all(),
        ),
        "supplier_offers": Entity(
            "supplier_offers",
            [
                "id",
                "supplier__code",
                "variant__sku",
                "cost",
                "currency",
                "lead_time_days",
                "min_order_quantity",
                "pack_size",
                "is_preferred",
                "freight_per_unit",
                "duty_percent",
            ],
            lambda p: SupplierOffer.objects.all(),
        ),
        "transaction_lines": Entity(
            "transaction_lines",
            [
                "id",
                "source",
                "document_no",
                "kind",
                "sku",
                "description",
                "quantity",
                "unit_price",
                "line_total",
                "currency",
                "occurred_at",
                "customer_ref",
                "customer_id",
                "country",
                "variant_id",
                "channel_id",
            ],
            staged,
        ),
        "import_jobs": Entity(
            "import_jobs",
            [
                "id",
                "profile",
                "source_name",
                "status",
                "rows_read",
                "imported",
                "updated",
                "unchanged",
                "merged",
                "quarantined",
                "error_code",
                "created_at",
                "started_at",
                "finished_at",
            ],
            lambda p: (
                ImportJob.objects.all()
                if p.kind != "channel"
                else ImportJob.objects.filter(channel=p.channel)
            ),
        ),
        "quarantine": Entity(
            "quarantine",
            ["id", "job_id", "line", "status", "reasons", "raw"],
            lambda p: (
                QuarantinedRow.objects.all()
                if p.kind != "channel"
                else QuarantinedRow.objects.filter(job__channel=p.channel)
            ),
        ),
    }


ENTITY_NAMES = (
    "orders",
    "order_lines",
    "returns",
    "return_lines",
    "stock_levels",
    "products",
    "variants",
    "customers",
    "suppliers",
    "supplier_offers",
    "transaction_lines",
    "import_jobs",
    "quarantine",
)


def entity(name: str) -> Entity:
    found = _entities().get(name)
    if found is None:
        raise UnknownEntity(
            f"Cannot export '{name}'; choose one of {', '.join(ENTITY_NAMES)}.", field="entity"
        )
    return found


def rows_of(qs: QuerySet, columns: list[str]) -> Iterator[tuple]:
    return qs.order_by("pk").values_list(*columns).iterator(chunk_size=CHUNK)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def stream_csv(columns: list[str], rows: Iterator[tuple]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    yield ("\ufeff" + buffer.getvalue()).encode()  # BOM: spreadsheets then read UTF-8 correctly
    for count, row in enumerate(rows, start=1):
        if count % 500 == 1:
            buffer.seek(0)
            buffer.truncate()
        writer.writerow([safe_cell(_text(v)) if isinstance(v, str | dict | list) else _text(v) for v in row])
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def stream_jsonl(columns: list[str], rows: Iterator[tuple]) -> Iterator[bytes]:
    def default(value):
        if isinstance(value, Decimal):
            return str(value)
        raise TypeError

    chunk = []
    for row in rows:
        chunk.append(orjson.dumps(dict(zip(columns, row, strict=True)), default=default))
        if len(chunk) >= 500:
            yield b"\n".join(chunk) + b"\n"
            chunk = []
    if chunk:
        yield b"\n".join(chunk) + b"\n"


def _file_stream(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            while block := handle.read(256 * 1024):
                yield block
    finally:
        os.unlink(path)


def stream_xlsx(columns: list[str], rows: Iterator[tuple]) -> Iterator[bytes]:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("export")
    sheet.append(columns)
    for row in rows:
        sheet.append([_xlsx_value(v) for v in row])
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115
    handle.close()
    workbook.save(handle.name)
    return _file_stream(handle.name)


def _xlsx_value(value):
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no zones: UTC wall time
    if isinstance(value, date | int | float | Decimal | bool) or value is None:
        return value
    return safe_cell(_text(value))


def stream_parquet(columns: list[str], rows: Iterator[tuple]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)  # noqa: SIM115
    handle.close()
    writer = None
    batch: list[tuple] = []

    def flush():
        nonlocal writer
        table = pa.table({c: [_parquet_value(r[i]) for r in batch] for i, c in enumerate(columns)})
        if writer is None:
            writer = pq.ParquetWriter(handle.name, table.schema)
        writer.write_table(table.cast(writer.schema))

    for row in rows:
        batch.append(row)
        if len(batch) >= 10000:
            flush()
            batch = []
    if batch or writer is None:
        flush()
    writer.close()
    return _file_stream(handle.name)


def _parquet_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if value is None or isinstance(value, int | float | bool | datetime | date):
        return value
    return str(value)


def export(*, name: str, fmt: str, principal) -> tuple[Iterator[bytes], str, str]:
    """(body chunks, content type, file name) of an export of `name` in `fmt`."""
    from omnishop.core.errors import ValidationFailed

    if fmt not in FORMATS:
        raise ValidationFailed(f"Format must be one of {', '.join(FORMATS)}.", field="format")
    spec = entity(name)
    rows = rows_of(spec.queryset(principal), spec.columns)
    writer = {"csv": stream_csv, "jsonl": stream_jsonl, "xlsx": stream_xlsx, "parquet": stream_parquet}[fmt]
    return writer(spec.columns, rows), FORMATS[fmt], f"{name}.{fmt}"


def quarantine_file(*, job, fmt: str = "csv") -> tuple[Iterator[bytes], str, str]:
    """A job's open quarantined rows in their original columns plus `_quarantine_id`, `_line` and
    `_reasons`: fix the cells in a spreadsheet and upload the file to the same profile; rows carrying a
    `_quarantine_id` resolve their originals when they import."""
    from omnishop.core.errors import ValidationFailed

    from .models import QuarantinedRow, QuarantineSighting
    from .profiles import get_profile

    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed("Quarantine downloads are csv or xlsx.", field="format")
    seen = QuarantineSighting.objects.filter(job=job).values("row_id")
    qs = (
        QuarantinedRow.objects.filter(Q(job=job) | Q(pk__in=seen))
        .filter(status=QuarantinedRow.Status.OPEN)
        .order_by("line", "pk")
    )
    columns: list[str] = []
    for spec in get_profile(job.profile).fields:
        for column in spec.columns[:1]:
            if column not in columns:
                columns.append(column)
    for raw in qs.values_list("raw", flat=True)[:1000]:
        for key in raw:
            if key not in columns:
                columns.append(key)
    header = ["_quarantine_id", "_line", "_reasons", *columns]

    def rows() -> Iterator[tuple]:
        for pk, line, reasons, raw in qs.values_list("pk", "line", "reasons", "raw").iterator(
            chunk_size=CHUNK
        ):
            why = "; ".join(f"{r.get('field') or '*'}: {r.get('code')}: {r.get('message')}" for r in reasons)
            yield (pk, line, why, *(raw.get(c, "") for c in columns))

    writer = stream_csv if fmt == "csv" else stream_xlsx
    return writer(header, rows()), FORMATS[fmt], f"import-{job.pk}-quarantine.{fmt}"
