"""Cursor pagination: every row exactly once, in order, even when rows arrive between pages."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from omnishop.channels.models import Channel
from omnishop.channels.services import create_channel
from omnishop.core.pagination import InvalidCursor, InvalidOrdering, paginate


def walk(ordering: str, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        page = paginate(
            Channel.objects.all(),
            cursor=cursor,
            limit=limit,
            ordering=ordering,
            allowed=["code", "name", "created_at", "id"],
        )
        seen += [c.code for c in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


class TestPaginationProperties(HypothesisTestCase):
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        names=st.lists(st.sampled_from(["a", "b", "c"]), min_size=0, max_size=12),
        limit=st.integers(min_value=1, max_value=5),
        descending=st.booleans(),
    )
    def test_walking_all_pages_yields_every_row_once_in_order(self, names, limit, descending):
        Channel.objects.all().delete()
        for i, name in enumerate(names):  # duplicate sort values exercise the id tie-break
            create_channel(code=f"c{i}", name=name, kind="web", currency="GBP")
        ordering = "-name" if descending else "name"
        expected = [c.code for c in Channel.objects.order_by(ordering, "-pk" if descending else "pk")]
        assert walk(ordering, limit) == expected


@pytest.mark.django_db
def test_rows_added_after_the_first_page_do_not_shift_later_pages():
    for i in range(6):
        create_channel(code=f"c{i}", name=f"n{i}", kind="web", currency="GBP")
    first = paginate(Channel.objects.all(), cursor=None, limit=3, ordering="id", allowed=["id"])
    create_channel(code="early", name="n", kind="web", currency="GBP")
    second = paginate(Channel.objects.all(), cursor=first.next_cursor, limit=3, ordering="id", allowed=["id"])
    assert [c.code for c in first.items + second.items] == ["c0", "c1", "c2", "c3", "c4", "c5"]


@pytest.mark.django_db
def test_tampered_cursor_and_unknown_ordering_are_clear_errors():
    with pytest.raises(InvalidCursor):
        paginate(Channel.objects.all(), cursor="!!notacursor", limit=3, ordering="id", allowed=["id"])
    with pytest.raises(InvalidOrdering):
        paginate(Channel.objects.all(), cursor=None, limit=3, ordering="secret_hash", allowed=["id"])
