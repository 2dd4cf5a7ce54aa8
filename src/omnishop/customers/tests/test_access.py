"""Who may see and change which customers: anonymous, two shoppers, keys of two channels, a key without
the scope, staff with and without the permission."""

import pytest
from django.test import Client

from omnishop.conftest import ApiClient
from omnishop.customers.models import Customer
from omnishop.customers.services import add_address, resolve_customer

from .conftest import Headless

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(api, make_channel, make_key, staff_api, django_user_model):
    x = make_channel("web-x", "web", "GBP")
    y = make_channel("market-y", "marketplace", "EUR", country="DE")
    on_x = resolve_customer(
        channel=x, email="xena@example.com", external_id="X-000001", first_name="Xena"
    ).customer
    on_y = resolve_customer(
        channel=y, email="yuri@example.com", external_id="Y-000001", first_name="Yuri"
    ).customer
    # One person on both channels: channel X must not see what Y knows about them.
    both = resolve_customer(channel=x, email="bo@example.com", first_name="Bo").customer
    resolve_customer(channel=y, external_id="Y-000002", email="bo@example.com", phone="+4915112345678")
    headless = Headless()
    token_a, token_b = headless.sign_up("shopper.a@example.com"), headless.sign_up("shopper.b@example.com")
    plain_staff = django_user_model.objects.create_user(
        username="clerk", email="clerk@example.com", password="x", is_staff=True
    )
    clerk = Client()
    clerk.force_login(plain_staff)
    return {
        "x": x,
        "y": y,
        "on_x": on_x,
        "on_y": on_y,
        "both": both,
        "callers": {
            "anonymous": api,
            "shopper A": api.with_session(token_a),
            "shopper B": api.with_session(token_b),
            "key X": api.with_key(make_key(x, scopes=["customers:read", "customers:write"])),
            "key Y": api.with_key(make_key(y, scopes=["customers:read", "customers:write"])),
            "key without scope": api.with_key(make_key(x, scopes=["catalog:read"])),
            "staff": staff_api,
            "staff without permission": ApiClient(clerk),
        },
    }


CALLERS = [
    "anonymous",
    "shopper A",
    "shopper B",
    "key X",
    "key Y",
    "key without scope",
    "staff",
    "staff without permission",
]


@pytest.mark.parametrize(
    ("caller", "status"),
    list(zip(CALLERS, [401, 403, 403, 200, 404, 403, 200, 403], strict=True)),
)
def test_reading_a_customer_known_on_channel_x(world, caller, status):
    client = world["callers"][caller]
    for path in (f"/customers/{world['on_x'].pk}", f"/customers/{world['on_x'].pk}/360"):
        response = client.get(path)
        assert response.status_code == status, (path, response.content)
        if status == 200:
            assert world["on_x"].pk in (
                response.json().get("id"),
                response.json().get("customer", {}).get("id"),
            )


@pytest.mark.parametrize(
    ("caller", "status", "visible"),
    [
        ("anonymous", 401, None),
        ("shopper A", 403, None),
        ("key X", 200, {"on_x", "both"}),
        ("key Y", 200, {"on_y", "both"}),
        ("key without scope", 403, None),
        ("staff", 200, {"on_x", "on_y", "both"}),
        ("staff without permission", 403, None),
    ],
)
def test_listing_customers(world, caller, status, visible):
    response = world["callers"][caller].get("/customers")
    assert response.status_code == status, response.content
    if visible is not None:
        ids = {item["id"] for item in response.json()["items"]}
        expected = {world[name].pk for name in visible}
        # Staff also see the two shoppers who signed up.
        assert ids == expected if caller != "staff" else expected <= ids


def test_a_channel_never_sees_what_another_channel_knows(world):
    both = world["both"]
    view = world["callers"]["key X"].get(f"/customers/{both.pk}/360").json()
    assert [i["channel"] for i in view["identities"]] == ["web-x"]
    assert view["customer"]["phone"] == ""  # the phone came from channel Y
    assert view["addresses"] == [] and "has_account" not in view["customer"]
    listed = world["callers"]["key X"].get("/customers", {"q": "Bo"}).json()["items"]
    assert listed[0]["phone"] == ""
    staff_view = world["callers"]["staff"].get(f"/customers/{both.pk}/360").json()
    assert {i["channel"] for i in staff_view["identities"]} == {"web-x", "market-y"}
    assert staff_view["customer"]["phone"] == "+4915112345678"


