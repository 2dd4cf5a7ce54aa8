"""Back-office screens of the connectors: credentials never shown, logs and reports listed, the actions."""

from __future__ import annotations

from omnishop.connectors.models import ConnectorTask, ReconcileReport

from .conftest import drain


def test_connection_screens_mask_credentials(shopify_shop, staff_api):
    shopify_shop.connection.access_token = "shpat_0123456789abcdef"
    shopify_shop.connection.save()
    client = staff_api.client
    listing = client.get("/admin/connectors/channelconnection/")
    assert listing.status_code == 200
    page = client.get(f"/admin/connectors/channelconnection/{shopify_shop.connection.pk}/change/")
    assert page.status_code == 200
    for body in (listing.content, page.content):
        assert b"shpat_0123456789abcdef" not in body and b"shopify-app-secret" not in body
    assert "shpa…cdef".encode() in listing.content and "shpa…cdef".encode() in page.content


def test_every_connector_screen_lists(shopify_shop, staff_api):
    shopify_shop.variant(sku="A", stock=1)
    shopify_shop.fake.add_product(sku="A")
    shopify_shop.fake.add_order(lines=[("A", 1, "10.00")])
    from omnishop.connectors import services

    services.sync_now(connection=shopify_shop.connection)
    drain()
    services.reconcile(connection=shopify_shop.connection)
    for name in ("listingmapping", "ordermapping", "connectortask", "synclog", "reconcilereport"):
        response = staff_api.client.get(f"/admin/connectors/{name}/")
        assert response.status_code == 200, name
    report = ReconcileReport.objects.get()
    assert staff_api.client.get(f"/admin/connectors/reconcilereport/{report.pk}/change/").status_code == 200


def test_sync_now_and_reconcile_now_actions(shopify_shop, staff_api):
    shopify_shop.variant(sku="A", stock=4)
    shopify_shop.fake.add_product(sku="A")
    url = "/admin/connectors/channelconnection/"
    pk = str(shopify_shop.connection.pk)
    response = staff_api.client.post(url, {"action": "sync_now", "_selected_action": [pk]}, follow=True)
    assert response.status_code == 200
    assert set(ConnectorTask.objects.values_list("operation", flat=True)) == {
        "pull_orders",
        "listing",
        "stock",
    }
    drain()
    assert shopify_shop.fake.available("A") == 4
    response = staff_api.client.post(url, {"action": "reconcile_now", "_selected_action": [pk]}, follow=True)
    assert response.status_code == 200 and b"1 checked" in response.content
    assert ReconcileReport.objects.get().status == "ok"


def test_retry_now_makes_a_failed_task_due_or_lets_a_newer_one_win(shopify_shop, staff_api):
    from omnishop.connectors import services

    old = services.enqueue(connection=shopify_shop.connection, operation="stock", key="A")
    ConnectorTask.objects.filter(pk=old.pk).update(status="failed", error_code="http_5xx")
    newer = services.enqueue(connection=shopify_shop.connection, operation="stock", key="A")
    other = services.enqueue(connection=shopify_shop.connection, operation="cancel", key="N-1")
    ConnectorTask.objects.filter(pk=other.pk).update(status="failed", attempts=25)
    url = "/admin/connectors/connectortask/"
    staff_api.client.post(url, {"action": "retry_now", "_selected_action": [old.pk, other.pk]}, follow=True)
    assert ConnectorTask.objects.get(pk=old.pk).error_code == "superseded"
    assert ConnectorTask.objects.get(pk=newer.pk).status == "pending"
    assert ConnectorTask.objects.get(pk=other.pk).status == "pending"


def test_the_nightly_reconcile_job_runs_every_connection(shopify_shop, woo_shop):
    from omnishop.connectors import tasks

    assert tasks.reconcile_all() == 2
    assert ReconcileReport.objects.filter(status="ok").count() == 2
