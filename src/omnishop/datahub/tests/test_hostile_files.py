"""Hostile files cannot exhaust the machine: every limit holds while the file streams (issue 15, defect 5).

Two kinds of test. The first kind lowers a limit and checks that the file stops with a clear code at that
limit and that honest files of the same format still read. The second kind runs the reader in a child
process over a file built to take gigabytes if it were read naively (a 512 MiB line, cell, element or
member, each a few hundred kilobytes compressed) with the default limits, and measures the child's peak
resident memory: at most 300 MB whatever the input. Before this change the zipped CSV line alone took
over 1 GB (and, at 2 GiB, 4.4 GB and 47 s).
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection
from openpyxl import Workbook

from omnishop.customers.models import Customer
from omnishop.datahub.errors import LineTooLong, MalformedFile, RecordTooLarge
from omnishop.datahub.models import ImportJob
from omnishop.datahub.readers import open_source

from .test_formats_and_bad_input import COLUMNS, ROWS, as_csv, as_xlsx

MiB = 1024**2
HUGE = 512 * MiB  # what each hostile file expands to
PEAK_MB = 300


def read_all(path: Path, **kwargs) -> list:
    with open_source(path, **kwargs) as source:
        return list(source.rows)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- limits, lowered, with their codes ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "fixed_width"])
def test_a_line_longer_than_the_limit_stops_reading_there(tmp_path, settings, fmt):
    settings.OMNISHOP_DATAHUB_MAX_LINE_BYTES = 1000
    line = {"csv": "C9," + "a" * 5000, "jsonl": json.dumps({"a": "x" * 5000}), "fixed_width": "x" * 5000}[fmt]
    good = {"csv": as_csv(), "jsonl": json.dumps({"a": 1}) + "\n", "fixed_width": "name\nAna\n"}[fmt]
    options = {"columns": [{"name": "name", "start": 0, "end": 10}]} if fmt == "fixed_width" else {}
    path = write(tmp_path, f"f.{fmt}", (good + line + "\n" + good).encode())
    with pytest.raises(LineTooLong) as caught:
        read_all(path, format=fmt, options=options)
    assert caught.value.code == "line_too_long"
    assert caught.value.details["limit"] == 1000
    # a line of exactly the limit is read
    exact = write(tmp_path, f"exact.{fmt}", (good + line[:1000] + "\n").encode())
    assert read_all(exact, format=fmt, options=options)


def test_an_import_with_an_endless_line_fails_with_a_clear_code_and_keeps_its_accounts(
    run_import, retail_channel, settings
):
    settings.OMNISHOP_DATAHUB_MAX_LINE_BYTES = 4096
    data = as_csv() + "C4,x@example.com," + "a" * 20_000 + ",y,GB\r\n"
    job = run_import("customers", data.encode(), name="long.csv", channel=retail_channel)
    assert (job.status, job.error_code) == (ImportJob.Status.FAILED, "line_too_long")
    assert "Line 5 is longer than 4096 characters" in job.error_message
    assert not Customer.objects.filter(email="x@example.com").exists()


def test_an_xml_text_longer_than_the_cell_limit_stops_reading(tmp_path, settings):
    settings.OMNISHOP_DATAHUB_MAX_CELL_BYTES = 10_000
    ok = "<customer><email>a@b.c</email></customer>"
    path = write(tmp_path, "c.xml", f"<c>{ok}<customer><email>{'x' * 50_000}</email></customer></c>".encode())
    with pytest.raises(RecordTooLarge, match="longer than 10000 bytes"):
        read_all(path)
    attribute = write(tmp_path, "a.xml", f'<c>{ok}<customer note="{"y" * 50_000}"/></c>'.encode())
    with pytest.raises(RecordTooLarge):
        read_all(attribute)
    fine = write(tmp_path, "fine.xml", f"<c>{ok * 500}</c>".encode())  # long file, short runs
    assert len(read_all(fine)) == 500


def test_an_xml_record_too_large_or_with_too_many_elements_stops_reading(tmp_path, settings):
    settings.OMNISHOP_DATAHUB_MAX_XML_RECORD_BYTES = 64 * 1024
    many = "".join(f"<tag>t{i}</tag>" for i in range(20_000))
    path = write(tmp_path, "big.xml", f"<c><r><id>1</id></r><r>{many}</r></c>".encode())
    with pytest.raises(RecordTooLarge, match="larger than 65536 bytes"):
        read_all(path)
    settings.OMNISHOP_DATAHUB_MAX_XML_RECORD_BYTES = 32 * MiB
    settings.OMNISHOP_DATAHUB_MAX_XML_RECORD_ELEMENTS = 1000
    with pytest.raises(RecordTooLarge, match="more than 1000 elements"):
        read_all(path)
    # the limits are per record: many small records read
    records = "".join(f"<r><id>{i}</id><v>{i}</v></r>" for i in range(5000))
    assert len(read_all(write(tmp_path, "ok.xml", f"<c>{records}</c>".encode()))) == 5000


def test_an_xml_reader_keeps_no_record_it_has_read(tmp_path):
    # Records nested below the root (WXR: rss > channel > item) are dropped from their parent once read,
    # and so is anything outside every record: the tree holds only the open elements.
    items = "".join(f"<item><id>{i}</id></item><junk>{i}</junk>" for i in range(300))
    path = write(tmp_path, "nested.xml", f"<rss><channel><title>t</title>{items}</channel></rss>".encode())
    with open_source(path, options={"record_tag": "item"}) as source:
        seen = []
        for row in source.rows:
            seen.append(row.values["id"])
    assert seen == [str(i) for i in range(300)]


def test_a_zip_member_named_xlsx_that_is_no_workbook_is_not_unpacked(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/customers.xlsx", b"\0" * (8 * MiB))
    path = write(tmp_path, "customers.zip", buffer.getvalue())
    before = set(Path(__import__("tempfile").gettempdir()).glob("datahub-*"))
    with pytest.raises(MalformedFile, match="not an XLSX workbook"):
        read_all(path)
    assert set(Path(__import__("tempfile").gettempdir()).glob("datahub-*")) == before


def test_a_workbook_inside_an_archive_is_copied_out_only_up_to_its_cap(tmp_path, settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("customers.xlsx", as_xlsx())
    path = write(tmp_path, "customers.zip", buffer.getvalue())
    assert [r.values["email"] for r in read_all(path)] == [r["email"] for r in ROWS]
    settings.OMNISHOP_DATAHUB_MAX_MATERIALISED_BYTES = 1024
    with pytest.raises(Exception) as caught:
        read_all(path)
    assert caught.value.code == "archive_too_large"


def xlsx_with(cell: str) -> bytes:
    workbook = Workbook()
    workbook.active.append(COLUMNS)
    workbook.active.append(["C1", cell, "Ana", "Silva", "BR"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_cell_or_part_beyond_its_limit_stops_before_openpyxl_reads_it(tmp_path, settings):
    settings.OMNISHOP_DATAHUB_MAX_CELL_BYTES = 10_000
    path = write(tmp_path, "big-cell.xlsx", xlsx_with("x" * 20_000))  # a cell holds at most 32,767
    with pytest.raises(RecordTooLarge, match="a cell is longer than 10000 bytes"):
        read_all(path)
    settings.OMNISHOP_DATAHUB_MAX_CELL_BYTES = 16 * MiB
    settings.OMNISHOP_DATAHUB_MAX_XLSX_PART_BYTES = 5000  # the theme openpyxl writes has 10,140 bytes
    with pytest.raises(RecordTooLarge, match=r"theme1\.xml expands to"):
        read_all(path)
    settings.OMNISHOP_DATAHUB_MAX_XLSX_PART_BYTES = 32 * MiB
    assert read_all(path)[0].values["email"] == "x" * 20_000


def test_a_parquet_file_is_read_in_batches_bounded_in_bytes(tmp_path, settings):
    path = tmp_path / "wide.parquet"
    rows = [{**ROWS[0], "customer_id": f"C{i}", "note": f"{i:05d}" * 400} for i in range(300)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=300, compression="zstd")
    settings.OMNISHOP_DATAHUB_MAX_BATCH_BYTES = 1000  # less than one row averages
    with pytest.raises(RecordTooLarge, match=r"hold \d+ bytes each"):
        read_all(path)
    settings.OMNISHOP_DATAHUB_MAX_BATCH_BYTES = 50_000  # about 20 rows a batch
    assert len(read_all(path)) == 300


# --- peak memory on files built to exhaust it ------------------------------------------------------------

CHILD = """
import json, os, resource, sys
import django
django.setup()
from omnishop.datahub.errors import SourceError
from omnishop.datahub.readers import open_source
resource.setrlimit(resource.RLIMIT_AS, (4 * 1024**3, 4 * 1024**3))  # a regression fails, not the machine
path, fmt, options = sys.argv[1], sys.argv[2] or None, json.loads(sys.argv[3])
code, rows = "read", 0
try:
    with open_source(path, format=fmt, options=options) as source:
        for _ in source.rows:
            rows += 1
