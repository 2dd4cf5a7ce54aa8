"""Probable duplicates are found by exact identifiers and by similar names at similar addresses."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from omnishop.customers.models import Customer, DistinctPair, MergeRecord
from omnishop.customers.services import add_address, find_duplicates, resolve_customer

pytestmark = pytest.mark.django_db


def customer(channel, first, last, *, email=None, phone=None, external_id=None, address=None):
    found = resolve_customer(
        channel=channel, email=email, phone=phone, external_id=external_id, first_name=first, last_name=last
    ).customer
    if address:
        line1, city, postcode = address
        add_address(
            customer=found, name=f"{first} {last}", line1=line1, city=city, postcode=postcode, country="GB"
        )
    return found


def pair_of(pairs, a, b):
    wanted = tuple(sorted((a.pk, b.pk)))
    return next((p for p in pairs if (p.customer_a, p.customer_b) == wanted), None)


def test_the_same_e_mail_on_two_records_is_a_certain_duplicate(web_channel, market_channel):
    # resolve_customer would attach the second to the first; duplicates arise from imports and merges of data.
    a = Customer.objects.create(first_name="Ann", email="ann@example.com")
    b = customer(market_channel, "A.", "Lee", external_id="MK-100001")
    b.identities.update(email="ann@example.com")
    found = pair_of(find_duplicates(), a, b)
    assert found is not None and found.score == 1.0
    assert "same e-mail ann@example.com" in found.reasons


def test_similar_names_at_the_same_address_score_high(web_channel, market_channel):
    a = customer(
        web_channel,
        "Jonathan",
        "Smith",
        email="js@example.com",
        address=("12 Baker Street", "London", "NW1 6XE"),
    )
    b = customer(
        market_channel, "Jon", "Smith", external_id="MK-200002", address=("12 Baker St", "London", "nw16xe")
    )
    found = pair_of(find_duplicates(min_score=0.6), a, b)
    assert found is not None and 0.6 <= found.score < 1.0
    assert any("postcode NW16XE" in r for r in found.reasons)


def test_word_order_of_names_does_not_matter(web_channel, market_channel):
    a = customer(
        web_channel, "Wei", "Zhang", email="wz@example.com", address=("8 Mill Lane", "Leeds", "LS1 4AP")
    )
    b = customer(
        market_channel, "Zhang", "Wei", external_id="MK-300003", address=("8 Mill Lane", "Leeds", "LS1 4AP")
    )
    assert pair_of(find_duplicates(min_score=0.9), a, b) is not None


def test_different_people_at_the_same_postcode_are_not_flagged(web_channel, market_channel):
    a = customer(
        web_channel,
        "Alice",
        "Walker",
        email="aw@example.com",
        address=("1 Flat A, Tower Road", "Leeds", "LS2 9JT"),
    )
    b = customer(
        market_channel,
        "Bob",
        "Marley",
        external_id="MK-400004",
        address=("1 Flat B, Tower Road", "Leeds", "LS2 9JT"),
    )
    assert pair_of(find_duplicates(min_score=0.5), a, b) is None


def test_a_similar_name_with_the_same_phone_ending_is_a_candidate(make_channel):
    uk = make_channel("web", "web", "GBP", country="GB")
    a = customer(uk, "Maria", "Garcia", phone="07911 123456")
    b = Customer.objects.create(first_name="María", last_name="García", phone="+447811123456")
    found = pair_of(find_duplicates(min_score=0.5), a, b)
    assert found is not None and any("phone ending" in r for r in found.reasons)


def test_merged_away_customers_are_not_candidates_any_more(web_channel):
    a = Customer.objects.create(first_name="Ann", email="ann@example.com")
    b = Customer.objects.create(first_name="Ann", email="ann@example.com")
    assert pair_of(find_duplicates(), a, b) is not None
    call_command("customers", "merge", str(a.pk), str(b.pk), stdout=StringIO())
    assert pair_of(find_duplicates(), a, b) is None


def test_cli_prints_pairs_as_json_and_merges_and_unmerges(web_channel):
    a = Customer.objects.create(first_name="Ann", email="ann@example.com")
    b = Customer.objects.create(first_name="Ann", phone="+447911123456", email="ann@example.com")
    out = StringIO()
    call_command("customers", "find-duplicates", "--min-score", "0.9", "--json", stdout=out)
    assert json.loads(out.getvalue()) == [
        {"customer_a": a.pk, "customer_b": b.pk, "score": 1.0, "reasons": ["same e-mail ann@example.com"]}
    ]
    out = StringIO()
    call_command("customers", "merge", str(a.pk), str(b.pk), stdout=out)
    record = MergeRecord.objects.get()
    assert f"Merged customer {b.pk} into {a.pk}" in out.getvalue() and record.actor_label == "cli"
    call_command("customers", "unmerge", str(record.pk), stdout=StringIO())
    b.refresh_from_db()
    assert b.merged_into_id is None


def test_cli_reports_domain_errors_with_their_code(web_channel):
    a = Customer.objects.create(first_name="Ann")
    with pytest.raises(CommandError, match="merge_into_self"):
        call_command("customers", "merge", str(a.pk), str(a.pk))
    with pytest.raises(CommandError, match="customer_not_found"):
        call_command("customers", "merge", str(a.pk), "999999")
    with pytest.raises(CommandError, match="min-score"):
        call_command("customers", "find-duplicates", "--min-score", "3")


def test_cli_table_output_lists_each_pair(web_channel):
    Customer.objects.create(first_name="Ann", email="ann@example.com")
    Customer.objects.create(first_name="Ann", email="ann@example.com")
    out = StringIO()
    call_command("customers", "find-duplicates", stdout=out)
    assert "1.00" in out.getvalue() and "1 pair(s)." in out.getvalue()


def test_a_pair_marked_as_different_people_is_not_proposed_again(web_channel, staff_api):
    a = Customer.objects.create(first_name="Sam", email="family@example.com")
    b = Customer.objects.create(first_name="Alex", email="family@example.com")
    c = Customer.objects.create(first_name="Kim", email="family@example.com")
    assert len(find_duplicates()) == 3
    response = staff_api.post(
        "/customers/duplicates/dismissals",
        {"customer_a": b.pk, "customer_b": a.pk, "note": "shared family inbox"},
    )
    assert response.status_code == 201, response.content
    assert (response.json()["customer_a"], response.json()["customer_b"]) == (a.pk, b.pk)
    assert pair_of(find_duplicates(), a, b) is None and len(find_duplicates()) == 2
    again = staff_api.post("/customers/duplicates/dismissals", {"customer_a": a.pk, "customer_b": b.pk})
    assert again.status_code == 201 and DistinctPair.objects.count() == 1
    call_command("customers", "not-duplicate", str(a.pk), str(c.pk), stdout=StringIO())
    assert [(p.customer_a, p.customer_b) for p in find_duplicates()] == [(b.pk, c.pk)]


def test_dismissing_a_pair_with_bad_input(staff_api, web_channel):
    a = Customer.objects.create(first_name="Sam")
    for body, expected in [
        ({"customer_a": a.pk, "customer_b": a.pk}, (422, "same_customer", "customer_b")),
        ({"customer_a": a.pk, "customer_b": 999999}, (404, "customer_not_found", "customer_id")),
        ({"customer_a": a.pk}, (422, "required", "customer_b")),
    ]:
        response = staff_api.post("/customers/duplicates/dismissals", body)
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["field"]) == expected
    assert DistinctPair.objects.count() == 0


def test_a_distinct_pair_does_not_block_merging_either_customer(web_channel):
    from omnishop.customers.services import mark_distinct, merge_customers, undo_merge

    a, b, c = (Customer.objects.create(first_name=n) for n in "abc")
    mark_distinct(customer_a=a, customer_b=b)
    record = merge_customers(survivor=c, merged=a)
    undo_merge(record=record)
    assert DistinctPair.objects.get().customer_a_id == a.pk
