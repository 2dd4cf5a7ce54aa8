"""GTIN (EAN/UPC) barcodes: the GS1 mod-10 check digit, and the one canonical form used to compare them.

GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN-13) and GTIN-14 are the same number space: a shorter code is the
longer one with leading zeros dropped, so `036000291452` (UPC-A) and `0036000291452` (EAN-13) name one
trade item. Duplicates are therefore detected on the zero-padded GTIN-14 form.
"""

from __future__ import annotations

from .errors import InvalidGtin

GTIN_LENGTHS = (8, 12, 13, 14)


def check_digit(body: str) -> int:
    """The GS1 check digit for `body` (all digits but the last): weights 3,1,3,… from the right."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_gtin(code: object) -> bool:
    if not isinstance(code, str) or len(code) not in GTIN_LENGTHS or not code.isascii() or not code.isdigit():
        return False
    return check_digit(code[:-1]) == int(code[-1])


def as_gtin14(code: str) -> str:
    return code.zfill(14)


def equivalent_forms(code: str) -> list[str]:
    """Every stored spelling that names the same trade item as `code` (same GTIN-14 once zero-padded)."""
    significant = code.lstrip("0") or "0"
    return sorted({code.zfill(14)[-length:] for length in GTIN_LENGTHS if len(significant) <= length})


def validate_gtin(code: object, *, field: str = "gtin") -> str | None:
    """Return the GTIN as digits, None for blank, or raise `invalid_gtin` (wrong length or check digit)."""
    if code is None:
        return None
    if not isinstance(code, str):
        raise InvalidGtin("A GTIN is sent as a string of digits.", field=field)
    code = code.strip()
    if not code:
        return None
    if not is_valid_gtin(code):
        raise InvalidGtin(
            f"'{code}' is not a valid GTIN-8/12/13/14: wrong length, non-digits or wrong check digit.",
            field=field,
        )
    return code
