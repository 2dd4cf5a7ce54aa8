"""core.bulk.insert_rows stores exactly what the ORM would store, on SQLite and on PostgreSQL.

The reference row goes in through each field's own `get_db_prep_save` — the adaptation Django applies
to every value of an ORM insert — into a scratch table made of the same Django field types."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, models, transaction

from omnishop.core.bulk import insert_rows

pytestmark = pytest.mark.django_db

TABLE = "core_test_bulk_rows"
FIELDS = {
    "label": models.CharField(max_length=200),
    "amount": models.DecimalField(max_digits=14, decimal_places=4, null=True),
    "total": models.DecimalField(max_digits=16, decimal_places=4, null=True),
    "quantity": models.IntegerField(null=True),
    "big": models.BigIntegerField(null=True),
    "score": models.FloatField(null=True),
    "flag": models.BooleanField(null=True),
    "day": models.DateField(null=True),
    "at": models.DateTimeField(null=True),
    "doc": models.JSONField(null=True),
}
JSON_COLUMNS = ("doc",)
WHEN = datetime(2010, 12, 1, 8, 26, tzinfo=UTC)

ROWS = [
    ("plain", Decimal("2.55"), Decimal("15.30"), 6, 2**40, 0.875, True, date(2011, 1, 4), WHEN, {"a": 1}),
    (
        "ünïcødé — 中文 'quoted' \\ back\tslash",
        Decimal("-0.0001"),
        Decimal("12345678.1234"),
        -6,
        -1,
        -1.5e-7,
        False,
        date(1999, 12, 31),
        datetime(2011, 3, 27, 1, 59, 59, 123456, tzinfo=UTC),
        {"colour": "blå", "sizes": ["S", "M"], "weight": 1.5, "new": True, "none": None},
    ),
    (
        "other zone, just after DST",
        Decimal("1E+2"),
        Decimal("0"),
        0,
        0,
        0.0,
        None,
        None,
        datetime(2011, 3, 27, 3, 0, tzinfo=ZoneInfo("Europe/Berlin")),
        [1, "two", {"three": 3}],
    ),
    ("all empty", None, None, None, None, None, None, None, None, None),
]


@pytest.fixture
def scratch_table():
    """A table of the FIELDS' column types (created inside the test's transaction, rolled back after)."""
    for name, field in FIELDS.items():
        field.set_attributes_from_name(name)
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(name)} {field.db_type(connection)} NULL" for name, field in FIELDS.items())
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {quote(TABLE)} (id integer PRIMARY KEY, {columns})")
    return TABLE


def insert_like_the_orm(row_id: int, values: tuple) -> None:
    prepared = [
        field.get_db_prep_save(v, connection) for field, v in zip(FIELDS.values(), values, strict=True)
    ]
    quote = connection.ops.quote_name
    names = ", ".join(quote(name) for name in ["id", *FIELDS])
    marks = ", ".join(["%s"] * (len(FIELDS) + 1))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(TABLE)} ({names}) VALUES ({marks})", [row_id, *prepared])


def stored(row_id: int) -> dict:
    """The row as the database holds it, each column cast to text — so '2010-12-01T08:26:00' and
    '2010-12-01 08:26:00' differ — with JSON parsed (its spacing is not part of the value)."""
    quote = connection.ops.quote_name
    casts = ", ".join(f"CAST({quote(name)} AS TEXT)" for name in FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {casts} FROM {quote(TABLE)} WHERE id = %s", [row_id])
        row = dict(zip(FIELDS, cursor.fetchone(), strict=True))
    for name in JSON_COLUMNS:
        row[name] = None if row[name] is None else json.loads(row[name])
    return row


def test_every_supported_type_is_stored_as_the_orm_stores_it(scratch_table):
    insert_rows(scratch_table, ["id", *FIELDS], [(1000 + i, *row) for i, row in enumerate(ROWS)])
    for i, row in enumerate(ROWS):
        insert_like_the_orm(2000 + i, row)
        assert stored(1000 + i) == stored(2000 + i), row[0]


def test_a_column_mixing_values_and_nulls_is_adapted_value_by_value(scratch_table):
    rows = [
        (i, f"r{i}", price, None, None, None, None, None, None, at, None)
        for i, (price, at) in enumerate(
            [
                (None, WHEN),
                (Decimal("1.50"), None),
                (Decimal("2"), WHEN),
                (None, None),
                (Decimal("0.10"), WHEN),
            ]
        )
    ]
    insert_rows(scratch_table, ["id", *FIELDS], rows)
    for row in rows:
        insert_like_the_orm(100 + row[0], row[1:])
        assert stored(row[0]) == stored(100 + row[0])


def test_repeated_timestamps_of_a_batch_are_all_stored(scratch_table):
    """Timestamps are converted once per distinct value; every row still gets its own."""
    moments = [WHEN.replace(minute=m % 7) for m in range(50)]
    insert_rows(
        scratch_table,
        ["id", "label", "at"],
        [(i, "x", moment) for i, moment in enumerate(moments)],
    )
    for i, moment in enumerate(moments):
        insert_like_the_orm(1000 + i, ("x", None, None, None, None, None, None, None, moment, None))
        assert stored(i) == stored(1000 + i)


def test_more_rows_than_one_statement_holds_are_all_appended_in_order(scratch_table):
    # id, label, amount, total, quantity, big, score, flag, day, at, doc
    rows = [
        (i, f"row {i}", Decimal(i) / 4, None, None, i, None, i % 2 == 0, None, WHEN, None)
        for i in range(1, 1234)
    ]
    insert_rows(scratch_table, ["id", *FIELDS], rows)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {quote('label')}, {quote('big')} FROM {quote(scratch_table)} ORDER BY id")
        assert cursor.fetchall() == [(i, f"row {i}", i) for i in range(1, 1234)]


def test_a_duplicate_key_raises_djangos_integrity_error(scratch_table):
    insert_rows(scratch_table, ["id", "label"], [(1, "first")])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(scratch_table, ["id", "label"], [(2, "second"), (1, "again")])
    assert stored(1)["label"] == "first"


def test_appending_nothing_touches_nothing(scratch_table):
    insert_rows(scratch_table, ["id", "label"], [])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(scratch_table)}")
        assert cursor.fetchone()[0] == 0


class Colour(models.TextChoices):
    RED = "red", "Red"


def test_text_that_copy_must_escape_is_stored_as_written(scratch_table):
    """PostgreSQL's COPY text format gives tab, newline, carriage return and backslash a meaning (and `\\N`
    is NULL): text holding them, in a plain column and inside JSON, arrives unchanged."""
    awkward = "tab\there\nnew line\r\nback\\slash \\N not null \\. end"
    rows = [
        (1, awkward, None, None, None, None, None, None, None, None, {"note": awkward, "list": [awkward]}),
        (2, "\\N", None, None, None, None, None, None, None, None, ["\\", "\t"]),
        (3, "", None, None, None, None, None, None, None, None, None),
        (4, Colour.RED, None, None, None, None, None, None, None, None, None),
    ]
    insert_rows(scratch_table, ["id", *FIELDS], rows)
    for row in rows:
        insert_like_the_orm(100 + row[0], row[1:])
        assert stored(row[0]) == stored(100 + row[0]), row[1]
    assert stored(1)["label"] == awkward
    assert stored(2)["label"] == "\\N"
    assert stored(3)["label"] == ""
    assert stored(4)["label"] == "red"


def test_the_same_local_time_on_both_sides_of_a_clock_change_is_two_instants(scratch_table):
    berlin = ZoneInfo("Europe/Berlin")
    first, second = (datetime(2011, 10, 30, 2, 30, tzinfo=berlin, fold=fold) for fold in (0, 1))
    insert_rows(scratch_table, ["id", "label", "at"], [(1, "summer", first), (2, "winter", second)])
    for row_id, moment in ((1, first), (2, second)):
        insert_like_the_orm(10 + row_id, ("x", None, None, None, None, None, None, None, moment, None))
        assert stored(row_id)["at"] == stored(10 + row_id)["at"]
    assert stored(1)["at"] != stored(2)["at"]


def test_a_column_mixing_types_goes_to_the_driver_for_its_chunk_only(scratch_table, monkeypatch):
    """A column `insert_rows` does not format itself (here text mixed with a number) goes to the driver
    row by row — only for the rows of its chunk; the other chunks keep the fast path."""
    from omnishop.core import bulk

    monkeypatch.setattr(bulk, "_COPY_ROWS_PER_WRITE", 3)
    rows = [(i, 4 if i == 4 else f"row {i}", Decimal(i) / 8) for i in range(1, 9)]
    insert_rows(scratch_table, ["id", "label", "amount"], rows)
    for row_id, label, amount in rows:
        insert_like_the_orm(
            100 + row_id, (str(label), amount, None, None, None, None, None, None, None, None)
        )
        assert stored(row_id) == stored(100 + row_id)
