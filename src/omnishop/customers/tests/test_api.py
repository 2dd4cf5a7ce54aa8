"""The customers API end to end: recognising shoppers, search, the 360° view, the shopper's own profile,
address book and preferences, merges, and every kind of bad input answered with a clear 4xx."""

import pytest

from omnishop.catalog.models import Category
from omnishop.customers.models import Address, ChannelIdentity, Customer, MergeRecord
from omnishop.customers.services import add_address, resolve_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_api(api, web_channel, make_key):
    return api.with_key(make_key(web_channel, scopes=["customers:read", "customers:write"]))


@pytest.fixture
def me(api, shopper_token):
    return api.with_session(shopper_token("me@example.com"))


def error_of(response):
    return response.status_code, response.json()["error"]["code"], response.json()["error"]["field"]


# --- recognising shoppers from a channel ----------------------------------------------------------------


def test_a_channel_records_a_new_customer_then_recognises_them(key_api):
    first = key_api.post(
        "/customers", {"external_id": "W-1", "email": "Ann@Example.com", "first_name": "Ann"}
    )
    assert first.status_code == 201 and first.json()["created"] is True
    again = key_api.post("/customers", {"email": "ann@example.com", "phone": "07911 123456"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["customer"]["id"] == first.json()["customer"]["id"]
    assert again.json()["identity"]["phone"] == "+447911123456"


def test_recording_a_customer_twice_with_one_idempotency_key_replays_the_answer(key_api):
    headers = {"Idempotency-Key": "checkout-42"}
    first = key_api.post("/customers", {"email": "ann@example.com"}, headers=headers)
    again = key_api.post("/customers", {"email": "ann@example.com"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    other = key_api.post("/customers", {"email": "bob@example.com"}, headers=headers)
    assert error_of(other) == (409, "idempotency_key_reused", "Idempotency-Key")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"email": "not-an-email"}, (422, "invalid_email", "email")),
        ({"phone": "123"}, (422, "invalid_phone", "phone")),
        ({"first_name": "Nobody"}, (422, "identifier_required", "email")),
        ({"email": "a@example.com", "shoe_size": 9}, (422, "unknown_field", "shoe_size")),
        ({"email": 42}, (422, "validation_error", "email")),
        ({"email": "a@example.com", "first_name": "x" * 151}, (422, "validation_error", "first_name")),
    ],
)
def test_recording_a_customer_with_bad_input_is_refused_and_writes_nothing(key_api, body, expected):
    assert error_of(key_api.post("/customers", body)) == expected
    assert Customer.objects.count() == 0 and ChannelIdentity.objects.count() == 0


def test_recording_a_customer_with_a_malformed_body(key_api, staff_api, web_channel):
    assert error_of(key_api.post("/customers", raw=b"{nope"))[:2] == (400, "malformed_json")
    assert error_of(key_api.post("/customers", raw=b"email=x", content_type="text/plain"))[:2] == (
        415,
        "unsupported_media_type",
    )
    assert error_of(staff_api.post("/customers", {"email": "a@example.com"})) == (
        422,
        "validation_error",
        "channel",
    )
    assert error_of(staff_api.post("/customers", {"email": "a@example.com", "channel": "nope"})) == (
        404,  # one status per code: an unknown channel is 404 wherever it is named
        "channel_not_found",
        "channel",
    )


# --- search and 360 -------------------------------------------------------------------------------------


def test_staff_search_filters_and_pages_with_a_cursor(staff_api, web_channel, market_channel):
    for n in range(5):
        resolve_customer(
            channel=web_channel, email=f"web{n}@example.com", first_name="Web", last_name=f"Shopper{n}"
        )
    resolve_customer(
        channel=market_channel, external_id="MK-999999", phone="+4915112345678", first_name="Marta"
    )
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "ordering": "created_at", **({"cursor": cursor} if cursor else {})}
        page = staff_api.get("/customers", params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6
    assert [
        c["first_name"] for c in staff_api.get("/customers", {"channel": "marketplace"}).json()["items"]
    ] == ["Marta"]
    assert len(staff_api.get("/customers", {"q": "shopper3"}).json()["items"]) == 1
    assert len(staff_api.get("/customers", {"email": "WEB1@example.com"}).json()["items"]) == 1
    assert len(staff_api.get("/customers", {"phone": "+49 1511 2345678"}).json()["items"]) == 1


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"ordering": "password"}, (422, "invalid_ordering", "ordering")),
        ({"limit": 0}, (422, "validation_error", "limit")),
        ({"limit": "lots"}, (422, "validation_error", "limit")),
        ({"cursor": "garbage"}, (422, "invalid_cursor", "cursor")),
        ({"email": "nope"}, (422, "invalid_email", "email")),
        ({"phone": "12"}, (422, "invalid_phone", "phone")),
        ({"channel": "nope"}, (404, "channel_not_found", "channel")),
        ({"created_after": "yesterday"}, (422, "validation_error", "created_after")),
    ],
)
def test_customer_search_with_bad_parameters(staff_api, web_channel, params, expected):
    assert error_of(staff_api.get("/customers", params)) == expected


