"""Many customer ids of a channel at once (imports): the same customers `resolve_customer` would give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnishop.customers.models import ChannelIdentity, Customer
from omnishop.customers.services import ensure_channel_customers, resolve_customer

pytestmark = pytest.mark.django_db

JAN, FEB = datetime(2011, 1, 4, 10, tzinfo=UTC), datetime(2011, 2, 8, 16, tzinfo=UTC)


def test_new_ids_become_id_only_customers_and_known_ids_keep_theirs(make_channel):
    web = make_channel("web", "web", "GBP")
    known = resolve_customer(channel=web, external_id="17850", seen_at=JAN).customer
    found, created = ensure_channel_customers(
        channel=web, seen={"17850": (JAN, FEB), "13047": (JAN, FEB), "12583": (FEB, FEB)}
    )
    assert created == 2
    assert found["17850"] == known.pk
    assert len({found["13047"], found["12583"], known.pk}) == 3
    identity = ChannelIdentity.objects.get(channel=web, external_id="13047")
    assert (identity.customer_id, identity.first_seen_at, identity.last_seen_at) == (found["13047"], JAN, FEB)
    assert Customer.objects.get(pk=found["12583"]).email == ""
    # And resolve_customer finds the same customers afterwards.
    assert resolve_customer(channel=web, external_id="12583").customer.pk == found["12583"]


def test_the_same_id_on_another_channel_is_another_customer(make_channel):
    web, store = make_channel("web", "web", "GBP"), make_channel("store", "pos_store", "GBP")
    on_web, _ = ensure_channel_customers(channel=web, seen={"42": (JAN, JAN)})
    in_store, created = ensure_channel_customers(channel=store, seen={"42": (JAN, JAN)})
    assert created == 1 and on_web["42"] != in_store["42"]


def test_thousands_of_ids_are_created_in_insertion_order(make_channel):
    web = make_channel("web", "web", "GBP")
    refs = {str(10000 + i): (JAN, FEB) for i in range(6001)}
    found, created = ensure_channel_customers(channel=web, seen=refs)
    assert created == 6001 == Customer.objects.count()
    pairs = dict(ChannelIdentity.objects.values_list("external_id", "customer_id"))
    assert pairs == found


def test_ids_are_looked_up_through_the_partial_unique_index_however_many(make_channel):
    """The lookup states the partial unique index's condition (`external_id <> ''`): PostgreSQL proves it
    from an IN list of at most 100 values only and read every identity of the table for a longer list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    web = make_channel("web", "web", "GBP")
    with CaptureQueriesContext(connection) as captured:
        ensure_channel_customers(channel=web, seen={str(20000 + n): (JAN, FEB) for n in range(150)})
    lookups = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and '"customers_channelidentity"."external_id" IN (' in q["sql"]
    ]
    assert lookups and all('NOT ("customers_channelidentity"."external_id" = \'\')' in sql for sql in lookups)
