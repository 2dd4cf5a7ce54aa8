"""Many shoppers reading the catalogue at once, each on its own database connection, all get the same pages.
Through PgBouncer in transaction mode (the third step of `make test`) this is what breaks if a statement is
prepared on the server: two connections' `_pg3_0` meet on one server session (ADR 0031)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import Client

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

SHOPPERS = 8
PAGES_EACH = 6


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")


def test_eight_shoppers_browsing_at_once_all_see_the_same_list_and_product_pages(
    web_channel, make_product, list_in
):
    products = [make_product(f"Jumper {n}", variants=2) for n in range(5)]
    for product in products:
        list_in(product, web_channel, ["20", "25"])
    expected_list = Client().get("/api/v1/storefront/web/products").json()
    expected_detail = Client().get(f"/api/v1/storefront/web/products/{products[0].slug}").json()
    assert len(expected_list["items"]) == 5
    together = threading.Barrier(SHOPPERS)

    def shopper(_: int) -> list[tuple[int, object]]:
        client, seen = Client(), []
        try:
            together.wait(timeout=30)
            for n in range(PAGES_EACH):
                path = "/api/v1/storefront/web/products"
                if n % 3 == 2:
                    path += f"/{products[0].slug}"
                response = client.get(path)
                seen.append((response.status_code, response.json() if response.status_code == 200 else None))
        finally:
            connections.close_all()
        return seen

    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        answers = [answer for seen in pool.map(shopper, range(SHOPPERS)) for answer in seen]
    assert [status for status, _ in answers] == [200] * SHOPPERS * PAGES_EACH
    assert all(body in (expected_list, expected_detail) for _, body in answers)
