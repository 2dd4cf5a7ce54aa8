"""Probable duplicates are found by exact identifiers and by similar names at similar addresses."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from omnishop.customers.models import Customer, MergeRecord
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