def test_unknown_customer_ids_are_404s(staff_api, web_channel):
    assert error_of(staff_api.get("/customers/999999")) == (404, "customer_not_found", "customer_id")
    assert error_of(staff_api.get("/customers/999999/360")) == (404, "customer_not_found", "customer_id")
    assert staff_api.get("/customers/not-a-number").status_code == 422


def test_the_360_view_shows_every_channel_identity_address_and_preference(
    staff_api, web_channel, market_channel, me
):
    mine = me.get("/customers/me").json()
    customer = Customer.objects.get(pk=mine["id"])
    resolve_customer(channel=market_channel, external_id="MK-424242", email="me@example.com")
    add_address(customer=customer, name="Me", line1="1 Road", city="Leeds", country="GB")
    me.patch(
        "/customers/me/preferences",
        {"language": "en-GB", "marketing_consent": [{"channel": "web", "granted": True}]},
    )
    view = staff_api.get(f"/customers/{customer.pk}/360").json()
    assert view["customer"]["email"] == "me@example.com" and view["customer"]["has_account"] is True
    assert [i["channel"] for i in view["identities"]] == ["marketplace"]
    assert view["addresses"][0]["city"] == "Leeds"
    assert view["preferences"]["language"] == "en-GB"
    assert view["preferences"]["marketing_consent"][0]["channel"] == "web"
    assert view["orders"]["items"] == []


# --- the shopper's own profile --------------------------------------------------------------------------


def test_a_shopper_changes_name_and_phone_but_not_e_mail(me):
    response = me.patch("/customers/me", {"first_name": "Mia", "phone": "07911 123456"})
    assert response.status_code == 200
    assert (response.json()["first_name"], response.json()["phone"]) == ("Mia", "+447911123456")
    assert error_of(me.patch("/customers/me", {"email": "other@example.com"})) == (
        422,
        "unknown_field",
        "email",
    )
    assert error_of(me.patch("/customers/me", {"phone": "nope"})) == (422, "invalid_phone", "phone")


def test_address_book_first_address_is_default_and_a_new_default_replaces_it(me):
    first = me.post(
        "/customers/me/addresses",
        {"name": "Me", "line1": "1 A St", "city": "York", "country": "gb", "postcode": "yo1 7hh"},
    )
    assert first.status_code == 201, first.content
    assert (
        first.json()["is_default_shipping"]
        and first.json()["country"] == "GB"
        and first.json()["postcode"] == "YO1 7HH"
    )
    second = me.post(
        "/customers/me/addresses",
        {
            "name": "Me",
            "line1": "2 B St",
            "city": "Hull",
            "country": "GB",
            "is_default_shipping": True,
            "phone": "01482 300300",
        },
    )
    assert second.json()["is_default_shipping"] and second.json()["phone"] == "+441482300300"
    book = {a["city"]: a for a in me.get("/customers/me/addresses").json()}
    assert not book["York"]["is_default_shipping"] and book["York"]["is_default_billing"]
    changed = me.patch(
        f"/customers/me/addresses/{first.json()['id']}", {"is_default_shipping": True, "line2": "Flat 3"}
    )
    assert changed.json()["is_default_shipping"] and changed.json()["line2"] == "Flat 3"
    assert me.delete(f"/customers/me/addresses/{first.json()['id']}").status_code == 204
    left = me.get("/customers/me/addresses").json()
    assert [a["city"] for a in left] == ["Hull"]
    assert left[0]["is_default_shipping"] and left[0]["is_default_billing"]  # the defaults passed on


