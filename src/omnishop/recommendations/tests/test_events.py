"""Sending behaviour events: per-item rejection, attribution, linking anonymous visits, retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.recommendations import services
from omnishop.recommendations.models import Event

from .conftest import ago

pytestmark = pytest.mark.django_db


def iso(dt):
    return dt.isoformat()


def test_good_events_are_kept_while_unknown_products_and_future_times_are_rejected_with_reasons(
    api, web_channel, make_key, make_product
):
    mug = make_product("Mug", channels=[web_channel])
    key = make_key(web_channel, ["events:write"])
    response = api.with_key(key).post(
        "/events",
        {
            "events": [
                {"kind": "view", "product_id": mug.pk, "anonymous_id": "v1"},
                {"kind": "view", "product_id": 999_999, "anonymous_id": "v1"},
                {
                    "kind": "purchase",
                    "product_id": mug.pk,
                    "anonymous_id": "v1",
                    "occurred_at": iso(timezone.now() + timedelta(days=1)),
                },
                {"kind": "search", "query": "mug", "result_ids": [mug.pk, 424242], "anonymous_id": "v1"},
                {"kind": "add_to_cart", "anonymous_id": "v1"},
                {"kind": "view", "product_id": mug.pk},
            ]
        },
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "unknown_product"),
        (2, "future_timestamp"),
        (4, "product_required"),
        (5, "identity_required"),
    ]
    search = Event.objects.get(kind="search")
    assert search.result_ids == [mug.pk]  # unknown result ids are dropped, not stored
    assert Event.objects.filter(channel=web_channel).count() == 2


def test_a_channel_attributes_events_only_to_customers_it_knows(
    api, web_channel, market_channel, make_key, make_product, make_customer
):
    mug = make_product("Mug", channels=[web_channel])
    ours = make_customer(web_channel, "ada@example.com")
    theirs = make_customer(market_channel, "bob@example.com")
    key = make_key(web_channel, ["events:write"])
    response = api.with_key(key).post(
        "/events",
        {
            "events": [
                {"kind": "purchase", "product_id": mug.pk, "customer_id": ours.pk},
                {"kind": "purchase", "product_id": mug.pk, "customer_id": theirs.pk},
            ]
        },
    )
    assert response.status_code == 202
    assert [r["code"] for r in response.json()["rejected"]] == ["unknown_customer"]
    assert list(Event.objects.values_list("customer_id", flat=True)) == [ours.pk]


def test_a_signed_in_shoppers_events_are_theirs_and_anonymous_visits_are_linked_on_sign_in(
    api, web_channel, make_key, make_product, shopper_session
):
    mug = make_product("Mug", channels=[web_channel])
    key = make_key(web_channel, ["events:write"])
    api.with_key(key).post(
        "/events", {"events": [{"kind": "view", "product_id": mug.pk, "anonymous_id": "a-7"}]}
    )
    token, customer = shopper_session("grace@example.com")
    shopper = api.with_session(token)
    response = shopper.post(
        "/events",
        {
            "channel": "web",
            "events": [
                {"kind": "wishlist", "product_id": mug.pk},
                {"kind": "view", "product_id": mug.pk, "customer_id": customer.pk + 1000},
            ],
        },
    )
    assert response.status_code == 202, response.content
    assert [r["code"] for r in response.json()["rejected"]] == ["customer_mismatch"]
    assert Event.objects.get(kind="wishlist").customer_id == customer.pk

    linked = shopper.post("/events/identify", {"anonymous_id": "a-7"})
    assert linked.status_code == 200 and linked.json() == {"linked": 1}
    assert Event.objects.get(anonymous_id="a-7").customer_id == customer.pk
    assert shopper.post("/events/identify", {"anonymous_id": "a-7"}).json() == {"linked": 0}


def test_a_shopper_must_name_an_existing_channel(api, shopper_session, make_product, web_channel):
    mug = make_product("Mug", channels=[web_channel])
    token, _ = shopper_session("linus@example.com")
    events = [{"kind": "view", "product_id": mug.pk}]
    missing = api.with_session(token).post("/events", {"events": events})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "channel"
    unknown = api.with_session(token).post("/events", {"channel": "nope", "events": events})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "channel_not_found"


def test_too_large_a_batch_is_refused_whole_and_writes_nothing(api, web_channel, make_key, make_product):
    mug = make_product("Mug", channels=[web_channel])
    key = make_key(web_channel, ["events:write"])
    events = [{"kind": "view", "product_id": mug.pk, "anonymous_id": "x"}] * (services.MAX_BATCH + 1)
    response = api.with_key(key).post("/events", {"events": events})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "required", "events"),
        ({"events": []}, "validation_error", "events"),
        ({"events": [{"kind": "teleport", "product_id": 1}]}, "validation_error", "events[0].kind"),
        (
            {"events": [{"kind": "view", "product_id": 1, "colour": "red"}]},
            "unknown_field",
            "events[0].colour",
        ),
        ({"events": [{"kind": "view", "product_id": "one"}]}, "validation_error", "events[0].product_id"),
        (
            {"events": [{"kind": "view", "product_id": 1, "occurred_at": "yesterday"}]},
            "validation_error",
            None,
        ),
    ],
)
def test_malformed_batches_are_422_with_the_offending_field(api, web_channel, make_key, body, code, field):
    response = api.with_key(make_key(web_channel, ["events:write"])).post("/events", body)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert error["field"] == field


def test_sending_events_needs_the_events_scope_or_a_session(api, web_channel, make_key):
    body = {"events": [{"kind": "search", "query": "x", "anonymous_id": "v"}]}
    assert api.post("/events", body).status_code == 401
    assert api.with_key(make_key(web_channel, ["catalog:read"])).post("/events", body).status_code == 403
    other_channel_code = api.with_key(make_key(web_channel, ["events:write"])).post(
        "/events", {**body, "channel": "marketplace"}
    )
    assert other_channel_code.status_code == 403


def test_a_retried_batch_with_the_same_idempotency_key_is_recorded_once(
    api, web_channel, make_key, make_product
):
    mug = make_product("Mug", channels=[web_channel])
    client = api.with_key(make_key(web_channel, ["events:write"]))
    body = {"events": [{"kind": "view", "product_id": mug.pk, "anonymous_id": "v"}]}
    first = client.post("/events", body, headers={"Idempotency-Key": "batch-1"})
    again = client.post("/events", body, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert Event.objects.count() == 1


def test_events_past_the_retention_period_are_purged_and_newer_ones_kept(web_channel, make_product, settings):
    settings.OMNISHOP_RECS_EVENT_RETENTION_DAYS = 30
    mug = make_product("Mug", channels=[web_channel])
    result = services.record_events(
        channel=web_channel,
        events=[
            {"kind": "view", "product_id": mug.pk, "anonymous_id": "v", "occurred_at": ago(days=10)},
            {"kind": "view", "product_id": mug.pk, "anonymous_id": "v", "occurred_at": ago(days=40)},
        ],
    )
    assert [r.code for r in result.rejected] == ["too_old"]
    Event.objects.create(
        channel=web_channel, kind="view", product_id=mug.pk, anonymous_id="v", occurred_at=ago(days=45)
    )
    assert services.purge_old_events() == 1
    assert Event.objects.count() == 1


def test_an_event_naming_only_its_variant_is_attributed_to_the_variants_product(
    api, web_channel, make_key, make_product
):
    mug = make_product("Mug", channels=[web_channel])
    variant = mug.variants.get()
    key = make_key(web_channel, ["events:write"])
    response = api.with_key(key).post(
        "/events",
        {
            "events": [
                {"kind": "add_to_cart", "variant_id": variant.pk, "anonymous_id": "v1"},
                {"kind": "view", "variant_id": 987_654, "anonymous_id": "v1"},
            ]
        },
    )
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1
    assert [r["code"] for r in response.json()["rejected"]] == ["unknown_variant"]
    event = Event.objects.get()
    assert (event.product_id, event.variant_id) == (mug.pk, variant.pk)
