"""Customers from different channels become one person: deterministic matches by e-mail/phone/id, fuzzy
look-alikes merged automatically above the threshold (undoable) or queued for review below it."""

from __future__ import annotations

import pytest

from omnishop.customers.models import Customer, MergeRecord
from omnishop.customers.services import undo_merge
from omnishop.datahub import services
from omnishop.datahub.models import MatchCandidate

pytestmark = pytest.mark.django_db

HEADER = "id,email,phone,first_name,last_name,address1,city,zip,country\r\n"


def test_the_same_email_from_another_channel_is_merged_not_duplicated(
    run_import, retail_channel, make_channel
):
    shop = run_import(
        "customers", (HEADER + "S1,Ana.Silva@Example.com,,Ana,Silva,,,,\r\n").encode(), channel=retail_channel
    )
    assert shop.imported == 1
    pos = make_channel("pos", "pos_store", "GBP")
    job = run_import(
        "customers",
        (HEADER + "P9, ana.silva@example.com ,07911 123456,Ana,Silva,,,,\r\n").encode(),
        channel=pos,
    )
    assert (job.merged, job.imported) == (1, 0)
    customer = Customer.objects.get()
    assert customer.phone == "+447911123456"  # filled from the second channel, normalised to E.164
    assert sorted(customer.identities.values_list("channel__code", "external_id")) == [
        ("pos", "P9"),
        ("retail", "S1"),
    ]


def test_phone_numbers_match_across_national_and_international_forms(
    run_import, retail_channel, make_channel
):
    run_import("customers", (HEADER + "A,,+44 7712 345678,Bo,Lee,,,,\r\n").encode(), channel=retail_channel)
    job = run_import(
        "customers",
        (HEADER + "B,,07712345678,Bo,Lee,,,,\r\n").encode(),
        channel=make_channel("app", "mobile_app", "GBP"),
    )
    assert job.merged == 1 and Customer.objects.count() == 1


def test_look_alikes_above_the_threshold_merge_automatically_and_can_be_undone(
    run_import, retail_channel, make_channel
):
    run_import(
        "customers",
        (HEADER + "W1,jon.smith@example.com,,Jonathan,Smith,12 High Street,London,SW1A 1AA,GB\r\n").encode(),
        channel=retail_channel,
    )
    job = run_import(
        "customers",
        (
            HEADER + "M7,j.smith@example.org,,Jonathan,Smith,12 High St,London,SW1A1AA,United Kingdom\r\n"
        ).encode(),
        channel=make_channel("ebay", "marketplace", "GBP"),
        options={"target": {"auto_merge_score": 0.8, "review_score": 0.6}},
    )
    assert (job.imported, job.merged) == (0, 1)  # created, then folded into the existing customer
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1
    record = MergeRecord.objects.get()
    assert record.actor_label == f"datahub import #{job.pk}" and record.score >= 0.8
    undo_merge(record=record)
    assert Customer.objects.filter(merged_into__isnull=True).count() == 2


def test_weaker_look_alikes_wait_in_the_review_queue(run_import, retail_channel, make_channel, staff_user):
    run_import(
        "customers",
        (HEADER + "W1,kim@example.com,,Kim,Park,5 Mill Lane,Leeds,LS1 4AP,GB\r\n").encode(),
        channel=retail_channel,
    )
    job = run_import(
        "customers",
        (HEADER + "Z3,k.park@example.net,,Kimberly,Park,Flat 2 Mill Ln,Leeds,LS1 4AP,GB\r\n").encode(),
        channel=make_channel("zalando", "marketplace", "EUR"),
        options={"target": {"auto_merge_score": 0.99, "review_score": 0.5}},
    )
    assert job.imported == 1 and job.merged == 0
    candidate = MatchCandidate.objects.get()
    assert candidate.status == "open" and 0.5 <= candidate.score < 0.99
    services.decide_match(candidate=candidate, merge=True, user=staff_user)
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1
    assert MergeRecord.objects.get().actor == staff_user


def test_a_customer_row_without_any_identifier_is_quarantined(run_import, retail_channel):
    job = run_import(
        "customers",
        (HEADER + ",,,No,Contact,,,,\r\n" + ",not-an-email,,X,Y,,,,\r\n").encode(),
        channel=retail_channel,
    )
    assert job.quarantined == 2
    codes = sorted(r.reasons[0]["code"] for r in job.quarantined_rows.all())
    assert codes == ["identifier_required", "invalid_email"]


def test_national_phone_numbers_are_read_in_the_channel_country(run_import, make_channel):
    us_shop = make_channel("us-shop", "web", "USD", country="US")
    job = run_import("customers", (HEADER + "U1,,(415) 555-2671,Ada,Byron,,,,\r\n").encode(), channel=us_shop)
    assert job.imported == 1
    assert Customer.objects.get().phone == "+14155552671"
