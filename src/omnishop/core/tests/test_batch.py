"""core.batch: a block's trailing writes go to PostgreSQL as one statement, all or nothing."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from omnishop.core import batch
from omnishop.core.models import OutboxSequence

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="a deferred() block defers on PostgreSQL only"
    ),
]

UPSERT = (
    "INSERT INTO core_outboxsequence (aggregate_type, aggregate_id, last) VALUES (%s, %s, %s) "
    "ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last = core_outboxsequence.last + excluded.last"
)


def test_the_writes_of_a_block_are_one_statement_sent_when_it_ends():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured, batch.deferred():
        assert batch.defer([UPSERT], ["test", "a", 1]) and batch.defer([UPSERT], ["test", "b", 2])
        assert not OutboxSequence.objects.filter(aggregate_type="test").exists()  # not sent yet
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT", "WITH"]
    rows = dict(OutboxSequence.objects.filter(aggregate_type="test").values_list("aggregate_id", "last"))
    assert rows == {"a": 1, "b": 2}


def test_a_failing_part_undoes_every_part_of_the_statement():
    OutboxSequence.objects.create(aggregate_type="test", aggregate_id="taken", last=1)
    insert = "INSERT INTO core_outboxsequence (aggregate_type, aggregate_id, last) VALUES (%s, %s, %s)"
    with pytest.raises(IntegrityError), transaction.atomic(), batch.deferred():
        batch.defer([insert], ["test", "new", 1])
        batch.defer([insert], ["test", "taken", 1])  # the unique (type, id) fails the whole statement
    assert list(
        OutboxSequence.objects.filter(aggregate_type="test").values_list("aggregate_id", flat=True)
    ) == ["taken"]
    assert not batch.active()


def test_a_second_write_with_the_same_key_sends_the_first_so_no_row_is_upserted_twice():
    with transaction.atomic(), batch.deferred():
        batch.defer([UPSERT], ["test", "shared", 1], key="k")
        batch.defer([UPSERT], ["test", "shared", 2], key="k")  # flushes the first: both add up
    assert OutboxSequence.objects.get(aggregate_type="test", aggregate_id="shared").last == 3


def test_an_error_in_the_block_sends_nothing_and_outside_a_block_nothing_is_deferred():
    with pytest.raises(RuntimeError), transaction.atomic(), batch.deferred():
        batch.defer([UPSERT], ["test", "a", 1])
        raise RuntimeError("the checkout failed")
    assert not OutboxSequence.objects.filter(aggregate_type="test").exists()
    assert not batch.active() and batch.defer([UPSERT], ["test", "a", 1]) is False
