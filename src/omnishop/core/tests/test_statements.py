"""core.statements: a long statement with server-side parameters behaves as through Django's own cursor —
the same rows, Django's exceptions, Django's execute wrappers and query log."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from omnishop.core import statements
from omnishop.core.models import OutboxSequence

pytestmark = pytest.mark.django_db


def test_placeholders_are_numbered_and_a_literal_percent_is_kept():
    assert statements.numbered("SELECT %s, %s LIKE 'a%%' , %s") == "SELECT $1, $2 LIKE 'a%' , $3"
    assert statements.numbered("SELECT 1") == "SELECT 1"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="data-modifying WITH: PostgreSQL's path")
def test_a_long_statement_writes_what_it_says_and_returns_its_row():
    keys = [f"k{i}" for i in range(60)]  # more parameters than psycopg's own cache keeps
    values = ", ".join(["(%s, %s, 1)"] * len(keys))
    params = [x for key in keys for x in ("order", key)]
    table = connection.ops.quote_name(OutboxSequence._meta.db_table)
    row = statements.fetch_one(
        f"WITH w AS (INSERT INTO {table} (aggregate_type, aggregate_id, last) VALUES {values} RETURNING 1) "
        "SELECT count(*), '100%%' FROM w",
        params,
    )
    assert tuple(row) == (60, "100%")
    assert OutboxSequence.objects.filter(aggregate_id__in=keys).count() == 60


def test_a_unique_violation_is_djangos_integrity_error_and_the_statement_is_seen_and_logged():
    table = connection.ops.quote_name(OutboxSequence._meta.db_table)
    sql = f"INSERT INTO {table} (aggregate_type, aggregate_id, last) VALUES (%s, %s, 1)"
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
        statements.execute(sql, ["order", "dup"])
        with pytest.raises(IntegrityError), transaction.atomic():
            statements.execute(sql, ["order", "dup"])
    assert [q for q in seen if q == sql] == [sql, sql]
    assert sum(q["sql"].startswith(f"INSERT INTO {table}") for q in captured.captured_queries) == 2


def _prepared_here(text: str) -> int:
    """How many of this connection's server-side prepared statements hold `text`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"])
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="server-side prepared statements: PostgreSQL")
def test_hot_reads_are_prepared_once_per_connection_unless_a_pooler_is_in_the_way(settings):
    sql = "SELECT aggregate_id, last FROM core_outboxsequence WHERE aggregate_type = %s /* prepared-probe */"
    OutboxSequence.objects.create(aggregate_type="probe", aggregate_id="a", last=3)
    settings.OMNISHOP_DB_PREPARE = True
    for _ in range(3):
        assert statements.fetch_all(sql, ["probe"]) == [("a", 3)]
        assert statements.fetch_one(sql, ["nothing"]) is None
    assert _prepared_here("prepared-probe") == 1  # one text, prepared once, used six times

    settings.OMNISHOP_DB_PREPARE = False  # OMNISHOP_DB_POOLER=pgbouncer: nothing may outlive the transaction
    other = sql.replace("prepared-probe", "unprepared-probe")
    assert statements.fetch_all(other, ["probe"]) == [("a", 3)]
    assert _prepared_here("unprepared-probe") == 0
