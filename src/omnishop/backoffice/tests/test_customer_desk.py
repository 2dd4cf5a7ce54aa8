"""The customer desk through the Django test client: search, the 360 with every channel's orders, a merge
previewed then confirmed then undone, the duplicates queue, and who may do which."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from omnishop.customers import services as customers
from omnishop.customers.models import Customer, DistinctPair, MergeRecord
from omnishop.inventory import services as inventory
from omnishop.orders import services as orders
from omnishop.orders.tests.conftest import Shop
from omnishop.payments import credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def clerk(django_user_model):
    """Staff with a role to add permissions to; none at first."""

    def make(*codenames: str) -> Client:
        user = django_user_model.objects.create_user(
            username=f"clerk{len(codenames)}", password="x", is_staff=True
        )
        for codename in codenames:
            app, name = codename.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=name))
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def two_channel_customer(web_channel, market_channel, make_key):
    """Ada, known to the web shop and to a marketplace, with an order on each and store credit."""
    warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
    for channel in (web_channel, market_channel):
        inventory.set_channel_locations(channel=channel, location_codes=[warehouse.code])
    web, market = Shop(web_channel, warehouse, make_key), Shop(market_channel, warehouse, make_key)
    ada = customers.resolve_customer(
        channel=web_channel, email="ada@example.com", first_name="Ada", last_name="Lovelace"
    ).customer
    customers.resolve_customer(channel=market_channel, external_id="AMZ-BUYER-77", email="ada@example.com")
    web_order = web.checkout({web.variant(price="10.00"): 1}, key="w1", customer=ada)
    market_order, _ = orders.create_channel_order(
        channel=market_channel,
        lines=[orders.ChannelLine(market.variant(price="20.00").sku, 1)],
        external_id="AMZ-ORDER-1",
        customer=ada,
        actor="channel:marketplace",
    )
    credit.issue_credit(customer=ada, amount=Decimal("7.50"), currency="GBP", key="goodwill-1")
    for fulfilment in orders.create_fulfilments(order=web_order, actor="t"):
        orders.ship_fulfilment(fulfilment=fulfilment, carrier="dhl", tracking_number="T1", actor="t")
        orders.mark_delivered(fulfilment=fulfilment, actor="t")
    orders.request_return(
        order=web_order, lines=[(web_order.lines.get().pk, 1, "too small")], actor="shopper"
    )
    customers.add_address(
        customer=ada,
        name="Ada Lovelace",
        line1="1 Analytical Row",
        city="London",
        postcode="N1 1AA",
        country="GB",
    )
    customers.update_preferences(
        customer=ada,
        language="en-GB",
        consents=[customers.ConsentChange(channel="web", granted=True)],
    )
    return ada, web_order, market_order


def test_anonymous_visitors_are_sent_to_the_admin_log_in(client):
    response = client.get("/admin/ops/customers/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "url", ["/admin/ops/customers/", "/admin/ops/customers/duplicates/", "/admin/ops/customers/{pk}/"]
)
def test_staff_without_the_customer_permission_get_403(clerk, url):
    ada = Customer.objects.create(first_name="Ada")
    assert clerk().get(url.format(pk=ada.pk)).status_code == 403


def test_merging_needs_the_merge_permission_even_for_those_who_may_view(clerk):
    ada, twin = Customer.objects.create(first_name="Ada"), Customer.objects.create(first_name="Ada")
    viewer = clerk("customers.view_customer")
    assert viewer.get(f"/admin/ops/customers/{ada.pk}/").status_code == 200
    assert viewer.get(f"/admin/ops/customers/{ada.pk}/merge/").status_code == 403
    posted = viewer.post(
        "/admin/ops/customers/duplicates/",
        {"customer_a": ada.pk, "customer_b": twin.pk, "decision": "distinct"},
    )
    assert posted.status_code == 403 and not DistinctPair.objects.exists()


def test_a_customer_is_found_by_a_marketplace_buyer_id(admin_client_, two_channel_customer):
    ada, _, _ = two_channel_customer
    Customer.objects.create(first_name="Grace", last_name="Hopper")
    page = admin_client_.get("/admin/ops/customers/", {"q": "AMZ-BUYER-77"}).content.decode()
    assert f'href="/admin/ops/customers/{ada.pk}/"' in page and "Grace" not in page


def test_the_360_shows_orders_of_both_channels_store_credit_and_identities(
    admin_client_, two_channel_customer
):
    ada, web_order, market_order = two_channel_customer
    page = admin_client_.get(f"/admin/ops/customers/{ada.pk}/").content.decode()
    assert f'href="/admin/ops/orders/{web_order.number}/"' in page
    assert f'href="/admin/ops/orders/{market_order.number}/"' in page
    assert "7.50 GBP" in page
    assert "AMZ-BUYER-77" in page
    assert f"<td>{web_order.returns.get().number}</td>" in page
    assert "1 Analytical Row, London N1 1AA GB" in page
    assert "<td>web</td><td>Agreed</td>" in page


def test_an_unknown_customer_is_404(admin_client_):
    assert admin_client_.get("/admin/ops/customers/999999/").status_code == 404


def test_a_merge_is_previewed_then_confirmed_then_undone(admin_client_, staff_user, two_channel_customer):
    ada, _, _ = two_channel_customer
    twin = customers.resolve_customer(
        channel=ada.identities.first().channel, phone="+447911123456", first_name="A.", last_name="Lovelace"
    ).customer
    url = f"/admin/ops/customers/{ada.pk}/merge/"
    form = {"other": twin.pk, "keep": "this", "reason": "same person, two sign-ups"}

    preview = admin_client_.post(url, form)
    assert preview.status_code == 200
    text = preview.content.decode()
    assert "Please confirm" in text and "1 × channel identities" in text and "+447911123456" in text
    assert not MergeRecord.objects.exists()  # nothing happens before the confirmation

    done = admin_client_.post(url, {**form, "confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == f"/admin/ops/customers/{ada.pk}/"
    record = MergeRecord.objects.get()
    assert (record.survivor_id, record.merged_id, record.actor) == (ada.pk, twin.pk, staff_user)
    assert Customer.objects.get(pk=twin.pk).merged_into_id == ada.pk

    page = admin_client_.get(f"/admin/ops/customers/{ada.pk}/").content.decode()
    assert f"Undo merge {record.pk}" in page
    undone = admin_client_.post(f"/admin/ops/customers/{ada.pk}/undo-merge/", {"merge": record.pk})
    assert undone.status_code == 302
    assert Customer.objects.get(pk=twin.pk).merged_into_id is None
    record.refresh_from_db()
    assert record.undone_by == staff_user


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ("self", "cannot be merged into itself"),
        ("missing", "No customer 999999"),
        ("", "This field is required"),
    ],
)
def test_merge_refusals_are_shown_next_to_the_other_customer_field(admin_client_, other, message):
    ada = Customer.objects.create(first_name="Ada")
    value = {"self": ada.pk, "missing": 999999, "": ""}[other]
    response = admin_client_.post(f"/admin/ops/customers/{ada.pk}/merge/", {"other": value, "keep": "this"})
    assert response.status_code == 400
    errors = re.findall(
        r'<p class="field-error" role="alert" id="id_other_error">([^<]*)</p>', response.content.decode()
    )
    assert errors and message in errors[0]
    assert not MergeRecord.objects.exists()


def test_a_refused_confirmation_keeps_the_form_with_the_reason(admin_client_):
    ada, gone = Customer.objects.create(first_name="Ada"), Customer.objects.create(first_name="Ada")
    customers.merge_customers(survivor=ada, merged=Customer.objects.create(first_name="x"))
    customers.merge_customers(survivor=ada, merged=gone)
    response = admin_client_.post(
        f"/admin/ops/customers/{ada.pk}/merge/", {"other": gone.pk, "keep": "this", "confirm": "yes"}
    )
    assert response.status_code == 400 and "customer_already_merged" in response.content.decode()


@pytest.fixture
def look_alikes():
    a = Customer.objects.create(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    b = Customer.objects.create(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    return a, b


def test_the_duplicates_queue_shows_each_pair_with_score_and_evidence(admin_client_, look_alikes):
    a, b = look_alikes
    page = admin_client_.get("/admin/ops/customers/duplicates/").content.decode()
    assert f"Customers {a.pk} and {b.pk} — score 1.0" in page
    assert "same e-mail ada@example.com" in page


def test_not_the_same_person_removes_the_pair_from_the_queue(admin_client_, staff_user, look_alikes):
    a, b = look_alikes
    response = admin_client_.post(
        "/admin/ops/customers/duplicates/", {"customer_a": a.pk, "customer_b": b.pk, "decision": "distinct"}
    )
    assert response.status_code == 302
    assert DistinctPair.objects.get().decided_by == staff_user
    assert (
        f"Customers {a.pk} and {b.pk}"
        not in admin_client_.get("/admin/ops/customers/duplicates/").content.decode()
    )


def test_merging_from_the_queue_keeps_the_chosen_record_and_records_the_score(admin_client_, look_alikes):
    a, b = look_alikes
    admin_client_.post(
        "/admin/ops/customers/duplicates/",
        {"customer_a": a.pk, "customer_b": b.pk, "score": "1.0", "decision": "merge_into_b"},
    )
    record = MergeRecord.objects.get()
    assert (record.survivor_id, record.merged_id, record.score) == (b.pk, a.pk, 1.0)


def test_the_360_page_costs_the_same_queries_for_a_short_or_long_history(
    admin_client_, two_channel_customer, django_assert_max_num_queries
):
    ada, _, _ = two_channel_customer
    url = f"/admin/ops/customers/{ada.pk}/"
    with django_assert_max_num_queries(30) as short:
        admin_client_.get(url)
    for n in range(5):
        credit.issue_credit(customer=ada, amount=Decimal("1.00"), currency="GBP", key=f"more-{n}")
        customers.merge_customers(survivor=ada, merged=Customer.objects.create(first_name=f"Twin {n}"))
    with django_assert_max_num_queries(len(short.captured_queries)):
        page = admin_client_.get(url).content.decode()
    assert page.count("Undo merge") == 5
