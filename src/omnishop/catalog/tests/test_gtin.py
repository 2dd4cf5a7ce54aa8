"""GTIN barcodes: a scanned or typed code is accepted only with the right length and GS1 check digit."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnishop.catalog.gtin import check_digit, equivalent_forms, is_valid_gtin

bodies = st.sampled_from([7, 11, 12, 13]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
)


@pytest.mark.parametrize(
    "code",
    ["4006381333931", "036000291452", "96385074", "10614141000415", "5901234123457", "0036000291452"],
)
def test_real_barcodes_are_accepted(code):
    assert is_valid_gtin(code)


@pytest.mark.parametrize(
    "code",
    [
        "4006381333932",  # wrong check digit
        "400638133393",  # 12 digits, check digit of the 13-digit code
        "1234567",  # GTIN lengths are 8, 12, 13, 14
        "123456789",
        "40063813339311",
        "40063813339a1",
        "٤٠٠٦٣٨١٣٣٣٩٣١",  # Arabic-Indic digits are digits to Python, not to a barcode scanner
        "",
        None,
        4006381333931,
    ],
)
def test_malformed_codes_are_rejected(code):
    assert not is_valid_gtin(code)


@settings(max_examples=200, deadline=None)
@given(body=bodies)
def test_a_code_with_its_computed_check_digit_is_accepted(body):
    assert is_valid_gtin(body + str(check_digit(body)))


@settings(max_examples=300, deadline=None)
@given(body=bodies, data=st.data())
def test_changing_any_single_digit_makes_the_code_invalid(body, data):
    code = body + str(check_digit(body))
    position = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
    assert not is_valid_gtin(code[:position] + replacement + code[position + 1 :])


def test_upc_and_ean_spellings_of_one_item_are_equivalent():
    assert "036000291452" in equivalent_forms("0036000291452")
    assert "0036000291452" in equivalent_forms("036000291452")
    assert "00036000291452" in equivalent_forms("036000291452")
    assert "96385074" not in equivalent_forms("036000291452")
