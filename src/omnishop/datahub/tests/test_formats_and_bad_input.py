"""Every supported format reads the same customers file; hostile or broken files fail clearly (on the job
or per row) without losing what was already imported."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from omnishop.customers.models import Customer
from omnishop.datahub.models import ImportJob
from omnishop.datahub.readers import detect_encoding, open_source

pytestmark = pytest.mark.django_db

ROWS = [
    {
        "customer_id": "C1",
        "email": "ANA@Example.COM",
        "first_name": "Ana",
        "last_name": "Silva",
        "country": "Brazil",
    },
    {"customer_id": "C2", "email": "li@example.cn", "first_name": "李", "last_name": "雷", "country": "CN"},
    {
        "customer_id": "C3",
        "email": "zoe@example.fr",
        "first_name": "Zoé",
        "last_name": "Faure",
        "country": "FRA",
    },
]
COLUMNS = list(ROWS[0])


def as_csv(rows=ROWS, delimiter=",") -> str:
    lines = [delimiter.join(COLUMNS)] + [delimiter.join(r[c] for c in COLUMNS) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def as_xlsx() -> bytes:
    workbook = Workbook()
    workbook.active.append(COLUMNS)
    for row in ROWS:
        workbook.active.append([row[c] for c in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def as_parquet() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), buffer)
    return buffer.getvalue()


def as_xml() -> bytes:
    items = "".join(
        "<customer>" + "".join(f"<{c}>{r[c]}</{c}>" for c in COLUMNS) + "</customer>" for r in ROWS
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><customers>{items}</customers>'.encode()


def as_fixed_width() -> bytes:
    return "".join(f"{r['customer_id']:<4}{r['email']:<20}\n" for r in ROWS).encode()


FORMATS = {
    "utf8.csv": lambda: as_csv().encode(),
    "bom.csv": lambda: b"\xef\xbb\xbf" + as_csv().encode(),
    "semicolon.csv": lambda: as_csv(delimiter=";").encode(),
    "tabs.tsv": lambda: as_csv(delimiter="\t").encode(),
    "customers.json": lambda: json.dumps(ROWS, ensure_ascii=False).encode(),
    "customers.jsonl": lambda: "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode(),
    "customers.xlsx": as_xlsx,
    "customers.parquet": as_parquet,
    "customers.xml": as_xml,
    "customers.csv.gz": lambda: gzip.compress(as_csv().encode()),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_imports_the_same_three_customers(run_import, retail_channel, name):
    job = run_import("customers", FORMATS[name](), name=name, channel=retail_channel)
    assert job.status == ImportJob.Status.SUCCEEDED, job.error_message
    assert (job.rows_read, job.imported) == (3, 3)
    assert sorted(Customer.objects.values_list("email", flat=True)) == [
        "ana@example.com",
        "li@example.cn",
        "zoe@example.fr",
    ]


def test_a_zip_with_one_csv_inside_is_read_transparently(run_import, retail_channel):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/customers.csv", as_csv())
    job = run_import("customers", buffer.getvalue(), name="customers.zip", channel=retail_channel)
    assert (job.status, job.imported) == (ImportJob.Status.SUCCEEDED, 3)


def test_chinese_gb18030_and_latin1_exports_are_decoded(run_import, retail_channel):
    chinese = as_csv().encode("gb18030")
    assert detect_encoding(chinese) == "gb18030"
    job = run_import("customers", chinese, name="gbk.csv", channel=retail_channel)
    assert job.encoding == "gb18030" and job.imported == 3
    assert Customer.objects.get(email="li@example.cn").first_name == "李"
    latin = as_csv().replace("C2,li@example.cn,李,雷", "C9,lea@example.de,Léa,Müller").encode("latin-1")
    assert detect_encoding(latin) == "cp1252"
    job = run_import("customers", latin, name="latin.csv", channel=retail_channel)
    assert (job.encoding, job.imported, job.unchanged) == ("cp1252", 1, 2)
    assert Customer.objects.get(email="lea@example.de").last_name == "Müller"


def test_a_wrong_declared_encoding_quarantines_the_undecodable_rows(run_import, retail_channel, monkeypatch):
    # UTF-8 for the part the detector samples, then one Latin-1 row further in.
    monkeypatch.setattr("omnishop.datahub.readers.SAMPLE_BYTES", 256)
    good = as_csv().encode() + b"".join(
        f"X{i},x{i}@example.com,Name{i},Last,GB\r\n".encode() for i in range(8)
    )
    assert len(good) > 256
    bad = "C9,bad@example.com,Zoé,Bad,FR\r\n".encode("latin-1")
    job = run_import("customers", good + bad, name="mixed.csv", channel=retail_channel)
    assert (job.status, job.encoding) == (ImportJob.Status.SUCCEEDED, "utf-8")
    assert job.imported == 11 and job.quarantined == 1
    assert job.quarantined_rows.get().reasons[0]["code"] == "bad_encoding"


def test_binary_garbage_fails_the_job_with_a_clear_code(run_import, retail_channel):
    job = run_import("customers", bytes(range(256)) * 50, name="garbage.csv", channel=retail_channel)
    assert job.status == ImportJob.Status.FAILED
    assert job.error_code == "binary_file"
    assert job.rows_read == 0


def test_a_zip_bomb_is_refused_past_the_size_limit(run_import, retail_channel, settings):
    settings.OMNISHOP_DATAHUB_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("customers.csv", as_csv() + "C4," + "a" * (20 * 1024 * 1024) + ",x,y,GB\r\n")
    assert len(bomb.getvalue()) < 100_000
    job = run_import("customers", bomb.getvalue(), name="bomb.zip", channel=retail_channel)
    assert (job.status, job.error_code) == (ImportJob.Status.FAILED, "archive_too_large")
    gz = gzip.compress(b"customer_id,email\r\n" + b"0" * (5 * 1024 * 1024))
    job = run_import("customers", gz, name="bomb.csv.gz", channel=retail_channel)
    assert (job.status, job.error_code) == (ImportJob.Status.FAILED, "archive_too_large")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE customers [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<customers><customer><customer_id>C1</customer_id><email>&secret;</email></customer></customers>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<customers><customer><email>&lol2;</email></customer></customers>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["external-entity", "billion-laughs"])
def test_xml_with_entities_or_a_dtd_is_refused(run_import, retail_channel, payload):
    job = run_import("customers", payload, name="customers.xml", channel=retail_channel)
    assert (job.status, job.error_code) == (ImportJob.Status.FAILED, "unsafe_xml")
    assert not Customer.objects.exists()


def test_a_required_column_missing_from_the_file_fails_before_importing_anything(run_import, retail_channel):
    data = b"Title,Vendor\r\nShirt,acme\r\n"
    job = run_import("shopify_products", data, name="products.csv", channel=retail_channel)
    assert (job.status, job.error_code) == (ImportJob.Status.FAILED, "missing_columns")
    assert job.error_message.endswith("requires: Handle.")
    assert job.rows_read == 0


def test_a_missing_optional_column_is_reported_in_the_quality_report(run_import, retail_channel):
    job = run_import("customers", b"email\r\nsam@example.com\r\n", name="c.csv", channel=retail_channel)
    assert job.imported == 1
    assert "phone or Phone or telephone or Telephone or mobile" in job.quality["missing_optional_columns"]


def test_a_row_with_ten_thousand_columns_is_quarantined_and_the_rest_imports(run_import, retail_channel):
    wide = ",".join(["x"] * 10_000)
    data = as_csv() + wide + "\r\n" + "C5,five@example.com,Five,Row,GB\r\n"
    job = run_import("customers", data.encode(), name="wide.csv", channel=retail_channel)
    assert (job.imported, job.quarantined) == (4, 1)
    row = job.quarantined_rows.get()
    assert row.reasons[0]["code"] == "too_many_columns" and row.line == 5
    assert len(json.dumps(row.raw)) < 5000  # the raw kept is bounded


def test_a_truncated_csv_keeps_every_complete_row_and_quarantines_the_cut_one(run_import, retail_channel):
    data = as_csv() + 'C6,"six@example.com'
    job = run_import("customers", data.encode(), name="cut.csv", channel=retail_channel)
    assert job.imported == 3 and job.quarantined == 1
    assert job.quarantined_rows.get().reasons[0]["code"] == "wrong_column_count"


def test_a_truncated_json_array_fails_after_the_elements_it_could_read(run_import, retail_channel, settings):
    settings.OMNISHOP_DATAHUB_BATCH_SIZE = 1
    text = json.dumps(ROWS)[:-40]
    job = run_import("customers", text.encode(), name="cut.json", channel=retail_channel)
    assert (job.status, job.error_code) == (ImportJob.Status.FAILED, "truncated_file")
    assert job.imported == 2


def test_a_malformed_json_line_is_quarantined(run_import, retail_channel):
    lines = [json.dumps(r) for r in ROWS] + ['{"customer_id": "C7", "email": ']
    job = run_import("customers", "\n".join(lines).encode(), name="c.jsonl", channel=retail_channel)
    assert (job.imported, job.quarantined) == (3, 1)
    assert job.quarantined_rows.get().reasons[0]["code"] == "malformed_json"


def test_fixed_width_columns_are_cut_at_their_positions(tmp_path):
    path = tmp_path / "feed.fwf"
    path.write_bytes(as_fixed_width())
    options = {
        "header": False,
        "columns": [{"name": "id", "start": 0, "end": 4}, {"name": "email", "start": 4}],
    }
    with open_source(path, options=options) as source:
        rows = [r.values for r in source.rows]
    assert rows[1] == {"id": "C2  ", "email": "li@example.cn       "}


def test_a_file_larger_than_the_upload_limit_is_refused(datahub_dirs, settings):
    from omnishop.datahub import services
    from omnishop.datahub.errors import FileTooLarge

    settings.OMNISHOP_DATAHUB_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(FileTooLarge):
        services.start_import(profile="customers", stream=io.BytesIO(b"x" * 5000), filename="big.csv")
    assert not list((datahub_dirs / "uploads").iterdir())


def test_a_finished_import_is_announced_once_with_its_counts(run_import, retail_channel):
    from omnishop.core.models import OutboxEvent

    job = run_import("customers", FORMATS["utf8.csv"](), name="utf8.csv", channel=retail_channel)
    (event,) = OutboxEvent.objects.filter(type="import.finished")
    assert event.channel == retail_channel.code
    assert event.payload["job_id"] == job.pk and event.payload["status"] == "succeeded"
    assert (event.payload["rows_read"], event.payload["imported"]) == (3, 3)


def test_an_import_is_handed_to_the_worker_only_after_its_job_row_commits(
    datahub_dirs, web_channel, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # With a broker (a worker in another process) the job must be sent after its row commits, or the worker
    # may look for a job it cannot see yet. Sending is recorded instead of reaching a broker.
    from django.db import transaction

    from omnishop.datahub import services, tasks

    sent_ids = []
    monkeypatch.setattr(tasks.run_import_job, "delay", sent_ids.append)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        job = services.start_import(
            profile="customers", stream=io.BytesIO(as_csv().encode()), filename="c.csv", channel=web_channel
        )
        services.enqueue_import(job=job)
        assert sent_ids == []  # still inside the transaction: nothing handed over yet
    assert sent_ids == [job.pk]