@pytest.mark.parametrize(
    ("caller", "status"),
    list(zip(CALLERS, [401, 200, 200, 403, 403, 403, 200, 200], strict=True)),
)
def test_my_profile_is_only_ever_my_own(world, caller, status):
    response = world["callers"][caller].get("/customers/me")
    assert response.status_code == status
    if caller.startswith("shopper"):
        assert response.json()["email"] == f"shopper.{caller[-1].lower()}@example.com"


def test_a_shopper_cannot_touch_another_shoppers_address(world):
    a, b = world["callers"]["shopper A"], world["callers"]["shopper B"]
    created = a.post(
        "/customers/me/addresses", {"name": "A", "line1": "1 A St", "city": "York", "country": "GB"}
    )
    assert created.status_code == 201
    address_id = created.json()["id"]
    assert b.patch(f"/customers/me/addresses/{address_id}", {"city": "Hull"}).status_code == 404
    assert b.delete(f"/customers/me/addresses/{address_id}").status_code == 404
    assert b.get("/customers/me/addresses").json() == []
    assert a.get("/customers/me/addresses").json()[0]["city"] == "York"


@pytest.mark.parametrize(
    ("caller", "status"),
    list(zip(CALLERS, [401, 403, 403, 201, 201, 403, 201, 403], strict=True)),
)
def test_recording_a_customer_from_a_channel(world, caller, status):
    body = {"email": f"new.{caller.replace(' ', '')}@example.com"}
    if caller.startswith("staff"):
        body["channel"] = "web-x"
    response = world["callers"][caller].post("/customers", body)
    assert response.status_code == status, response.content
    if caller in ("key X", "key Y"):
        expected = "web-x" if caller == "key X" else "market-y"
        assert response.json()["identity"]["channel"] == expected


def test_a_channel_key_cannot_record_customers_on_another_channel(world):
    response = world["callers"]["key X"].post("/customers", {"channel": "market-y", "email": "z@example.com"})
    assert response.status_code == 404  # another channel's code is answered like an unknown one
    assert response.json()["error"]["code"] == "channel_not_found"
    assert response.json()["error"]["field"] == "channel"


@pytest.mark.parametrize(
    ("caller", "status"),
    list(zip(CALLERS, [401, 403, 403, 403, 403, 403, 201, 403], strict=True)),
)
def test_only_staff_with_the_permission_merge(world, caller, status):
    body = {"survivor": world["on_x"].pk, "merged": world["on_y"].pk}
    response = world["callers"][caller].post("/customers/merges", body)
    assert response.status_code == status, response.content
    assert Customer.objects.filter(merged_into__isnull=False).count() == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    ("caller", "status"),
    list(zip(CALLERS, [401, 403, 403, 403, 403, 403, 200, 403], strict=True)),
)
def test_only_staff_see_duplicate_candidates(world, caller, status):
    assert world["callers"][caller].get("/customers/duplicates").status_code == status


def test_staff_see_the_address_book_in_the_360_view(world):
    add_address(customer=world["on_x"], name="Xena", line1="1 X Rd", city="Leeds", country="GB")
    view = world["callers"]["staff"].get(f"/customers/{world['on_x'].pk}/360").json()
    assert [a["city"] for a in view["addresses"]] == ["Leeds"]
    assert view["orders"]["items"] == []  # no orders yet


def test_the_360_view_shows_orders_across_channels_but_a_channel_only_its_own(world):
    from model_bakery import baker

    from omnishop.orders.models import Order

    both = world["both"]
    baker.make(Order, customer=both, channel=world["x"], number="X-1001", currency="GBP", total="19.99")
    baker.make(Order, customer=both, channel=world["y"], number="Y-2002", currency="EUR", total="5.00")
    staff_view = world["callers"]["staff"].get(f"/customers/{both.pk}/360").json()["orders"]
    assert staff_view["available"] is True
    assert sorted(o["number"] for o in staff_view["items"]) == ["X-1001", "Y-2002"]
    key_view = world["callers"]["key X"].get(f"/customers/{both.pk}/360").json()["orders"]
    assert [o["number"] for o in key_view["items"]] == ["X-1001"]
