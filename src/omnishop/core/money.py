"""Money: Decimal amounts in an ISO-4217 currency, and the one place rounding rules are written.

Rules: amounts are quantised to the currency's minor unit (GBP 2, JPY 0, BHD 3) with ROUND_HALF_UP, the
rule shoppers and tax authorities expect; a line is rounded once, after unit price × quantity; totals are
sums of rounded lines. Unit costs (what a supplier charges, landed costs, stock's average cost) keep 4
decimal places whatever the currency — suppliers quote fractions of a cent — also rounded half up. Floats
never enter: parsing rejects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, is_currency

from .errors import ValidationFailed

# Codes babel knows that are not money a shop can take: testing, no-currency, precious metals, SDRs.
_NOT_TRADABLE = {"XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA"}


def validate_currency(code: str, *, field: str = "currency") -> str:
    """Return the ISO-4217 code in upper case, or raise `invalid_currency`."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise InvalidCurrency(f"'{code}' is not an ISO-4217 currency code.", field=field)
    upper = code.upper()
    if upper in _NOT_TRADABLE or not is_currency(upper):
        raise InvalidCurrency(f"'{code}' is not an ISO-4217 currency code.", field=field)
    return upper


class InvalidCurrency(ValidationFailed):
    code = "invalid_currency"


class InvalidAmount(ValidationFailed):
    code = "invalid_amount"


def minor_units(currency: str) -> int:
    return get_currency_precision(currency)


@lru_cache(maxsize=512)
def minor_unit_exponent(currency: str) -> Decimal:
    """Decimal("0.01") for GBP, Decimal("1") for JPY: what `quantize` rounds to (cached)."""
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit_exponent(currency), rounding=ROUND_HALF_UP)


UNIT_COST_EXPONENT = Decimal("0.0001")


def quantize_unit_cost(amount: Decimal) -> Decimal:
    """A unit cost to its 4 decimal places, half up (1.50015 → 1.5002)."""
    return amount.quantize(UNIT_COST_EXPONENT, rounding=ROUND_HALF_UP)


# The money columns are DecimalField(max_digits=14, decimal_places=4): at most 10 digits before the point.
MAX_AMOUNT = Decimal(10) ** 10


def parse_amount(
    value: object, currency: str, *, field: str = "amount", allow_negative: bool = False
) -> Decimal:
    """Parse a decimal string (or Decimal/int) into an amount with no more precision than the currency has."""
    if isinstance(value, float | bool) or value is None:
        raise InvalidAmount('Send money as a decimal string, e.g. "12.50".', field=field)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidAmount(f"'{value}' is not a decimal amount.", field=field) from None
    if not amount.is_finite():
        raise InvalidAmount(f"'{value}' is not a decimal amount.", field=field)
    if amount < 0 and not allow_negative:
        raise InvalidAmount("Amounts cannot be negative.", field=field)
    if abs(amount) >= MAX_AMOUNT:
        # Checked before rounding: quantising 1E+30 to cents overflows the decimal context.
        raise InvalidAmount(
            f"'{value}' is more than an amount column holds (10 integer digits).", field=field
        )
    if amount != quantize(amount, currency):
        raise InvalidAmount(
            f"{currency} has {minor_units(currency)} decimal places; '{value}' has more.", field=field
        )
    return quantize(amount, currency)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int | Decimal) -> Money:
        """Unit price × quantity, rounded once."""
        return Money(quantize(self.amount * quantity, self.currency), self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"Cannot combine {self.currency} with {other.currency}.",
                expected=self.currency,
                got=other.currency,
            )

    def as_dict(self) -> dict[str, str]:
        return {"amount": str(quantize(self.amount, self.currency)), "currency": self.currency}


class CurrencyMismatch(ValidationFailed):
    code = "currency_mismatch"
