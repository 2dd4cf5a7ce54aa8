"""core.bulk.insert_rows stores exactly what the ORM would store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from omnishop.catalog.models import Product
from omnishop.core.bulk import insert_rows
from omnishop.datahub.models import ImportJob, MatchCandidate, StagedTransactionLine

pytestmark = pytest.mark.django_db


def stored(model, pk: int, columns: list[str], json_columns: tuple[str, ...] = ()) -> dict:
    """The row as the database holds it, every column cast to text (so a datetime stored as
    '2010-12-01T08:26:00' and one stored as '2010-12-01 08:26:00' differ), JSON parsed."""
    table = connection.ops.quote_name(model._meta.db_table)
    casts = ", ".join(f"CAST({connection.ops.quote_name(c)} AS TEXT)" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {casts} FROM {table} WHERE id = %s", [pk])
        row = dict(zip(columns, cursor.fetchone(), strict=True))
    for column in json_columns:
        row[column] = json.loads(row[column]) if row[column] is not None else None
    return row


def appended(instance) -> int:
    """Append an unsaved model instance's values with insert_rows; the new row's pk."""
    model = type(instance)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = datetime.now(UTC)

    def value(field):
        automatic = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        return now if automatic else getattr(instance, field.attname)

    values = tuple(map(value, fields))
    before = set(model.objects.values_list("pk", flat=True))
    insert_rows(model._meta.db_table, [f.column for f in fields], [values])
    (pk,) = set(model.objects.values_list("pk", flat=True)) - before
    return pk


def columns_of(model, *skip: str) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if not f.primary_key and f.column not in skip]


def test_decimal_datetime_int_str_and_null_values_are_stored_as_the_orm_stores_them():
    job = ImportJob.objects.create(profile="t", source_name="t.csv", status="running")
    when = datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    with_micro = datetime(2011, 3, 27, 1, 59, 59, 123456, tzinfo=UTC)
    berlin = datetime(2011, 3, 27, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 01:00 UTC, just after DST
    cases = [
        (Decimal("2.55"), Decimal("15.30"), when, None),
        (None, Decimal("-0.0001"), with_micro, when),
        (Decimal("1E+2"), Decimal("12345678.1234"), berlin, berlin),
    ]
    compared = columns_of(StagedTransactionLine, "natural_key", "created_at")
    for number, (unit_price, line_total, occurred_at, consumed_at) in enumerate(cases):
        values = dict(
            source="t",
            content_hash="h",
            job=job,
            document_no="536365",
            kind="sale",
            sku="85123A",
            description="WHITE HANGING HEART T-LIGHT HOLDER — ünïcødé 中文",
            quantity=-6 if number else 6,
            unit_price=unit_price,
            line_total=line_total,
            currency="GBP",
            occurred_at=occurred_at,
            country="GB",
            country_raw="United Kingdom",
            consumed_at=consumed_at,
        )
        orm = StagedTransactionLine.objects.create(natural_key=f"orm-{number}", **values)
        fast = appended(StagedTransactionLine(natural_key=f"fast-{number}", **values))
        assert stored(StagedTransactionLine, fast, compared) == stored(
            StagedTransactionLine, orm.pk, compared
        )
        read_back = StagedTransactionLine.objects.get(pk=fast)
        assert read_back.occurred_at == occurred_at
        assert read_back.consumed_at == consumed_at
        assert read_back.line_total == line_total


def test_json_bool_and_float_values_are_stored_as_the_orm_stores_them():
    attributes = {"colour": "blå", "sizes": ["S", "M"], "weight": 1.5, "new": True, "none": None}
    orm = Product.objects.create(title="Mug", slug="mug-orm", attributes=attributes, is_active=False)
    fast = appended(Product(title="Mug", slug="mug-fast", attributes=attributes, is_active=False))
    compared = columns_of(Product, "slug", "created_at", "updated_at")
    json_columns = ("attributes",)
    assert stored(Product, fast, compared, json_columns) == stored(Product, orm.pk, compared, json_columns)
    product = Product.objects.get(pk=fast)
    assert product.attributes == attributes
    assert product.is_active is False
    assert Product.objects.filter(pk=fast, attributes__colour="blå", attributes__sizes__1="M").exists()

    reasons = [{"field": "email", "code": "invalid", "message": "no @"}]
    orm = MatchCandidate.objects.create(
        entity="customer", left_id=1, right_id=2, score=0.875, reasons=reasons
    )
    fast = appended(MatchCandidate(entity="customer", left_id=3, right_id=4, score=0.875, reasons=reasons))
    compared = columns_of(MatchCandidate, "left_id", "right_id", "created_at")
    json_columns = ("reasons",)
    assert stored(MatchCandidate, fast, compared, json_columns) == stored(
        MatchCandidate, orm.pk, compared, json_columns
    )


def test_a_column_mixing_types_and_nulls_is_adapted_value_by_value():
    job = ImportJob.objects.create(profile="t", source_name="t.csv", status="running")
    when = datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    prices = [None, Decimal("1.50"), 2, None, Decimal("0.10")]
    for i, price in enumerate(prices):
        appended(
            StagedTransactionLine(
                source="t", natural_key=f"k{i}", content_hash="h", job=job, document_no="1", quantity=i,
                unit_price=price, line_total=Decimal(i), currency="GBP", occurred_at=when,
                consumed_at=None if i % 2 else when,
            )
        )  # fmt: skip
    lines = list(StagedTransactionLine.objects.order_by("quantity"))
    assert [line.unit_price for line in lines] == [None, Decimal("1.5"), Decimal(2), None, Decimal("0.1")]
    assert [line.consumed_at for line in lines] == [when, None, when, None, when]
    in_that_minute = StagedTransactionLine.objects.filter(
        occurred_at__gte=when, occurred_at__lt=when.replace(minute=27)
    )
    assert in_that_minute.count() == 5


def test_appending_nothing_touches_nothing():
    insert_rows(StagedTransactionLine._meta.db_table, ["source"], [])
    assert not StagedTransactionLine.objects.exists()