def test_adding_an_address_twice_with_one_idempotency_key_adds_it_once(me):
    body = {"name": "Me", "line1": "1 A St", "city": "York", "country": "GB"}
    first = me.post("/customers/me/addresses", body, headers={"Idempotency-Key": "addr-1"})
    again = me.post("/customers/me/addresses", body, headers={"Idempotency-Key": "addr-1"})
    assert first.json() == again.json() and Address.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"name": "Me", "line1": "1 A St", "city": "York", "country": "XX"},
            (422, "invalid_country", "country"),
        ),
        (
            {"name": "Me", "line1": "1 A St", "city": "York", "country": "GBR"},
            (422, "validation_error", "country"),
        ),
        ({"name": "Me", "line1": "1 A St", "city": "York"}, (422, "required", "country")),
        ({"name": "Me", "line1": "  ", "city": "York", "country": "GB"}, (422, "validation_error", "line1")),
        (
            {"name": "Me", "line1": "1 A St", "city": "York", "country": "GB", "phone": "12"},
            (422, "invalid_phone", "phone"),
        ),
        (
            {"name": "Me", "line1": "1 A St", "city": "York", "country": "GB", "floor": 2},
            (422, "unknown_field", "floor"),
        ),
    ],
)
def test_bad_addresses_are_refused_and_nothing_is_written(me, body, expected):
    assert error_of(me.post("/customers/me/addresses", body)) == expected
    assert Address.objects.count() == 0


def test_bad_address_changes_are_refused(me):
    created = me.post(
        "/customers/me/addresses", {"name": "Me", "line1": "1 A St", "city": "York", "country": "GB"}
    ).json()
    path = f"/customers/me/addresses/{created['id']}"
    assert error_of(me.patch(path, {"country": "ZZ"})) == (422, "invalid_country", "country")
    assert error_of(me.patch(path, {"city": None})) == (422, "validation_error", "city")
    assert error_of(me.patch("/customers/me/addresses/999999", {"city": "Hull"})) == (
        404,
        "address_not_found",
        "address_id",
    )
    assert me.get("/customers/me/addresses").json()[0]["country"] == "GB"


def test_preferences_language_favourites_and_consent_with_its_source_and_time(me, web_channel):
    shoes = Category.objects.create(name="Shoes", slug="shoes", path="shoes")
    response = me.patch(
        "/customers/me/preferences",
        {
            "language": "zh-Hans",
            "favourite_categories": [shoes.pk],
            "marketing_consent": [{"channel": "web", "granted": True}],
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["language"] == "zh-Hans" and body["favourite_categories"] == [shoes.pk]
    consent = body["marketing_consent"][0]
    assert consent["granted"] is True and consent["source"] == "customer_account" and consent["recorded_at"]
    withdrawn = me.patch(
        "/customers/me/preferences", {"marketing_consent": [{"channel": "web", "granted": False}]}
    ).json()
    assert withdrawn["marketing_consent"][0]["granted"] is False
    assert withdrawn["language"] == "zh-Hans"  # untouched fields stay


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"language": "klingon-xx"}, (422, "invalid_language", "language")),
        ({"favourite_categories": [999999]}, (404, "category_not_found", "favourite_categories")),
        (
            {"marketing_consent": [{"channel": "nope", "granted": True}]},
            (404, "channel_not_found", "marketing_consent[0].channel"),  # one status per code
        ),
        ({"marketing_consent": [{"channel": "web"}]}, (422, "required", "marketing_consent[0].granted")),
        ({"colour": "red"}, (422, "unknown_field", "colour")),
    ],
)
def test_bad_preferences_are_refused(me, web_channel, body, expected):
    assert error_of(me.patch("/customers/me/preferences", body)) == expected
    assert me.get("/customers/me/preferences").json()["marketing_consent"] == []


# --- merges ---------------------------------------------------------------------------------------------


