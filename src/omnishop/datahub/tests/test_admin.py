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
