"""Activity from any channel attaches to the one customer it belongs to."""

import pytest

from omnishop.customers.models import ChannelIdentity, Customer
from omnishop.customers.normalise import InvalidEmail, InvalidPhone
from omnishop.customers.services import IdentifierRequired, merge_customers, resolve_customer

pytestmark = pytest.mark.django_db


def test_a_stranger_becomes_a_new_customer_with_a_channel_identity(web_channel):
    result = resolve_customer(
        channel=web_channel, email=" Jo@Example.COM ", first_name="Jo", last_name="Bloggs"
    )
    assert result.created
    assert (result.customer.email, result.customer.full_name) == ("jo@example.com", "Jo Bloggs")
    assert result.identity.channel == web_channel and result.identity.email == "jo@example.com"


def test_the_same_e_mail_on_another_channel_finds_the_same_customer(web_channel, market_channel):
    first = resolve_customer(channel=web_channel, email="jo@example.com").customer
    again = resolve_customer(channel=market_channel, email="JO@example.com", external_id="AMZ-778899")
    assert not again.created and again.customer.pk == first.pk
    assert set(first.identities.values_list("channel__code", flat=True)) == {"web", "marketplace"}


def test_a_phone_in_national_format_matches_the_same_number_in_international_format(make_channel):
    pos = make_channel("pos-london", "pos_store", "GBP", country="GB")
    shop = make_channel("shop-de", "web", "EUR", country="DE")
    first = resolve_customer(channel=pos, phone="07911 123456").customer
    again = resolve_customer(channel=shop, phone="+44 7911 123456")
    assert again.customer.pk == first.pk and again.identity.phone == "+447911123456"


def test_the_phone_default_region_is_the_channel_country(make_channel):
    shop = make_channel("shop-de", "web", "EUR", country="DE")
    assert resolve_customer(channel=shop, phone="030 901820").customer.phone == "+4930901820"


def test_a_known_channel_id_wins_and_fills_in_new_details(market_channel):
    first = resolve_customer(channel=market_channel, external_id="A-100200").customer
    again = resolve_customer(
        channel=market_channel, external_id="A-100200", email="new@example.com", first_name="Al"
    )
    assert again.customer.pk == first.pk and not again.created
    again.customer.refresh_from_db()
    assert again.customer.email == "new@example.com" and again.customer.first_name == "Al"
    assert ChannelIdentity.objects.filter(channel=market_channel, external_id="A-100200").count() == 1


def test_repeat_guest_visits_refresh_one_identity_instead_of_piling_up(web_channel):
    for _ in range(3):
        resolve_customer(channel=web_channel, email="jo@example.com")
    assert ChannelIdentity.objects.count() == 1 and Customer.objects.count() == 1


def test_activity_for_a_merged_away_customer_lands_on_the_survivor(web_channel, market_channel):
    survivor = resolve_customer(channel=web_channel, email="a@example.com").customer
    merged = resolve_customer(channel=market_channel, external_id="M-555666", email="b@example.com").customer
    merge_customers(survivor=survivor, merged=merged, reason="same person")
    again = resolve_customer(channel=market_channel, external_id="M-555666")
    assert again.customer.pk == survivor.pk
    assert resolve_customer(channel=web_channel, email="b@example.com").customer.pk == survivor.pk


def test_without_any_identifier_nothing_is_created(web_channel):
    with pytest.raises(IdentifierRequired):
        resolve_customer(channel=web_channel, first_name="Nobody")
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"email": "not-an-email"}, InvalidEmail), ({"phone": "12"}, InvalidPhone)],
)
def test_invalid_contact_details_are_refused_and_nothing_is_written(web_channel, kwargs, error):
    with pytest.raises(error):
        resolve_customer(channel=web_channel, external_id="X-123456", **kwargs)
    assert Customer.objects.count() == 0 and ChannelIdentity.objects.count() == 0


def _run_at_once(calls):
    import threading

    from django.db import connections

    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            barrier.wait(timeout=10)
            results.append(call().customer.pk)
        except Exception as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_checkouts_by_one_new_shopper_create_one_customer(web_channel, market_channel):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections")
    calls = [
        lambda ch=ch: resolve_customer(channel=ch, email="rush@example.com", phone="07911 123456")
        for ch in (web_channel, market_channel) * 2
    ]
    results = _run_at_once(calls)
    assert len(set(results)) == 1 and Customer.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_one_marketplace_order_delivered_twice_at_once_records_one_identity(market_channel):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections")
    results = _run_at_once([lambda: resolve_customer(channel=market_channel, external_id="MK-777777")] * 3)
    assert len(set(results)) == 1
    assert (
        ChannelIdentity.objects.filter(external_id="MK-777777").count() == 1 and Customer.objects.count() == 1
    )
