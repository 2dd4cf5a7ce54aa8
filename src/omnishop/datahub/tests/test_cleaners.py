"""The cleaners turn what exporters write into what Omnishop stores (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnishop.datahub.cleaners import (
    CleanError,
    boolean,
    build_chain,
    city,
    country,
    currency,
    email,
    gtin,
    identifier,
    key_values,
    phone,
    records,
    split,
    strip_html,
    text,
    to_datetime,
    to_decimal,
    to_integer,
)


def test_full_width_cjk_input_becomes_half_width_and_blanks_collapse():
    assert text("  ＡＢＣ－１２３　 ｘｌ ") == "ABC-123 xl"
    assert text("Ｅｍａｉｌ：ｔｅｓｔ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "Email:test@example.com"


def test_html_descriptions_become_plain_text():
    html = "<p>Ideal for <b>cold</b> weather &amp; wind.</p><script>alert(1)</script><ul><li>Wool</li></ul>"
    assert strip_html(html) == "Ideal for cold weather & wind.\nWool"


def test_emails_are_lower_cased_and_validated():
    assert email("  Ana.Silva@Example.COM ") == "ana.silva@example.com"
    with pytest.raises(CleanError) as error:
        email("ana@@example")
    assert error.value.code == "invalid_email"


def test_phones_go_to_e164_with_the_default_region():
    assert phone("07911 123456", region="GB") == "+447911123456"
    assert phone("(415) 555-2671", region="US") == "+14155552671"
    assert phone("+86 138 0013 8000", region="GB") == "+8613800138000"
    with pytest.raises(CleanError):
        phone("12", region="GB")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("United Kingdom", "GB"),
        ("EIRE", "IE"),
        ("RSA", "ZA"),
        ("USA", "US"),
        ("fra", "FR"),
        ("de", "DE"),
        ("Brazil", "BR"),
        ("中国", "CN"),
        ("Czech Republic", "CZ"),
    ],
)
def test_country_names_and_codes_become_iso_alpha2(raw, code):
    assert country(raw) == code


def test_unspecified_country_is_blank_and_nonsense_is_an_error():
    assert country("Unspecified", blank=["Unspecified"]) is None
    with pytest.raises(CleanError):
        country("Atlantis")


def test_currencies_from_codes_and_symbols():
    assert [currency(x) for x in ("gbp", "€", "R$", "USD")] == ["GBP", "EUR", "BRL", "USD"]
    with pytest.raises(CleanError):
        currency("XYZ")


def test_dates_in_many_formats_and_zones_become_aware_utc():
    london = {"tz": "Europe/London"}
    assert to_datetime("2011-08-12 14:50:00", **london) == datetime(2011, 8, 12, 13, 50, tzinfo=UTC)
    assert to_datetime("12/01/2010 08:26", formats=["%m/%d/%Y %H:%M"], **london) == datetime(
        2010, 12, 1, 8, 26, tzinfo=UTC
    )
    assert to_datetime("19970112", tz="America/New_York") == datetime(1997, 1, 12, 5, 0, tzinfo=UTC)
    assert to_datetime("2024-03-01T10:00:00+02:00") == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    assert to_datetime(datetime(2010, 12, 1, 8, 26), **london).hour == 8  # an Excel cell, winter
    assert to_datetime(40513.0).date() == date(2010, 12, 1)  # an Excel serial number
    assert to_datetime("1 March 2024 5pm", tz="UTC") == datetime(2024, 3, 1, 17, tzinfo=UTC)
    with pytest.raises(CleanError):
        to_datetime("not a date")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("12,5", "12.5"),
        ("£3.50", "3.50"),
        ("(2.00)", "-2.00"),
        ("1 234,5", "1234.5"),
        (" -11062.06 ", "-11062.06"),
        (2.55, "2.55"),
        (18, "18"),
        ("1,234", "1234"),
    ],
)
def test_decimals_with_comma_or_point(raw, value):
    assert to_decimal(raw) == Decimal(value)


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_a_decimal_written_with_a_comma_reads_back_the_same(number):
    assert to_decimal(f"{number:.2f}".replace(".", ",")) == number


def test_integers_and_ids_written_as_floats():
    assert identifier("17850.0") == "17850" == identifier(17850) == identifier(17850.0)
    assert identifier("1023", pad=5) == "01023"
    assert identifier("00002", strip_zeros=True) == "2"
    assert to_integer("6") == 6
    with pytest.raises(CleanError):
        to_integer("1.5")


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "Y", "on", "published", "是"])
def test_booleans_true(raw):
    assert boolean(raw) is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "N", "off", "draft", "否"])
def test_booleans_false(raw):
    assert boolean(raw) is False


def test_multi_value_cells_of_the_channel_exports():
    assert split("Clothing > Tshirts, Clothing", sep=", ", level_sep=" > ") == [
        ["Clothing", "Tshirts"],
        ["Clothing"],
    ]
    assert key_values("has_options=1,climate=All-weather|Cool,size=XS") == {
        "has_options": "1",
        "climate": "All-weather|Cool",
        "size": "XS",
    }
    assert records("sku=A,size=S|sku=B,size=M|") == [{"sku": "A", "size": "S"}, {"sku": "B", "size": "M"}]


def test_gtin_check_digit():
    assert gtin("4006381333931") == "4006381333931"
    with pytest.raises(CleanError):
        gtin("4006381333932")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("sao paulo - sp", "Sao Paulo"),
        ("são paulo", "Sao Paulo"),
        ("sao  paulo", "Sao Paulo"),
        ("pinhais/pr", "Pinhais"),
        ("sao paulo / sao paulo", "Sao Paulo"),
        ("rio de janeiro \\rio de janeiro", "Rio de Janeiro"),
    ],
)
def test_free_text_cities_are_normalised(raw, clean):
    assert city(raw, fold_accents=True) == clean


def test_a_cleaner_chain_treats_blank_cells_as_empty():
    chain = build_chain(["identifier", {"name": "regex", "pattern": r"\d+"}])
    assert chain("   ") is None and chain(None) is None
    assert chain("17850.0") == "17850"
