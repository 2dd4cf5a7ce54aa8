"""Helpers shared by the order services: numbers and tokens, addresses, lookups, line bookkeeping, totals."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal

import pycountry
from django.db.models import F

from omnishop.core.errors import ValidationFailed
from omnishop.core.money import quantize
from omnishop.inventory import services as inventory
from omnishop.payments import services as payments

from ..errors import AddressRequired, InvalidAddress, OrderNotFound
from ..models import Order, OrderAllocation, OrderLine
from ..pricing import shipping_fee, split_tax

ADDRESS_FIELDS = {
    "name": 200,
    "company": 200,
    "line1": 200,
    "line2": 200,
    "city": 100,
    "postcode": 20,
    "region": 100,
    "country": 2,
    "phone": 20,
}
ADDRESS_REQUIRED = ("name", "line1", "city", "country")
# Postal-code formats of the countries the shop's checkout offers; elsewhere any non-empty code passes.
POSTCODE_FORMATS = {
    "GB": re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$", re.I),
    "IE": re.compile(r"^[A-Z0-9]{3} ?[A-Z0-9]{4}$", re.I),
    "DE": re.compile(r"^[0-9]{5}$"),
    "FR": re.compile(r"^[0-9]{5}$"),
    "US": re.compile(r"^[0-9]{5}(-[0-9]{4})?$"),
    "CN": re.compile(r"^[0-9]{6}$"),
}
POSTCODE_OPTIONAL = frozenset({"IE"})  # Eircodes are recent; many Irish addresses are still sent without


def postcode_problem(country: str, postcode: str) -> str | None:
    """Why `postcode` is not a postal code of `country` ("missing" or "format"), or None when it is."""
    postcode = postcode.strip()
    if not postcode:
        return None if country in POSTCODE_OPTIONAL else "missing"
    pattern = POSTCODE_FORMATS.get(country)
    return "format" if pattern and not pattern.match(postcode) else None


COUNTRY_CODES = frozenset(c.alpha_2 for c in pycountry.countries)


def new_number(channel) -> str:
    """A public order number: channel prefix + 10 random base-32 characters (not guessable in sequence)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return f"{channel.code[:6].upper()}-" + "".join(secrets.choice(alphabet) for _ in range(10))


def new_token() -> str:
    return secrets.token_urlsafe(24)


def clean_address(
    address: dict | None, *, field: str = "shipping_address", required: bool = True
) -> dict | None:
    """Validate a postal address (name, line1, city, ISO country required); returns a normalised copy."""
    if address is None:
        if required:
            raise AddressRequired("A shipping address is needed.", field=field)
        return None
    if not isinstance(address, dict):
        raise InvalidAddress("The address is an object.", field=field)
    unknown = set(address) - set(ADDRESS_FIELDS)
    if unknown:
        raise InvalidAddress(
            f"Unknown address field '{sorted(unknown)[0]}'.", field=f"{field}.{sorted(unknown)[0]}"
        )
    cleaned = {}
    for name, limit in ADDRESS_FIELDS.items():
        value = address.get(name, "")
        if not isinstance(value, str):
            raise InvalidAddress(f"'{name}' is text.", field=f"{field}.{name}")
        value = value.strip()
        if len(value) > limit:
            raise InvalidAddress(f"'{name}' is longer than {limit} characters.", field=f"{field}.{name}")
        cleaned[name] = value
    for name in ADDRESS_REQUIRED:
        if not cleaned[name]:
            raise InvalidAddress(f"'{name}' is required.", field=f"{field}.{name}")
    cleaned["country"] = cleaned["country"].upper()
    if cleaned["country"] not in COUNTRY_CODES:
        raise InvalidAddress(f"'{cleaned['country']}' is not an ISO-3166 country.", field=f"{field}.country")
    return cleaned


def address_from_book(address) -> dict:
    """A customers.Address as the JSON address orders keep (a copy: later edits do not change the order)."""
    return {name: getattr(address, name, "") or "" for name in ADDRESS_FIELDS}


def get_order(number: str, *, for_update: bool = False) -> Order:
    qs = Order.objects.select_related("channel", "customer", "shipping_method")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    order = qs.filter(number=number).first()
    if order is None:
        raise OrderNotFound(f"No order {number}.", field="number")
    return order


def lock(order: Order) -> Order:
    """Re-read the order under a row lock (the caller is in a transaction): one change at a time per order."""
    return get_order(order.number, for_update=True)


def destination_country(order_or_cart) -> str | None:
    method = order_or_cart.shipping_method
    if method is not None and method.kind == "pickup" and method.pickup_location_id:
        return method.pickup_location.country or order_or_cart.channel.country
    address = order_or_cart.shipping_address
    return address["country"] if address else order_or_cart.channel.country


