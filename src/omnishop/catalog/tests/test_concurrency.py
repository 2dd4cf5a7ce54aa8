"""Races between real parallel connections on PostgreSQL: the database's unique indexes and row locks,
not luck, decide the winner, and the loser gets a clean domain error."""

import threading

import pytest
from django.db import connection, connections

from omnishop.catalog import services
from omnishop.catalog.models import Product, SupplierOffer, Variant

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")


def run_in_parallel(*jobs) -> list[str]:
    """Start every job at the same moment on its own connection; 'ok' or the domain error code of each."""
    barrier, outcomes = threading.Barrier(len(jobs)), [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            job()
            outcomes[index] = "ok"
        except Exception as exc:  # recorded and asserted by the caller
            outcomes[index] = getattr(exc, "code", repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_products_racing_for_one_sku_leave_exactly_one_product():
    def create(title):
        return lambda: services.create_product(
            title=title,
            variants=[services.NewVariant(sku=f"{title}-own"), services.NewVariant(sku="CONTESTED")],
        )

    outcomes = run_in_parallel(create("left"), create("right"))
    assert sorted(outcomes) == ["duplicate_sku", "ok"]
    assert Product.objects.count() == 1
    assert Variant.objects.count() == 2  # the loser's own variant was rolled back with it


def test_two_concurrent_make_preferred_calls_leave_exactly_one_preferred_offer(make_product):
    variant = make_product("Hoodie").variants.first()
    offers = [
        services.create_offer(
            supplier=services.create_supplier(code=f"s{n}", name=f"S{n}"), variant=variant, cost="1"
        )
        for n in range(2)
    ]

    def prefer(offer):
        return lambda: services.update_offer(offer=SupplierOffer.objects.get(pk=offer.pk), is_preferred=True)

    assert run_in_parallel(*(prefer(o) for o in offers)) == ["ok", "ok"]
    assert SupplierOffer.objects.filter(variant=variant, is_preferred=True).count() == 1
