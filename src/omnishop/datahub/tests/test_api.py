"""The data hub over HTTP: upload, follow, quality, quarantine fix-and-resubmit, exports, and who may see
what (channel keys see their own channel's jobs only; staff by permission)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from omnishop.customers.models import Customer
from omnishop.datahub.models import ImportJob, QuarantinedRow

pytestmark = pytest.mark.django_db

CUSTOMERS = (
    "id,email,first_name,last_name\r\n"
    "K1,kai@example.com,Kai,Ng\r\n"
    "K2,not-an-email,Bad,Mail\r\n"
    "K3,=cmd|' /C calc'!A0@example.com,Evil,Formula\r\n"
)


def upload(
    client: Client, headers: dict, data: bytes, profile: str = "customers", name: str = "c.csv", **fields
):
    return client.post(
        "/api/v1/datahub/imports",
        {"profile": profile, "file": _file(data, name), **fields},
        headers=headers,
    )


def _file(data: bytes, name: str):
    handle = io.BytesIO(data)
    handle.name = name
    return handle


@pytest.fixture
def key_headers(web_channel, make_key):
    return {"Authorization": f"Bearer {make_key(web_channel, scopes=['imports:write'])}"}


def test_a_channel_uploads_a_file_and_follows_the_job(datahub_dirs, key_headers):
    client = Client()
    response = upload(client, key_headers, CUSTOMERS.encode())
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "succeeded" and job["channel"] == "web"  # eager without Redis
    assert (job["rows_read"], job["imported"], job["quarantined"]) == (3, 1, 2)
    assert job["created_by"].startswith("api key ")
    followed = client.get(f"/api/v1/datahub/imports/{job['id']}", headers=key_headers).json()
    assert followed["finished_at"] and followed["duration_seconds"] is not None
    quality = client.get(f"/api/v1/datahub/imports/{job['id']}/quality", headers=key_headers).json()
    assert quality["counts"]["quarantined"] == 2
    assert {r["reason"] for r in quality["rejects_by_reason"]} == {"email:invalid_email"}
    assert quality["completeness"]["first_name"] == 1.0


def test_quarantined_rows_are_listed_downloaded_fixed_and_resubmitted(datahub_dirs, key_headers):
    client = Client()
    job = upload(client, key_headers, CUSTOMERS.encode()).json()
    page = client.get(f"/api/v1/datahub/imports/{job['id']}/quarantine", headers=key_headers).json()
    assert [row["line"] for row in page["items"]] == [3, 4]
    assert page["items"][0]["raw"]["email"] == "not-an-email"
    assert page["items"][0]["reasons"][0] == {
        "field": "email",
        "code": "invalid_email",
        "message": page["items"][0]["reasons"][0]["message"],
    }
    download = client.get(f"/api/v1/datahub/imports/{job['id']}/quarantine/download", headers=key_headers)
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert [r["_line"] for r in table] == ["3", "4"]
    assert table[1]["email"].startswith("'=cmd")  # a formula in a cell is neutralised on the way out
    row_id = page["items"][0]["id"]
    fixed = client.post(
        f"/api/v1/datahub/quarantine/{row_id}/resubmit",
        json.dumps({"values": {"email": "bad.mail@example.com"}}),
        content_type="application/json",
        headers=key_headers,
    )
    assert fixed.status_code == 200, fixed.content
    assert fixed.json()["row"]["status"] == "resolved" and fixed.json()["job"]["imported"] == 1
    assert Customer.objects.filter(email="bad.mail@example.com").exists()
    again = client.post(
        f"/api/v1/datahub/quarantine/{row_id}/resubmit",
        "{}",
        content_type="application/json",
        headers=key_headers,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "quarantine_row_closed"


def test_a_downloaded_quarantine_file_fixed_in_a_spreadsheet_can_be_uploaded_again(datahub_dirs, key_headers):
    client = Client()
    job = upload(client, key_headers, CUSTOMERS.encode()).json()
    download = client.get(f"/api/v1/datahub/imports/{job['id']}/quarantine/download", headers=key_headers)
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    text = text.replace("not-an-email", "bad@example.com").replace(
        "'=cmd|' /C calc'!A0@example.com", "evil@example.com"
    )
    second = upload(client, key_headers, text.encode(), name="fixed.csv").json()
    assert (second["imported"], second["quarantined"]) == (2, 0)
    assert not QuarantinedRow.objects.filter(job_id=job["id"], status="open").exists()


def test_bad_uploads_are_clear_4xx_errors(datahub_dirs, key_headers):
    client = Client()
    unknown = upload(client, key_headers, b"a\r\n1\r\n", profile="nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_profile"
    no_file = client.post("/api/v1/datahub/imports", {"profile": "customers"}, headers=key_headers)
    assert no_file.status_code == 422
    other = upload(client, key_headers, CUSTOMERS.encode(), channel="marketplace")
    assert other.status_code == 403 and other.json()["error"]["field"] == "channel"
    options = upload(client, key_headers, CUSTOMERS.encode(), options='{"sneaky": 1}')
    assert options.status_code == 422 and options.json()["error"]["field"] == "options"
    assert not ImportJob.objects.exists()


def test_the_same_idempotency_key_does_not_import_twice(datahub_dirs, key_headers):
    client = Client()
    headers = {**key_headers, "Idempotency-Key": "upload-1"}
    first = upload(client, headers, CUSTOMERS.encode())
    second = upload(client, headers, CUSTOMERS.encode())
    assert first.status_code == second.status_code == 202
    assert second["Idempotent-Replayed"] == "true"
    assert ImportJob.objects.count() == 1


def test_channel_keys_see_only_their_own_channel_and_need_the_scope(
    datahub_dirs, web_channel, market_channel, make_key, staff_api
):
    client = Client()
    web = {"Authorization": f"Bearer {make_key(web_channel, scopes=['imports:write'])}"}
    market = {"Authorization": f"Bearer {make_key(market_channel, scopes=['imports:write'])}"}
    reader = {"Authorization": f"Bearer {make_key(web_channel, scopes=['catalog:read'])}"}
    job = upload(client, web, CUSTOMERS.encode()).json()
    row = QuarantinedRow.objects.filter(job_id=job["id"]).first()
    assert client.get(f"/api/v1/datahub/imports/{job['id']}", headers=market).status_code == 404
    assert client.get("/api/v1/datahub/imports", headers=market).json()["items"] == []
    assert [j["id"] for j in client.get("/api/v1/datahub/imports", headers=web).json()["items"]] == [
        job["id"]
    ]
    assert client.get(f"/api/v1/datahub/imports/{job['id']}/quarantine", headers=market).status_code == 404
    resubmit = client.post(
        f"/api/v1/datahub/quarantine/{row.pk}/resubmit", "{}", content_type="application/json", headers=market
    )
    assert resubmit.status_code == 404
    assert upload(client, reader, CUSTOMERS.encode()).status_code == 403
    assert client.get("/api/v1/datahub/imports").status_code == 401
    assert client.get("/api/v1/datahub/exports/customers", headers=web).status_code == 403  # staff only
    assert staff_api.get(f"/datahub/imports/{job['id']}").status_code == 200


def test_staff_without_the_permission_are_refused(datahub_dirs, django_user_model):
    user = django_user_model.objects.create_user(
        username="clerk", email="c@example.com", password="x", is_staff=True
    )
    client = Client()
    client.force_login(user)
    assert client.get("/api/v1/datahub/imports").status_code == 403


def test_staff_import_a_server_file_only_from_the_import_roots(datahub_dirs, staff_api, tmp_path):
    inbox = datahub_dirs / "inbox" / "customers.csv"
    inbox.write_text(CUSTOMERS)
    outside = tmp_path / "secret.csv"
    outside.write_text(CUSTOMERS)
    no_channel = staff_api.post("/datahub/imports/server", {"profile": "customers", "path": str(inbox)})
    assert no_channel.status_code == 202 and no_channel.json()["error_code"] == "channel_required"
    ok = staff_api.post("/datahub/imports/server", {"profile": "olist_sellers", "path": str(inbox)})
    assert ok.status_code == 202 and ok.json()["status"] == "failed"
    assert ok.json()["error_code"] == "missing_columns"
    escape = staff_api.post(
        "/datahub/imports/server",
        {"profile": "olist_sellers", "path": str(inbox.parent / ".." / "secret.csv")},
    )
    assert escape.status_code == 403 and escape.json()["error"]["code"] == "path_not_allowed"
    typo = staff_api.post(
        "/datahub/imports/server", {"profile": "olist_sellers", "path": str(inbox), "chanel": "x"}
    )
    assert typo.status_code == 422 and typo.json()["error"]["code"] == "unknown_field"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx", "parquet"])
def test_exports_stream_every_format(datahub_dirs, staff_api, key_headers, fmt):
    upload(Client(), key_headers, CUSTOMERS.encode())
    response = staff_api.get("/datahub/exports/customers", {"format": fmt})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    if fmt == "csv":
        assert b"kai@example.com" in body
    elif fmt == "jsonl":
        assert json.loads(body.splitlines()[0])["email"] == "kai@example.com"
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        rows = list(load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True))
        assert rows[0][3] == "email" and rows[1][3] == "kai@example.com"
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(io.BytesIO(body)).column("email").to_pylist() == ["kai@example.com"]
    bad = staff_api.get("/datahub/exports/passwords")
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "unknown_export_entity"
    assert staff_api.get("/datahub/exports/customers", {"format": "exe"}).status_code == 422


def test_profiles_and_overall_quality_are_listed(datahub_dirs, staff_api, key_headers):
    upload(Client(), key_headers, CUSTOMERS.encode())
    names = {p["name"] for p in staff_api.get("/datahub/profiles").json()}
    assert {
        "online_retail",
        "shopify_products",
        "woocommerce_products",
        "magento_products",
        "customers",
        "olist_sellers",
        "supplier_offers",
        "cdnow",
    } <= names
    overall = staff_api.get("/datahub/quality").json()
    assert overall["counts"]["rows_read"] == 3 and overall["open_quarantine"] == 2
