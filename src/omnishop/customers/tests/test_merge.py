"""Merging two records of one person moves everything to the survivor; undo puts every row back."""

import pytest
from django.apps import apps
from django.core import serializers
from django.db import connection, models
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from omnishop.catalog.models import Category
from omnishop.channels.services import create_channel
from omnishop.customers.merging import customer_relations
from omnishop.customers.models import (
    Address,
    ChannelIdentity,
    Customer,
    CustomerPreferences,
    MarketingConsent,
    MergeRecord,
)
from omnishop.customers.services import (
    AlreadyMerged,
    ConsentChange,
    MergeAlreadyUndone,
    MergeConflict,
    MergeIntoSelf,
    MergeNotLatest,
    add_address,
    merge_customers,
    resolve_customer,
    undo_merge,
    update_preferences,
)
from omnishop.testing import search_settings

OWN_MODELS = (Customer, ChannelIdentity, Address, CustomerPreferences, MarketingConsent)


def everything() -> dict:
    """Every row of the customer context (many-to-many links included), keyed by model and pk."""
    rows = {}
    for model in OWN_MODELS:
        for row in serializers.serialize("python", model.objects.order_by("pk")):
            rows[(row["model"], row["pk"])] = row["fields"]
    return rows


@pytest.mark.django_db
class TestMerge:
    def test_identities_addresses_and_consent_move_to_the_survivor(self, web_channel, market_channel):
        survivor = resolve_customer(channel=web_channel, email="ann@example.com", first_name="Ann").customer
        merged = resolve_customer(
            channel=market_channel, external_id="MK-123456", phone="+4915112345678"
        ).customer
        add_address(
            customer=merged, name="Ann Lee", line1="1 High St", city="Leeds", postcode="LS1 1AA", country="GB"
        )
        update_preferences(customer=merged, consents=[ConsentChange(channel="marketplace", granted=True)])

        record = merge_customers(survivor=survivor, merged=merged, reason="same person")

        assert merged.identities.count() == 0 and merged.addresses.count() == 0
        assert set(survivor.identities.values_list("channel__code", flat=True)) == {"web", "marketplace"}
        assert survivor.addresses.get().city == "Leeds"
        assert survivor.consents.get().granted is True
        survivor.refresh_from_db()
        merged.refresh_from_db()
        assert survivor.phone == "+4915112345678"  # filled in from the merged record
        assert merged.merged_into_id == survivor.pk
        assert record.snapshot["moved"]

    def test_the_survivor_keeps_its_default_address_and_the_newest_consent_wins(self, web_channel):
        survivor = resolve_customer(channel=web_channel, email="s@example.com").customer
        merged = resolve_customer(channel=web_channel, email="m@example.com").customer
        mine = add_address(customer=survivor, name="S", line1="1 A St", city="York", country="GB")
        theirs = add_address(customer=merged, name="M", line1="2 B St", city="Hull", country="GB")
        update_preferences(customer=survivor, consents=[ConsentChange(channel="web", granted=True)])
        update_preferences(customer=merged, consents=[ConsentChange(channel="web", granted=False)])

        merge_customers(survivor=survivor, merged=merged)

        mine.refresh_from_db()
        theirs.refresh_from_db()
        assert (
            mine.is_default_shipping and not theirs.is_default_shipping and theirs.customer_id == survivor.pk
        )
        assert survivor.consents.get(channel=web_channel).granted is False

    def test_favourite_categories_are_united(self, web_channel):
        a, b, c = (Category.objects.create(name=n, slug=n, path=n) for n in ("a", "b", "c"))
        survivor = resolve_customer(channel=web_channel, email="s@example.com").customer
        merged = resolve_customer(channel=web_channel, email="m@example.com").customer
        update_preferences(customer=survivor, favourite_category_ids=[a.pk, b.pk])
        update_preferences(customer=merged, language="de-DE", favourite_category_ids=[b.pk, c.pk])
        merge_customers(survivor=survivor, merged=merged)
        prefs = CustomerPreferences.objects.get(customer=survivor)
        assert set(prefs.favourite_categories.values_list("slug", flat=True)) == {"a", "b", "c"}
        assert prefs.language == "de-DE"

    def test_merging_into_itself_is_refused(self, web_channel):
        customer = resolve_customer(channel=web_channel, email="s@example.com").customer
        with pytest.raises(MergeIntoSelf):
            merge_customers(survivor=customer, merged=customer)

    def test_an_already_merged_customer_cannot_be_merged_again(self, web_channel):
        a, b, c = (resolve_customer(channel=web_channel, email=f"{n}@example.com").customer for n in "abc")
        merge_customers(survivor=a, merged=b)
        with pytest.raises(AlreadyMerged) as caught:
            merge_customers(survivor=c, merged=b)
        assert caught.value.field == "merged"
        with pytest.raises(AlreadyMerged) as caught:
            merge_customers(survivor=b, merged=c)
        assert caught.value.field == "survivor"

    def test_merging_a_survivor_again_keeps_chains_one_hop_long_and_undo_goes_newest_first(self, web_channel):
        a, b, c = (resolve_customer(channel=web_channel, email=f"{n}@example.com").customer for n in "abc")
        first = merge_customers(survivor=b, merged=a)
        second = merge_customers(survivor=c, merged=b)
        a.refresh_from_db()
        assert a.merged_into_id == c.pk
        with pytest.raises(MergeNotLatest):
            undo_merge(record=first)
        undo_merge(record=second)
        undo_merge(record=first)
        assert Customer.objects.filter(merged_into__isnull=False).count() == 0
        with pytest.raises(MergeAlreadyUndone):
            undo_merge(record=first)

    def test_a_signed_up_shopper_merged_into_a_guest_still_sees_one_profile(
        self, web_channel, django_user_model
    ):
        from omnishop.customers.services import customer_for_user

        user = django_user_model.objects.create_user(username="u", email="u@example.com", password="x")
        mine = customer_for_user(user=user)
        guest = resolve_customer(channel=web_channel, email="guest@example.com").customer
        merge_customers(survivor=guest, merged=mine)
        assert customer_for_user(user=user).pk == guest.pk
        guest.refresh_from_db()
        assert guest.user_id == user.pk


