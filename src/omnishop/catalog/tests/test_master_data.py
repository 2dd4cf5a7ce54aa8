"""The product master is shared by every channel: one channel's key cannot take a product off the others."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from omnishop.catalog import services
from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.channels.models import ApiKey

pytestmark = pytest.mark.django_db

ORDINARY = ApiKey.CHANNEL_SCOPE_NAMES
MASTER = (*ApiKey.CHANNEL_SCOPE_NAMES, "catalog:master")


def list_on(variant, channel):
    return ChannelListing.objects.create(
        channel=channel, variant=variant, is_published=True, price=Decimal("9.99"), currency=channel.currency
    )


@pytest.fixture
def shared(hoodie, web_channel, market_channel):
    """The hoodie sold on both channels."""
    for variant in hoodie.variants.all():
        list_on(variant, web_channel)
        list_on(variant, market_channel)
    return hoodie


def test_an_ordinary_channel_key_cannot_deactivate_or_delete_a_shared_product(
    api, make_key, shared, market_channel
):
    key = api.with_key(make_key(market_channel, scopes=ORDINARY))
    patched = key.patch(f"/catalog/products/{shared.pk}", {"is_active": False})
    assert (patched.status_code, patched.json()["error"]["code"]) == (403, "permission_denied")
    assert key.delete(f"/catalog/products/{shared.pk}").status_code == 403
    variant = shared.variants.first()
    assert key.patch(f"/catalog/variants/{variant.pk}", {"is_active": False}).status_code == 403
    assert key.delete(f"/catalog/variants/{variant.pk}").status_code == 403
    assert Product.objects.get(pk=shared.pk).is_active
    assert ChannelListing.objects.count() == 4
    # It still adds products and runs its own channel's listings.
    assert key.post("/catalog/products", {"title": "Own", "variants": [{"sku": "OWN-1"}]}).status_code == 201


def test_a_product_another_channel_sells_is_not_deleted_even_with_the_master_scope(
    api, make_key, shared, market_channel
):
    key = api.with_key(make_key(market_channel, scopes=MASTER))
    refused = key.delete(f"/catalog/products/{shared.pk}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["field"], error["details"]["channels"]) == (
        "listed_on_other_channels",
        "product_id",
        ["web"],
    )
    variant = shared.variants.first()
    refused = key.delete(f"/catalog/variants/{variant.pk}")
    assert (refused.status_code, refused.json()["error"]["field"]) == (409, "variant_id")
    assert Product.objects.filter(pk=shared.pk).exists() and ChannelListing.objects.count() == 4


def test_a_master_data_key_deletes_a_product_only_its_own_channel_lists(
    api, make_key, hoodie, make_product, market_channel
):
    for variant in hoodie.variants.all():
        list_on(variant, market_channel)
    unlisted = make_product("Never listed")
    key = api.with_key(make_key(market_channel, scopes=MASTER))
    assert key.delete(f"/catalog/products/{hoodie.pk}").status_code == 204
    assert key.delete(f"/catalog/products/{unlisted.pk}").status_code == 204
    assert not Product.objects.filter(pk__in=[hoodie.pk, unlisted.pk]).exists()
    assert ChannelListing.objects.count() == 0


def test_staff_with_the_permission_still_delete_a_product_listed_on_channels(staff_api, shared):
    assert staff_api.delete(f"/catalog/products/{shared.pk}").status_code == 204
    assert not Variant.objects.filter(product_id=shared.pk).exists()


def test_a_product_with_stock_is_refused_to_everyone_deactivate_it_instead(staff_api, hoodie):
    from omnishop.inventory import services as inventory

    location = inventory.create_location(code="wh", name="Warehouse")
    inventory.receive_stock(variant=hoodie.variants.first(), location=location, quantity=1, reference="t")
    refused = staff_api.delete(f"/catalog/products/{hoodie.pk}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "product_in_use")
    assert staff_api.patch(f"/catalog/products/{hoodie.pk}", {"is_active": False}).status_code == 200


def test_full_access_keys_do_not_carry_the_master_data_scope(web_channel):
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", "create", "web", "--all-scopes", stdout=out, stderr=err)
    issued = ApiKey.objects.get()
    assert "catalog:master" not in issued.scopes
    assert set(issued.scopes) == set(ApiKey.CHANNEL_SCOPE_NAMES)
    call_command(
        "apikey", "create", "web", "--all-scopes", "--scope", "catalog:master", stdout=out, stderr=err
    )
    assert "catalog:master" in ApiKey.objects.latest("pk").scopes


def test_the_admin_full_access_key_action_leaves_master_data_out(admin_client, web_channel):
    from django.urls import reverse

    from omnishop.channels.models import Channel

    admin_client.post(
        reverse("admin:channels_channel_changelist"),
        {"action": "issue_full_access_key", "_selected_action": [Channel.objects.get().pk]},
    )
    assert set(ApiKey.objects.get().scopes) == set(ApiKey.CHANNEL_SCOPE_NAMES)


def test_the_service_refuses_only_for_a_channel_and_only_for_other_channels(
    hoodie, web_channel, market_channel
):
    variant = hoodie.variants.first()
    list_on(variant, web_channel)
    services.delete_variant(variant=hoodie.variants.last(), acting_channel=market_channel)
    with pytest.raises(services.ListedOnOtherChannels):
        services.delete_variant(variant=variant, acting_channel=market_channel)
    services.delete_product(product=hoodie, acting_channel=web_channel)
    assert not Product.objects.filter(pk=hoodie.pk).exists()