except SourceError as exc:
    code = exc.code
except MemoryError:
    code = "memory_error"
# VmHWM: this process's own peak. (ru_maxrss would also count the parent's memory copied at fork, which a
# long test session makes large: Linux carries the high-water mark across exec.)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(json.dumps({"code": code, "rows": rows, "peak_mb": round(peak)}))
"""


def stream_into(handle, head: bytes, fill: bytes, size: int, tail: bytes) -> None:
    handle.write(head)
    chunk = fill * (MiB // len(fill))
    for _ in range(size // len(chunk)):
        handle.write(chunk)
    handle.write(tail)


def hostile_gz(path: Path, head: bytes, fill: bytes, tail: bytes = b"\n") -> Path:
    with gzip.open(path, "wb", compresslevel=1) as handle:
        stream_into(handle, head, fill, HUGE, tail)
    return path


def hostile_zip(path: Path, member: str, head: bytes, fill: bytes, tail: bytes = b"\n") -> Path:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(member, "w", force_zip64=True) as handle,
    ):
        stream_into(handle, head, fill, HUGE, tail)
    return path


SST = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t></t></si></sst>'


def hostile_xlsx(path: Path, *, shared_strings: bool) -> Path:
    """A real workbook whose sheet (or a shared-strings table, which openpyxl reads whole) holds one
    512 MiB cell."""
    with zipfile.ZipFile(io.BytesIO(xlsx_with("x")), "r") as honest:
        parts = {name: honest.read(name) for name in honest.namelist()}
    if shared_strings:
        parts["xl/sharedStrings.xml"] = SST
    target = (
        "xl/sharedStrings.xml" if shared_strings else next(n for n in parts if n.startswith("xl/worksheets/"))
    )
    text = parts[target]
    cut = text.index(b"<t>" if shared_strings else b"<sheetData>") + (3 if shared_strings else 11)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in parts.items():
            if name != target:
                archive.writestr(name, data)
        with archive.open(target, "w", force_zip64=True) as handle:
            if shared_strings:
                stream_into(handle, text[:cut], b"x", HUGE, text[cut:])
            else:
                stream_into(
                    handle,
                    text[:cut] + b'<row r="1"><c r="A1" t="inlineStr"><is><t>',
                    b"y",
                    HUGE,
                    b"</t></is></c></row>" + text[cut:],
                )
    return path


CASES = {
    # name: (build(tmp) -> path, format, options, the code it must stop with)
    "csv in a zip, one 512 MiB line": (
        lambda d: hostile_zip(d / "line.zip", "line.csv", b"customer_id,email\r\nC1,", b"a"),
        None,
        {},
        "line_too_long",
    ),
    "csv gzipped, one 512 MiB quoted field over many lines": (
        lambda d: hostile_gz(d / "field.csv.gz", b'customer_id,email\r\nC1,"', b"a" * 65535 + b"\n"),
        None,
        {},
        "read",
    ),
    "jsonl gzipped, one 512 MiB line": (
        lambda d: hostile_gz(d / "line.jsonl.gz", b'{"a": "', b"x"),
        None,
        {},
        "line_too_long",
    ),
    "json gzipped, one 512 MiB element": (
        lambda d: hostile_gz(d / "el.json.gz", b'[{"a": "', b"x", b'"}]'),
        None,
        {},
        "malformed_file",
    ),
    "fixed width gzipped, one 512 MiB line": (
        lambda d: hostile_gz(d / "fw.dat.gz", b"name\n", b"x"),
        "fixed_width",
        {"columns": [{"name": "name", "start": 0, "end": 10}]},
        "line_too_long",
    ),
    "xml gzipped, one 512 MiB text": (
        lambda d: hostile_gz(d / "text.xml.gz", b"<c><r><v>", b"x", b"</v></r></c>"),
        None,
        {},
        "record_too_large",
    ),
    "xml gzipped, one record of 512 MiB of elements": (
        lambda d: hostile_gz(d / "elements.xml.gz", b"<c><r>", b"<e/>", b"</r></c>"),
        None,
        {},
        "record_too_large",
    ),
    "a zip member named .xlsx of 512 MiB of zeros": (
        lambda d: hostile_zip(d / "zeros.zip", "book.xlsx", b"", b"\0", b""),
        None,
        {},
        "malformed_file",
    ),
    "xlsx, one 512 MiB inline cell in the sheet": (
        lambda d: hostile_xlsx(d / "cell.xlsx", shared_strings=False),
        None,
        {},
        "record_too_large",
    ),
    "xlsx, one 512 MiB shared string": (
        lambda d: hostile_xlsx(d / "shared.xlsx", shared_strings=True),
        None,
        {},
        "record_too_large",
    ),
}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="readers only: no database involved, run once")
@pytest.mark.parametrize("case", list(CASES))
def test_memory_stays_bounded_whatever_the_file(case, tmp_path):
    build, fmt, options, code = CASES[case]
    path = build(tmp_path)
    assert path.stat().st_size < 8 * MiB  # small to upload
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), fmt or "", json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == code, result
    assert result["peak_mb"] <= PEAK_MB, result
