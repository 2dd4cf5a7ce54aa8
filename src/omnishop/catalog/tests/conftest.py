"""Small catalog factories built on the services, so test data obeys the same rules as real data."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from omnishop.catalog import services
from omnishop.catalog.services import NewVariant
from omnishop.conftest import ApiClient

_counter = itertools.count(1)


@pytest.fixture
def make_product(db):
    def make(title: str = "Hoodie", skus: tuple[str, ...] | None = None, **kwargs):
        n = next(_counter)
        skus = skus if skus is not None else (f"SKU-{n}-A", f"SKU-{n}-B")
        variants = kwargs.pop("variants", [NewVariant(sku=s) for s in skus])
        return services.create_product(title=title, variants=variants, **kwargs)

    return make


@pytest.fixture
def hoodie(make_product):
    return make_product("Organic Hoodie", skus=("HOOD-M", "HOOD-L"), brand="Northwind")


@pytest.fixture
def make_staff(db, django_user_model):
    """A staff user (not superuser) holding exactly the given catalog permissions, and a client for them."""

    def make(*codenames: str, username: str = "clerk") -> ApiClient:
        user = django_user_model.objects.create_user(
            username=username, email=f"{username}@example.com", password="pw-pw-pw-pw", is_staff=True
        )
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames)
        )
        client = Client()
        client.force_login(user)
        return ApiClient(client)

    return make


@pytest.fixture
def supplier(db):
    return services.create_supplier(
        code="acme", name="Acme Textiles", email="orders@acme.example", phone="020 7946 0958", country="GB"
    )
