"""Money: Decimal amounts in a real ISO currency, rounded once, never floats."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnishop.core.money import (
    CurrencyMismatch,
    InvalidAmount,
    InvalidCurrency,
    Money,
    parse_amount,
    quantize,
    validate_currency,
)


def test_currency_codes_are_checked_against_iso_4217():
    assert validate_currency("gbp") == "GBP"
    assert validate_currency("JPY") == "JPY"
    for bad in ("ABC", "XXX", "GB", "", "12€"):
        with pytest.raises(InvalidCurrency):
            validate_currency(bad)


def test_amounts_respect_the_currency_minor_unit():
    assert parse_amount("12.50", "GBP") == Decimal("12.50")
    assert parse_amount("1200", "JPY") == Decimal("1200")
    with pytest.raises(InvalidAmount):
        parse_amount("12.5", "JPY")
    with pytest.raises(InvalidAmount):
        parse_amount("1.001", "GBP")
    assert parse_amount("1.001", "BHD") == Decimal("1.001")


def test_floats_and_negative_amounts_are_refused():
    with pytest.raises(InvalidAmount):
        parse_amount(12.5, "GBP")
    with pytest.raises(InvalidAmount):
        parse_amount("-1.00", "GBP")
    assert parse_amount("-1.00", "GBP", allow_negative=True) == Decimal("-1.00")
    with pytest.raises(InvalidAmount):
        parse_amount("NaN", "GBP")


def test_half_up_rounding_once_per_line():
    assert Money(Decimal("0.125"), "GBP").times(1).amount == Decimal("0.13")
    assert Money(Decimal("0.335"), "GBP").times(3).amount == Decimal("1.01")


def test_different_currencies_never_add():
    with pytest.raises(CurrencyMismatch):
        Money(Decimal("1.00"), "GBP") + Money(Decimal("1.00"), "EUR")


@given(
    st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False, allow_infinity=False),
    st.sampled_from(["GBP", "JPY", "BHD", "EUR"]),
)
def test_quantize_is_idempotent_and_within_half_a_minor_unit(amount, currency):
    once = quantize(amount, currency)
    assert quantize(once, currency) == once
    from omnishop.core.money import minor_units

    assert abs(once - amount) <= Decimal(1).scaleb(-minor_units(currency)) / 2
