"""The back-office shows a job with its quality report and quarantine."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_staff_see_a_job_with_its_quality_report_and_quarantine(run_import, retail_channel, staff_user):
    job = run_import("customers", b"id,email\r\nA1,a@example.com\r\nA2,broken\r\n", channel=retail_channel)
    client = Client()
    client.force_login(staff_user)
    page = client.get(f"/admin/datahub/importjob/{job.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "email:invalid_email" in body and "Data-quality report" in body
    assert client.get("/admin/datahub/quarantinedrow/").status_code == 200
    assert client.get("/admin/datahub/matchcandidate/").status_code == 200


def test_staff_see_staged_documents_with_their_lines_and_what_they_became(
    run_import, retail_channel, staff_user
):
    from omnishop.datahub.models import StagedDocument

    data = (
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
        b"C536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-9,2010-12-02 08:26:00,2.55,17850.0,United Kingdom\n"
    )
    run_import("online_retail", data, channel=retail_channel)
    client = Client()
    client.force_login(staff_user)
    listing = client.get("/admin/datahub/stageddocument/?status__exact=returns")
    assert listing.status_code == 200 and "C536366" in listing.content.decode()
    credit = StagedDocument.objects.get(document_no="C536366")
    page = client.get(f"/admin/datahub/stageddocument/{credit.pk}/change/").content.decode()
    assert "C536366:1" in page and "return_partial" in page  # 6 of the 9 units matched a purchase
    lines = client.get("/admin/datahub/stagedtransactionline/?q=85123A")
    assert lines.status_code == 200 and "536365" in lines.content.decode()