@pytest.mark.django_db(transaction=True)
def test_rows_of_models_added_later_by_other_apps_move_too(web_channel):
    """A model this app has never heard of (think orders.Order) is found through Django's metadata."""

    class LaterOrder(models.Model):
        customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
        number = models.CharField(max_length=20)

        class Meta:
            app_label = "customers"
            db_table = "customers_test_laterorder"
            constraints = [
                models.UniqueConstraint(fields=["customer", "number"], name="test_laterorder_unique")
            ]

    try:
        with connection.schema_editor() as editor:
            editor.create_model(LaterOrder)
        assert LaterOrder._meta.get_field("customer") in customer_relations()
        survivor = resolve_customer(channel=web_channel, email="s@example.com").customer
        merged = resolve_customer(channel=web_channel, email="m@example.com").customer
        order = LaterOrder.objects.create(customer=merged, number="WEB-1001")

        record = merge_customers(survivor=survivor, merged=merged)
        order.refresh_from_db()
        assert order.customer_id == survivor.pk

        undo_merge(record=record)
        order.refresh_from_db()
        assert order.customer_id == merged.pk

        # Rows that would collide on the other app's unique constraint stop the merge; nothing moves.
        LaterOrder.objects.create(customer=survivor, number="WEB-1001")
        resolve_customer(channel=web_channel, email="m@example.com", external_id="W-424242")
        with pytest.raises(MergeConflict) as caught:
            merge_customers(survivor=survivor, merged=merged)
        assert caught.value.details["model"] == "customers.LaterOrder"
        merged.refresh_from_db()
        assert merged.merged_into_id is None and merged.identities.count() == 2
        assert MergeRecord.objects.filter(undone_at__isnull=True).count() == 0
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(LaterOrder)
        del apps.all_models["customers"]["laterorder"]
        apps.clear_cache()


customer_specs = st.fixed_dictionaries(
    {
        "first_name": st.sampled_from(["", "Ann", "Bo", "Chen"]),
        "email": st.sampled_from(["", "x@example.com", "y@example.com"]),
        "phone": st.sampled_from(["", "+447911123456"]),
        "with_user": st.booleans(),
        "identities": st.lists(st.tuples(st.sampled_from(["web", "market"]), st.booleans()), max_size=3),
        "addresses": st.lists(st.tuples(st.booleans(), st.booleans()), max_size=3),
        "language": st.sampled_from([None, "", "en-GB", "de"]),
        "categories": st.lists(st.integers(min_value=0, max_value=2), max_size=3),
        "consents": st.lists(st.tuples(st.sampled_from(["web", "market"]), st.booleans()), max_size=2),
    }
)


class TestMergeUndoProperty(HypothesisTestCase):
    """For any two customers, merge followed by undo leaves every row exactly as it was."""

    @search_settings("customers_merge")
    @given(customer_specs, customer_specs)
    def test_merge_then_undo_restores_every_row(self, survivor_spec, merged_spec):
        from django.contrib.auth import get_user_model

        channels = {
            "web": create_channel(code="web", name="Web", kind="web", currency="GBP"),
            "market": create_channel(
                code="market", name="Market", kind="marketplace", currency="EUR", country="DE"
            ),
        }
        categories = [Category.objects.create(name=n, slug=n, path=n) for n in ("a", "b", "c")]
        counter = iter(range(1000))

        def build(spec, tag):
            customer = Customer.objects.create(
                first_name=spec["first_name"], email=spec["email"], phone=spec["phone"]
            )
            if spec["with_user"]:
                customer.user = get_user_model().objects.create_user(username=f"user-{tag}", password="x")
                customer.save()
            for code, with_external in spec["identities"]:
                n = next(counter)
                ChannelIdentity.objects.create(
                    customer=customer,
                    channel=channels[code],
                    external_id=f"{tag}-{n}" if with_external else "",
                    email=spec["email"],
                    first_seen_at=customer.created_at,
                    last_seen_at=customer.created_at,
                )
            for ship, bill in spec["addresses"]:
                add_address(
                    customer=customer,
                    name=tag,
                    line1=f"{next(counter)} Road",
                    city="Leeds",
                    country="GB",
                    is_default_shipping=ship,
                    is_default_billing=bill,
                )
            if spec["language"] is not None or spec["categories"] or spec["consents"]:
                update_preferences(
                    customer=customer,
                    language=spec["language"],
                    favourite_category_ids=[categories[i].pk for i in spec["categories"]],
                    consents=[
                        ConsentChange(channel=channels[c].code, granted=g) for c, g in spec["consents"]
                    ],
                )
            return customer

        survivor = build(survivor_spec, "s")
        merged = build(merged_spec, "m")
        before = everything()

        record = merge_customers(survivor=survivor, merged=merged, reason="property test")
        assert not Customer.objects.filter(pk=merged.pk, merged_into__isnull=True).exists()
        undo_merge(record=MergeRecord.objects.get(pk=record.pk))

        assert everything() == before