def retotal(order: Order, *, requote_shipping: bool = True) -> dict:
    """Recompute the order's totals from its open quantities (after a cancel, split, merge or address change)."""
    from ..pricing import tax_rate_for

    currency = order.currency
    country = destination_country(order)
    rate = tax_rate_for(channel=order.channel, country=country)
    before = totals_of(order)
    subtotal = tax = total = Decimal(0)
    weight = 0
    lines = list(order.lines.all())
    for line in lines:
        listed = quantize(line.unit_price * line.open_quantity, currency)
        line.tax_rate = rate
        line.line_net, line.line_tax, line.line_total = split_tax(
            listed, rate, currency, order.prices_include_tax
        )
        subtotal += listed
        tax += line.line_tax
        total += line.line_total
        if line.quantity:
            weight += line.weight_grams * line.open_quantity // line.quantity
    OrderLine.objects.bulk_update(lines, ["tax_rate", "line_net", "line_tax", "line_total"])
    fee = order.shipping_total
    if not any(line.open_quantity for line in lines):
        fee = Decimal(0)
    elif requote_shipping and order.shipping_method is not None:
        fee = shipping_fee(
            order.shipping_method, goods=subtotal, weight_grams=weight, country=country, currency=currency
        )
    _, ship_tax, ship_gross = split_tax(fee, rate, currency, order.prices_include_tax)
    order.subtotal, order.shipping_total = subtotal, fee
    order.tax_total, order.total = tax + ship_tax, total + ship_gross
    order.save(update_fields=["subtotal", "shipping_total", "tax_total", "total", "updated_at"])
    payments.lower_open_payments(reference=order.payment_reference, due=family_total(order) - paid(order))
    return {"before": before, "after": totals_of(order)}


def totals_of(order: Order) -> dict:
    c = order.currency
    return {
        "subtotal": str(quantize(Decimal(order.subtotal), c)),
        "shipping": str(quantize(Decimal(order.shipping_total), c)),
        "tax": str(quantize(Decimal(order.tax_total), c)),
        "total": str(quantize(Decimal(order.total), c)),
    }


def paid(order: Order) -> Decimal:
    """Captured minus refunded over the order's payments (shared with orders split off it)."""
    return payments.paid_amount(reference=order.payment_reference)


def family_total(order: Order) -> Decimal:
    """What the orders sharing this order's payments cost together (an order and those split off it)."""
    from django.db.models import Sum

    row = (
        Order.objects.filter(payment_reference=order.payment_reference)
        .exclude(status=Order.Status.MERGED)
        .aggregate(t=Sum("total"))
    )
    return Decimal(row["t"] or 0).quantize(Decimal("0.0001"))  # SQLite sums decimals as floats


def settled(order: Order) -> bool:
    """Has the customer paid in what the order family costs? Captured money counts whether or not some of it
    was refunded since: a refund never makes an order owe money again. (Refunds made because the order
    came to cost less leave captured above the new total; a goodwill refund on an order still awaiting its
    3-D Secure payment must not keep it awaiting payment once that payment is captured.)"""
    return payments.captured_amount(reference=order.payment_reference) >= family_total(order)


def record_allocation(order: Order, allocation) -> None:
    """Count an inventory allocation's units on the order's lines."""
    OrderAllocation.objects.create(order=order, allocation=allocation)
    by_variant: dict[int, int] = {}
    for x in allocation.lines.all():
        by_variant[x.variant_id] = by_variant.get(x.variant_id, 0) + x.quantity
    for variant_id, quantity in by_variant.items():
        OrderLine.objects.filter(order=order, variant_id=variant_id).update(
            allocated=F("allocated") + quantity
        )


def release_allocations(order: Order) -> dict[int, int]:
    """Cancel every active allocation's unshipped units; returns the units released per variant."""
    from ..models import Fulfilment

    released: dict[int, int] = {}
    for link in OrderAllocation.objects.filter(order=order, is_active=True).select_related("allocation"):
        allocation = link.allocation
        if allocation.status == "allocated":
            for x in allocation.lines.all():
                left = x.quantity - x.shipped
                if left:
                    released[x.variant_id] = released.get(x.variant_id, 0) + left
            inventory.cancel_allocation(allocation=allocation)
        link.is_active = False
        link.save(update_fields=["is_active"])
    for variant_id, quantity in released.items():
        OrderLine.objects.filter(order=order, variant_id=variant_id).update(
            allocated=F("allocated") - quantity
        )
    Fulfilment.objects.filter(order=order, status=Fulfilment.Status.PENDING).update(
        status=Fulfilment.Status.CANCELLED
    )
    return released


def allocate(order: Order, quantities: dict[int, int]) -> None:
    """Allocate `quantities` (variant id → units) for the order under a fresh reference; raises insufficient_stock."""
    wanted = {v: q for v, q in quantities.items() if q > 0}
    if not wanted:
        return
    skus = dict(order.lines.filter(variant_id__in=wanted).values_list("variant_id", "sku"))
    first = not OrderAllocation.objects.filter(order=order).exists()
    reference = order.number if first else f"{order.number}/{secrets.token_hex(3)}"
    allocation = inventory.allocate_stock(
        channel=order.channel,
        lines=[inventory.LineRequest(sku=skus[v], quantity=q) for v, q in wanted.items()],
        order_reference=reference,
        pickup_location=pickup_location(order),
    )
    record_allocation(order, allocation)


def pickup_location(order_or_cart):
    method = order_or_cart.shipping_method
    if method is not None and method.kind == "pickup":
        return method.pickup_location
    return None


def check_positive_quantities(quantities: dict, *, field: str = "lines") -> None:
    for i, (key, qty) in enumerate(quantities.items()):
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            raise ValidationFailed(
                "Quantities are whole numbers from 1.", field=f"{field}[{i}].quantity", line=key
            )
