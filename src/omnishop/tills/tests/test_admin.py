"""The back-office shows tills and the sales that went beyond stock, and staff acknowledge them."""

from __future__ import annotations

from django.urls import reverse

from omnishop.tills.models import TillSale

from .conftest import sale


def test_staff_find_the_oversold_sales_and_acknowledge_them(store, admin_client):
    store.allow_negative()
    mug = store.variant(stock=1)
    store.upload([sale((mug, 1, "10.00")), sale((mug, 2, "10.00"))])
    listing = admin_client.get(reverse("admin:tills_tillsale_changelist"), {"stock_exception": "open"})
    assert listing.status_code == 200
    flagged = TillSale.objects.get(exception="negative_stock")
    assert str(flagged.sale_id) in listing.content.decode()
    assert TillSale.objects.filter(exception="").count() == 1
    response = admin_client.post(
        reverse("admin:tills_tillsale_changelist"),
        {"action": "acknowledge", "_selected_action": [s.pk for s in TillSale.objects.all()]},
    )
    assert response.status_code == 302
    flagged.refresh_from_db()
    assert flagged.acknowledged_at is not None
    assert TillSale.objects.filter(acknowledged_at__isnull=False).count() == 1  # only the exception
    assert admin_client.get(reverse("admin:tills_till_changelist")).status_code == 200


def test_staff_find_the_oversold_stock_levels_and_the_locations_that_allow_it(store, admin_client):
    store.allow_negative()
    mug = store.variant(stock=1)
    store.upload([sale((mug, 3, "10.00"))])
    levels = admin_client.get(reverse("admin:inventory_stocklevel_changelist"), {"oversold__exact": "1"})
    assert levels.status_code == 200 and mug.sku in levels.content.decode()
    places = admin_client.get(
        reverse("admin:inventory_stocklocation_changelist"), {"allows_negative_stock__exact": "1"}
    )
    assert places.status_code == 200 and store.location.code in places.content.decode()
