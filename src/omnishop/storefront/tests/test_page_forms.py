"""The forms of a storefront page's statement give the same rows (storefront/queries.py, ADR 0054, 0059).

PostgreSQL reads the product cards (ADR 0059) or runs the LATERAL form (with a search term, or with the cards
off); the portable form (SQLite's) is the reference. For catalogues drawn by Hypothesis — inactive products and
variants, unpublished listings, listings in another channel, images in any position, categories, listing
titles — every ordering, cursor, category and search term gives the same rows in the same order from all three.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnishop.catalog.models import Category, ChannelListing, Product, ProductImage, Variant
from omnishop.storefront import queries

pytestmark = pytest.mark.django_db

WORDS = ["red", "blue", "mug", "bag", "Red Mug", "50%_off", "tea"]

variant_shape = st.fixed_dictionaries(
    {
        "active": st.booleans(),
        # per channel: None (not listed) or (price, published, compare_at, listing title)
        "web": st.none()
        | st.tuples(
            st.integers(1, 50), st.booleans(), st.none() | st.integers(50, 90), st.sampled_from(["", *WORDS])
        ),
        "other": st.none() | st.tuples(st.integers(1, 50), st.just(True), st.none(), st.just("")),
    }
)
product_shape = st.fixed_dictionaries(
    {
        "title": st.sampled_from(WORDS),
        "active": st.booleans(),
        "category": st.sampled_from([None, "home", "home/kitchen", "gifts"]),
        "images": st.lists(st.integers(0, 3), max_size=3),  # their positions
        "variants": st.lists(variant_shape, min_size=1, max_size=3),
    }
)


def build(catalogue: list[dict], channels) -> None:
    categories = {}
    for path in ("home", "home/kitchen", "gifts"):
        parent = categories.get(path.rsplit("/", 1)[0]) if "/" in path else None
        categories[path] = Category.objects.create(
            path=path, slug=path.rsplit("/", 1)[-1], name=path.title(), parent=parent
        )
    for n, shape in enumerate(catalogue):
        product = Product.objects.create(
            title=shape["title"],
            slug=f"p-{n}",
            is_active=shape["active"],
            category=categories.get(shape["category"]),
        )
        for i, position in enumerate(shape["images"]):
            ProductImage.objects.create(
                product=product, url=f"https://i/{n}/{i}", alt=f"{n}-{i}", position=position
            )
        for i, v in enumerate(shape["variants"]):
            variant = Variant.objects.create(
                product=product, sku=f"S-{n}-{i}", is_active=v["active"], position=i
            )
            for code in ("web", "other"):
                if v[code] is None:
                    continue
                price, published, compare_at, title = v[code]
                ChannelListing.objects.create(
                    channel=channels[code],
                    variant=variant,
                    price=Decimal(price),
                    is_published=published,
                    compare_at_price=Decimal(compare_at) if compare_at is not None else None,
                    currency="GBP",
                    title=title,
                )


def clear() -> None:
    for model in (ChannelListing, ProductImage, Variant, Product):
        model.objects.all().delete()
    Category.objects.filter(parent__isnull=False).delete()  # a parent is protected while it has children
    Category.objects.all().delete()


def _ids(value) -> list[int]:  # an array on PostgreSQL's forms, "12,13" text in the portable one
    return list(value) if isinstance(value, list) else [int(v) for v in value.split(",")]


def all_forms(**query) -> dict[str, list]:
    """The page's rows from the product cards (ADR 0059), from the LATERAL form and from the portable form."""
    rows = {}
    for form, cards, lateral in (("cards", True, True), ("lateral", False, True), ("portable", False, False)):
        # override_settings undoes itself; pytest-django's fixture would stack one layer per assignment, and a
        # Hypothesis test makes thousands.
        with override_settings(OMNISHOP_STOREFRONT_CARDS=cards, OMNISHOP_STOREFRONT_LATERAL_PAGE=lateral):
            rows[form] = queries.page_rows(**query)

    def comparable(rows):  # the variant ids are a set: the forms do not all order their aggregate
        return [(*row[:9], sorted(_ids(row[9])), *row[10:]) for row in rows]

    return {form: comparable(r) for form, r in rows.items()}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one form of the page statement")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    catalogue=st.lists(product_shape, max_size=9),
    ordering=st.sampled_from(sorted(queries.ORDERINGS)),
    limit=st.integers(1, 4),
    category=st.sampled_from([None, "home", "gifts"]),
    q=st.sampled_from([None, "", "red", "MUG", "%_"]),
)
def test_the_lateral_and_card_pages_give_the_rows_of_the_portable_one(
    channels, catalogue, ordering, limit, category, q
):
    clear()
    try:
        build(catalogue, channels)
        after = None
        pages = 0
        while True:
            forms = all_forms(
                channel_code="web",
                ordering=ordering,
                after=after,
                limit=limit,
                category_path=category,
                q=q,
            )
            portable = forms["portable"]
            assert forms["lateral"] == portable
            assert forms["cards"] == portable
            pages += 1
            if len(portable) < limit or pages > 20:
                break
            last = portable[-1]
            after = (last[2], last[0])  # (title, id): the keyset of the title orderings; id alone is last[0]
    finally:
        clear()