def test_staff_merge_and_undo_through_the_api(staff_api, web_channel, market_channel):
    a = resolve_customer(channel=web_channel, email="a@example.com").customer
    b = resolve_customer(channel=market_channel, external_id="MK-123123", email="b@example.com").customer
    merged = staff_api.post(
        "/customers/merges",
        {"survivor": a.pk, "merged": b.pk, "reason": "same phone"},
        headers={"Idempotency-Key": "m-1"},
    )
    assert merged.status_code == 201, merged.content
    record = merged.json()
    assert record["moved"] == {"customers.channelidentity": 1} and record["actor"] == "staff"
    replay = staff_api.post(
        "/customers/merges",
        {"survivor": a.pk, "merged": b.pk, "reason": "same phone"},
        headers={"Idempotency-Key": "m-1"},
    )
    assert replay.json() == record and MergeRecord.objects.count() == 1
    assert staff_api.get(f"/customers/{b.pk}").json()["merged_into"] == a.pk
    assert [m["id"] for m in staff_api.get("/customers/merges", {"customer": b.pk}).json()["items"]] == [
        record["id"]
    ]
    undone = staff_api.post(f"/customers/merges/{record['id']}/undo")
    assert undone.status_code == 200 and undone.json()["undone_at"]
    assert staff_api.get(f"/customers/{b.pk}").json()["merged_into"] is None
    assert error_of(staff_api.post(f"/customers/merges/{record['id']}/undo")) == (
        409,
        "merge_already_undone",
        "merge_id",
    )


def test_merge_errors_have_codes(staff_api, web_channel):
    a = resolve_customer(channel=web_channel, email="a@example.com").customer
    b = resolve_customer(channel=web_channel, email="b@example.com").customer
    c = resolve_customer(channel=web_channel, email="c@example.com").customer
    assert error_of(staff_api.post("/customers/merges", {"survivor": a.pk, "merged": a.pk})) == (
        409,
        "merge_into_self",
        "merged",
    )
    staff_api.post("/customers/merges", {"survivor": a.pk, "merged": b.pk})
    assert error_of(staff_api.post("/customers/merges", {"survivor": c.pk, "merged": b.pk})) == (
        409,
        "customer_already_merged",
        "merged",
    )
    assert error_of(staff_api.post("/customers/merges", {"survivor": 999999, "merged": c.pk})) == (
        404,
        "customer_not_found",
        "customer_id",
    )
    assert error_of(staff_api.post("/customers/merges", {"survivor": a.pk})) == (422, "required", "merged")
    assert error_of(staff_api.post("/customers/merges", {"survivor": a.pk, "merged": c.pk, "score": 7})) == (
        422,
        "validation_error",
        "score",
    )
    assert error_of(staff_api.post("/customers/merges/999999/undo")) == (404, "merge_not_found", "merge_id")


def test_duplicate_candidates_through_the_api(staff_api, web_channel):
    a = Customer.objects.create(first_name="Ann", email="ann@example.com")
    b = Customer.objects.create(first_name="Ann", email="ann@example.com")
    pairs = staff_api.get("/customers/duplicates", {"min_score": 0.9}).json()
    assert pairs == [
        {"customer_a": a.pk, "customer_b": b.pk, "score": 1.0, "reasons": ["same e-mail ann@example.com"]}
    ]
    assert error_of(staff_api.get("/customers/duplicates", {"min_score": 2})) == (
        422,
        "validation_error",
        "min_score",
    )
    assert error_of(staff_api.get("/customers/duplicates", {"limit": 0})) == (
        422,
        "validation_error",
        "limit",
    )


def test_merge_history_pages_and_refuses_bad_parameters(staff_api, api, web_channel):
    customers = [resolve_customer(channel=web_channel, email=f"{n}@example.com").customer for n in "abcd"]
    for merged in customers[1:]:
        staff_api.post("/customers/merges", {"survivor": customers[0].pk, "merged": merged.pk})
    first = staff_api.get("/customers/merges", {"limit": 2}).json()
    rest = staff_api.get("/customers/merges", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert error_of(staff_api.get("/customers/merges", {"cursor": "bogus"})) == (
        422,
        "invalid_cursor",
        "cursor",
    )
    assert error_of(staff_api.get("/customers/merges", {"limit": 1000})) == (422, "validation_error", "limit")
    assert error_of(staff_api.get("/customers/merges", {"customer": "x"})) == (
        422,
        "validation_error",
        "customer",
    )
    assert api.get("/customers/merges").status_code == 401
