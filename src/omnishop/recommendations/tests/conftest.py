"""Fixtures for the recommendations tests: products listed on channels, customers, shoppers, events."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from omnishop.catalog.models import ChannelListing, Product, Variant

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_cache(db):
    from omnishop.recommendations.services.serving import forget_version

    cache.clear()
    forget_version()
    yield
    cache.clear()
    forget_version()


@pytest.fixture
def make_product(db):
    def make(title: str, *, channels=(), published: bool = True, description: str = "", **fields) -> Product:
        n = next(_seq)
        product = Product.objects.create(title=title, slug=f"p-{n}", description=description, **fields)
        variant = Variant.objects.create(product=product, sku=f"SKU-{n}")
        for channel in channels:
            ChannelListing.objects.create(
                channel=channel,
                variant=variant,
                is_published=published,
                price=Decimal("10.00"),
                currency=channel.currency,
            )
        return product

    return make


@pytest.fixture
def make_customer(db):
    from omnishop.customers.services import resolve_customer

    def make(channel, email: str):
        return resolve_customer(channel=channel, email=email).customer

    return make


@pytest.fixture
def shopper_session(db):
    """Sign a shopper up through the real allauth headless API; returns (session token, customer)."""

    def make(email: str):
        from omnishop.customers.services import customer_for_user
        from omnishop.customers.tests.conftest import Headless

        token = Headless().sign_up(email)  # verification is mandatory: signs up and proves the e-mail
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(email=email)
        return token, customer_for_user(user=user)

    return make


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)
