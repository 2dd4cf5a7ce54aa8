"""Staff find a customer from whatever they have at hand (name, e-mail, phone, a channel's customer id),
and see what a merge would move before they confirm it."""

from __future__ import annotations

import pytest

from omnishop.core.errors import DomainError
from omnishop.customers import services
from omnishop.customers.models import Customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(web_channel, market_channel):
    found = services.resolve_customer(
        channel=web_channel, email="Ada@Example.com", first_name="Ada", last_name="Lovelace"
    ).customer
    services.resolve_customer(channel=market_channel, external_id="AMZ-BUYER-77", email="ada@example.com")
    return Customer.objects.get(pk=found.pk)


@pytest.fixture
def grace(web_channel):
    return services.resolve_customer(
        channel=web_channel, phone="+447911123456", first_name="Grace", last_name="Hopper"
    ).customer


@pytest.mark.parametrize(
    "term", ["lovelace", "Ada Lovelace", "ADA@example.COM", "AMZ-BUYER-77", "example.com"]
)
def test_a_customer_is_found_by_name_email_or_a_channels_customer_id(ada, grace, term):
    assert list(services.find_customers(term=term)) == [ada]


def test_a_phone_is_found_however_it_is_typed(ada, grace):
    assert list(services.find_customers(term="+44 7911 123456")) == [grace]
    assert list(services.find_customers(term="123456")) == [grace]


def test_the_channel_filter_keeps_customers_that_channel_knows(ada, grace, market_channel):
    assert list(services.find_customers(term="", channel=market_channel)) == [ada]


def test_merged_away_records_are_not_found(ada, grace):
    twin = Customer.objects.create(first_name="Ada", last_name="Lovelace")
    services.merge_customers(survivor=ada, merged=twin)
    assert list(services.find_customers(term="Lovelace")) == [ada]


def test_the_merge_preview_lists_what_would_move_and_changes_nothing(ada, grace):
    preview = services.preview_merge(survivor=grace, merged=ada)
    assert dict(preview.moves)["channel identities"] == 2
    assert ("email", "ada@example.com") in preview.fills
    assert Customer.objects.get(pk=ada.pk).merged_into_id is None
    assert grace.identities.count() == 1


def test_the_preview_refuses_what_the_merge_would_refuse(ada, grace):
    with pytest.raises(DomainError) as refused:
        services.preview_merge(survivor=ada, merged=ada)
    assert refused.value.code == "merge_into_self"
    services.merge_customers(survivor=ada, merged=grace)
    grace.refresh_from_db()
    with pytest.raises(DomainError) as refused:
        services.preview_merge(survivor=ada, merged=grace)
    assert (refused.value.code, refused.value.field) == ("customer_already_merged", "merged")
