"""Back-office: find customers by any identifier, merge selected duplicates, undo a merge."""

import pytest
from django.test import Client

from omnishop.customers.models import Customer, MergeRecord
from omnishop.customers.services import add_address, resolve_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_staff_find_a_customer_by_a_channel_phone_and_see_identities_and_addresses(
    admin_client_, web_channel
):
    customer = resolve_customer(
        channel=web_channel, phone="07911 123456", first_name="Pat", last_name="Jones"
    ).customer
    add_address(customer=customer, name="Pat Jones", line1="5 Elm Row", city="Bath", country="GB")
    Customer.objects.create(first_name="Someone", last_name="Else")
    listing = admin_client_.get("/admin/customers/customer/", {"q": "+447911123456"})
    assert listing.status_code == 200
    assert b"Pat Jones" in listing.content and b"Someone Else" not in listing.content
    page = admin_client_.get(f"/admin/customers/customer/{customer.pk}/change/")
    assert page.status_code == 200 and b"5 Elm Row" in page.content and b"+447911123456" in page.content


def test_merge_selected_keeps_the_oldest_and_undo_restores(admin_client_, web_channel):
    oldest = Customer.objects.create(first_name="Ann", email="ann@example.com")
    newer = Customer.objects.create(first_name="Ann", email="ann@example.com", phone="+447911123456")
    response = admin_client_.post(
        "/admin/customers/customer/",
        {"action": "merge_selected", "_selected_action": [newer.pk, oldest.pk]},
        follow=True,
    )
    assert response.status_code == 200
    newer.refresh_from_db()
    assert newer.merged_into_id == oldest.pk
    record = MergeRecord.objects.get()
    assert record.actor.username == "staff"
    admin_client_.post(
        "/admin/customers/mergerecord/",
        {"action": "undo_selected", "_selected_action": [record.pk]},
        follow=True,
    )
    newer.refresh_from_db()
    record.refresh_from_db()
    assert newer.merged_into_id is None and record.undone_at is not None


def test_merging_a_single_customer_only_warns(admin_client_, web_channel):
    only = Customer.objects.create(first_name="Solo")
    response = admin_client_.post(
        "/admin/customers/customer/", {"action": "merge_selected", "_selected_action": [only.pk]}, follow=True
    )
    assert b"at least two" in response.content and MergeRecord.objects.count() == 0
