"""Suppliers and their offers: clean contact data, private costs, and one preferred offer per variant."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from omnishop.catalog import services
from omnishop.catalog.models import Supplier, SupplierOffer

pytestmark = pytest.mark.django_db


def error(response):
    return response.json()["error"]


def test_a_national_phone_number_is_stored_in_e164_for_the_suppliers_country(staff_api):
    response = staff_api.post(
        "/catalog/suppliers",
        {
            "code": "lyon-knit",
            "name": "Lyon Knit",
            "phone": "04 78 12 34 56",
            "country": "fr",
            "currency": "eur",
            "email": "Ventes@Lyon-Knit.example",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["phone"], body["country"], body["currency"]) == ("+33478123456", "FR", "EUR")
    assert (
        body["email"] == "Ventes@lyon-knit.example"
    )  # the domain is case-insensitive, the local part is not


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("phone", "12", "invalid_phone"),
        ("phone", "call me", "invalid_phone"),
        ("email", "not-an-email", "invalid_email"),
        ("email", "a@b", "invalid_email"),
        ("currency", "ZZZ", "invalid_currency"),
        ("country", "XX", "invalid_country"),
        ("code", "no spaces allowed", "validation_error"),
    ],
)
def test_bad_supplier_details_are_refused_with_the_field(staff_api, field, value, code):
    body = {"code": "acme", "name": "Acme", "country": "GB", field: value}
    response = staff_api.post("/catalog/suppliers", body)
    assert response.status_code == 422, response.content
    assert (error(response)["code"], error(response)["field"]) == (code, field)
    assert not Supplier.objects.exists()


def test_a_supplier_code_is_unique(staff_api, supplier):
    response = staff_api.post("/catalog/suppliers", {"code": "acme", "name": "Other"})
    assert response.status_code == 409 and error(response)["code"] == "duplicate_supplier"


def test_changing_the_country_re_reads_the_phone(supplier):
    services.update_supplier(supplier=supplier, phone="030 901820", country="DE")
    assert supplier.phone == "+4930901820"


def test_making_an_offer_preferred_unsets_the_other(staff_api, supplier, hoodie):
    variant = hoodie.variants.get(sku="HOOD-M")
    other = services.create_supplier(code="bolt", name="Bolt Mills", currency="EUR")
    first = services.create_offer(supplier=supplier, variant=variant, cost="7.5000", is_preferred=True)
    response = staff_api.post(
        "/catalog/supplier-offers",
        {
            "supplier_id": other.pk,
            "variant_id": variant.pk,
            "cost": "6.8125",
            "is_preferred": True,
            "pack_size": 12,
            "min_order_quantity": 48,
            "lead_time_days": 21,
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "EUR" and response.json()["cost"] == "6.8125"
    assert list(SupplierOffer.objects.filter(is_preferred=True).values_list("supplier__code", flat=True)) == [
        "bolt"
    ]
    staff_api.patch(f"/catalog/supplier-offers/{first.pk}", {"is_preferred": True})
    assert list(SupplierOffer.objects.filter(is_preferred=True).values_list("supplier__code", flat=True)) == [
        "acme"
    ]


def test_offers_default_to_the_suppliers_currency_and_lead_time(supplier, hoodie):
    offer = services.create_offer(supplier=supplier, variant=hoodie.variants.first(), cost="2")
    assert (offer.currency, offer.lead_time_days, offer.cost) == ("GBP", 7, Decimal("2.0000"))


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"cost": "-1"}, "invalid_amount", "cost"),
        ({"cost": "1.00001"}, "invalid_amount", "cost"),
        ({"cost": 1.5}, "validation_error", "cost"),
        ({"min_order_quantity": 0}, "validation_error", "min_order_quantity"),
        ({"pack_size": 0}, "validation_error", "pack_size"),
        ({"lead_time_days": -1}, "validation_error", "lead_time_days"),
        ({"currency": "ABC"}, "invalid_currency", "currency"),
        ({"variant_id": 99999}, "variant_not_found", "variant_id"),
        ({"supplier_id": 99999}, "supplier_not_found", "supplier_id"),
        ({"freight_per_unit": "-0.01"}, "invalid_amount", "freight_per_unit"),
        ({"freight_per_unit": "0.00001"}, "invalid_amount", "freight_per_unit"),
        ({"duty_percent": "-1"}, "validation_error", "duty_percent"),
        ({"duty_percent": "1000"}, "validation_error", "duty_percent"),
        ({"duty_percent": "2.00001"}, "validation_error", "duty_percent"),
    ],
)
def test_bad_offers_are_refused(staff_api, supplier, hoodie, change, code, field):
    body = {"supplier_id": supplier.pk, "variant_id": hoodie.variants.first().pk, "cost": "1.00", **change}
    response = staff_api.post("/catalog/supplier-offers", body)
    assert response.status_code in (404, 422), response.content
    assert (error(response)["code"], error(response)["field"]) == (code, field)
    assert not SupplierOffer.objects.exists()


def test_a_supplier_offers_a_variant_once(staff_api, supplier, hoodie):
    variant = hoodie.variants.first()
    services.create_offer(supplier=supplier, variant=variant, cost="1")
    response = staff_api.post(
        "/catalog/supplier-offers", {"supplier_id": supplier.pk, "variant_id": variant.pk, "cost": "2"}
    )
    assert response.status_code == 409 and error(response)["code"] == "duplicate_offer"


def test_products_can_be_filtered_by_supplier(staff_api, supplier, hoodie, make_product):
    make_product("Not from acme")
    services.create_offer(supplier=supplier, variant=hoodie.variants.first(), cost="1")
    found = staff_api.get("/catalog/products", {"supplier": supplier.pk}).json()["items"]
    assert [p["id"] for p in found] == [hoodie.pk]


@pytest.fixture
def offer(supplier, hoodie):
    return services.create_offer(supplier=supplier, variant=hoodie.variants.first(), cost="3.25")


COST_MATRIX = [
    # caller, read offers, create/change offers
    ("anonymous", 401, 401),
    ("read-only key", 403, 403),
    ("write key", 200, 200),
    ("other channel's write key", 200, 200),  # costs are merchant-wide, not per channel
    ("staff without permission", 403, 403),
    ("staff with permission", 200, 200),
]


@pytest.mark.parametrize(("caller", "read", "write"), COST_MATRIX)
def test_costs_are_private_merchant_data(
    api, make_key, make_staff, web_channel, market_channel, offer, caller, read, write
):
    client = {
        "anonymous": lambda: api,
        "read-only key": lambda: api.with_key(make_key(web_channel, scopes=["catalog:read"])),
        "write key": lambda: api.with_key(make_key(web_channel, scopes=["catalog:read", "catalog:write"])),
        "other channel's write key": lambda: api.with_key(make_key(market_channel, scopes=["catalog:write"])),
        "staff without permission": lambda: make_staff("view_product"),
        "staff with permission": lambda: make_staff(
            "view_supplieroffer", "change_supplieroffer", "view_supplier"
        ),
    }[caller]()
    assert client.get("/catalog/supplier-offers").status_code == read
    assert client.get(f"/catalog/supplier-offers/{offer.pk}").status_code == read
    assert client.get("/catalog/suppliers").status_code == read
    assert client.patch(f"/catalog/supplier-offers/{offer.pk}", {"cost": "3.50"}).status_code == write
    assert SupplierOffer.objects.get().cost == (Decimal("3.50") if write == 200 else Decimal("3.25"))


def test_a_read_only_key_cannot_find_products_by_supplier(api, make_key, web_channel, supplier):
    key = api.with_key(make_key(web_channel, scopes=["catalog:read"]))
    response = key.get("/catalog/products", {"supplier": supplier.pk})
    assert response.status_code == 403 and error(response)["field"] == "supplier"


def test_deleting_a_supplier_removes_its_offers(staff_api, supplier, offer):
    assert staff_api.delete(f"/catalog/suppliers/{supplier.pk}").status_code == 204
    assert not SupplierOffer.objects.exists()
    assert error(staff_api.get(f"/catalog/suppliers/{supplier.pk}"))["code"] == "supplier_not_found"


@pytest.mark.parametrize(
    ("cost", "freight", "duty", "landed"),
    [
        ("2.5000", "0.3000", "12.5", "3.1125"),  # 2.50 + 0.30 + 12.5 % of 2.50
        ("2.5000", "0", "0", "2.5000"),  # no landed components: the cost itself
        ("1.0001", "0", "50", "1.5002"),  # 1.50015 rounds half up
        ("1.0003", "0", "50", "1.5005"),  # 1.50045 rounds half up, not to even
        ("0.0000", "0.7500", "20", "0.7500"),  # free goods still cost their freight
    ],
)
def test_landed_unit_cost_is_cost_plus_freight_plus_duty_on_the_cost_rounded_half_up(
    cost, freight, duty, landed
):
    result = services.landed_unit_cost(
        cost=Decimal(cost), freight_per_unit=Decimal(freight), duty_percent=Decimal(duty)
    )
    assert result == Decimal(landed) and result.as_tuple().exponent == -4


def test_an_offers_landed_cost_components_round_trip_through_the_api(staff_api, supplier, hoodie):
    variant = hoodie.variants.first()
    created = staff_api.post(
        "/catalog/supplier-offers",
        {
            "supplier_id": supplier.pk,
            "variant_id": variant.pk,
            "cost": "2.50",
            "freight_per_unit": "0.3",
            "duty_percent": "12.5",
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["freight_per_unit"], body["duty_percent"], body["landed_unit_cost"]) == (
        "0.3000",
        "12.5000",
        "3.1125",
    )
    changed = staff_api.patch(f"/catalog/supplier-offers/{body['id']}", {"duty_percent": "0"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["landed_unit_cost"] == "2.8000"
    read = staff_api.get(f"/catalog/supplier-offers/{body['id']}").json()
    assert (read["freight_per_unit"], read["duty_percent"], read["landed_unit_cost"]) == (
        "0.3000",
        "0.0000",
        "2.8000",
    )
    plain = services.create_offer(supplier=supplier, variant=hoodie.variants.last(), cost="4")
    assert (plain.freight_per_unit, plain.duty_percent) == (Decimal(0), Decimal(0))


@pytest.mark.parametrize("field", ["freight_per_unit", "duty_percent"])
def test_the_database_refuses_negative_landed_cost_components(supplier, hoodie, field):
    with pytest.raises(IntegrityError), transaction.atomic():
        SupplierOffer.objects.create(
            supplier=supplier,
            variant=hoodie.variants.first(),
            cost=Decimal(1),
            currency="GBP",
            **{field: Decimal("-0.0001")},
        )
