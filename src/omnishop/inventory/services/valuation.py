"""What stock cost: the landed cost of each purchase order receipt, a delivery's extra charge spread over its
lines, and the moving weighted-average cost per variant and location that receipts keep up to date.

The average (docs/inventory.md "Landed cost"):

    basis    = units on hand just before the receipt (never below 0)
    value    = the basis at the current average  +  received units × the receipt's landed unit cost
    average  = value / (basis + received units), rounded half up to 4 places

Units that leave (sales, write-offs, transfers out) leave at the average and do not change it; units that
arrive without a cost (manual receipts, returns, transfers in) are carried at it. The first costed receipt
values units already on hand at its own landed cost. While nothing is sold in between, `value` is exactly
Σ(units × landed unit cost) of the receipts, so the average is that sum over the units, rounded once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_DOWN, Decimal

from omnishop.core.money import InvalidAmount, quantize_unit_cost

from ..errors import ValuationCurrencyMismatch
from ..models import StockValuation

ZERO = Decimal(0)
_STEP = Decimal("0.0001")


def parse_extra_charge(value: Decimal | None, *, field: str = "extra_charge") -> Decimal:
    """A delivery's extra charge (freight, customs clearance…): ≥ 0, at most 4 decimal places."""
    if value is None:
        return ZERO
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidAmount("An extra charge is a decimal amount ≥ 0.", field=field)
    if value >= Decimal("1e10") or value != value.quantize(_STEP):
        raise InvalidAmount(
            "An extra charge has at most 4 decimal places and 10 integer digits.", field=field
        )
    return value.quantize(_STEP)


def allocate_charge(charge: Decimal, lines: Sequence[tuple[int, Decimal]]) -> list[Decimal]:
    """Split `charge` over (units, landed unit cost) lines pro rata by value (units × cost), or by units when
    every line is free; shares are in 0.0001 steps and add up to the charge exactly (largest remainder)."""
    if not lines:
        return []
    weights = [units * cost for units, cost in lines]
    if sum(weights) == 0:
        weights = [Decimal(units) for units, _ in lines]
    total = sum(weights)
    raw = [charge * w / total for w in weights]
    shares = [r.quantize(_STEP, rounding=ROUND_DOWN) for r in raw]
    left = int((charge - sum(shares)) / _STEP)
    # The steps left over go to the largest remainders (ties: the earlier line).
    for i in sorted(range(len(raw)), key=lambda i: (-(raw[i] - shares[i]), i))[:left]:
        shares[i] += _STEP
    return shares


def receipt_unit_cost(*, line_cost: Decimal, units: int, share: Decimal) -> Decimal:
    """The landed unit cost a receipt books: the line's, plus its share of the delivery's charge a unit."""
    return quantize_unit_cost(line_cost + share / units)


def revalue_on_receipt(
    *,
    variant_id: int,
    location_id: int,
    sku: str,
    currency: str,
    units: int,
    unit_cost: Decimal,
    on_hand_after: int,
) -> StockValuation:
    """Fold a receipt into the variant's average cost at the location. Called inside the receipt's
    transaction after its stock level was updated (that row lock serialises receipts of one variant and
    location, so the valuation read here is the latest). Refuses a receipt in another currency than the
    units on hand are valued in; once none is on hand, the next receipt's currency becomes the valuation's."""
    basis = max(on_hand_after - units, 0)
    valuation = (
        StockValuation.objects.select_for_update()
        .filter(variant_id=variant_id, location_id=location_id)
        .first()
    )
    if valuation is None:
        valuation = StockValuation(variant_id=variant_id, location_id=location_id, currency=currency)
        prior = basis * unit_cost  # uncosted units on hand are taken at the first landed cost
    elif valuation.currency != currency:
        if basis > 0:
            raise ValuationCurrencyMismatch(
                f"{sku} is valued in {valuation.currency} at this location; a {currency} receipt would mix "
                "currencies. Receive it in a purchase order in the valuation's currency.",
                field="lines",
                sku=sku,
                expected=valuation.currency,
                got=currency,
            )
        valuation.currency = currency
        prior = ZERO
    elif basis == valuation.quantity:
        prior = valuation.value  # nothing left or arrived since the last receipt: the exact value
    else:
        prior = (valuation.value * basis / valuation.quantity).quantize(_STEP)
    valuation.quantity = basis + units
    valuation.value = prior + units * unit_cost
    valuation.average_cost = quantize_unit_cost(valuation.value / valuation.quantity)
    valuation.save()
    return valuation


def valuations_of(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockValuation]:
    """The valuations of these (variant, location) pairs that have one, in one query."""
    wanted = set(pairs)
    if not wanted:
        return {}
    rows = StockValuation.objects.filter(
        variant_id__in={v for v, _ in wanted}, location_id__in={loc for _, loc in wanted}
    )
    return {(r.variant_id, r.location_id): r for r in rows if (r.variant_id, r.location_id) in wanted}
