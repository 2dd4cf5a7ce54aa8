"""JSON shapes of orders, carts and their parts (money as strings, times ISO-8601 UTC); schemas.py types them.

`secrets=True` only for the buyer's side (api.buyer_side): the tracking token and a payment's client secret
act for the buyer, so nobody else is given them.
"""

from __future__ import annotations

from decimal import Decimal

from omnishop.core.money import quantize
from omnishop.payments import services as payments

from .models import Cart, Order, ShippingMethod
from .services.common import family_total


def _m(amount, currency) -> str:
    return str(quantize(amount, currency))


def order_summary(order: Order) -> dict:
    c = order.currency
    return {
        "number": order.number,
        "channel": order.channel.code,
        "status": order.status,
        "currency": c,
        "total": _m(order.total, c),
        "external_id": order.external_id,
        "created_at": order.created_at,
    }


def order_out(order: Order, *, full: bool = True, secrets: bool = False) -> dict:
    c = order.currency
    paid = payments.paid_amount(reference=order.payment_reference)
    data = {
        **order_summary(order),
        "payment_reference": order.payment_reference,
        "customer": order.customer_id,
        "email": order.email,
        "prices_include_tax": order.prices_include_tax,
        "shipping_address": order.shipping_address,
        "shipping_method": order.shipping_method_name,
        "subtotal": _m(order.subtotal, c),
        "shipping_total": _m(order.shipping_total, c),
        "fees_total": _m(order.fees_total, c),
        "tax_total": _m(order.tax_total, c),
        "paid": _m(paid, c),
        "balance_due": _m(max(family_total(order) - paid, Decimal(0)), c),
        "tracking_token": order.tracking_token if secrets else None,
        "parent": order.parent.number if order.parent_id else None,
        "merged_into": order.merged_into.number if order.merged_into_id else None,
        "lines": [
            {
                "id": x.pk,
                "sku": x.sku,
                "title": x.title,
                "quantity": x.quantity,
                "allocated": x.allocated,
                "fulfilled": x.fulfilled,
                "returned": x.returned,
                "cancelled": x.cancelled,
                "unit_price": _m(x.unit_price, c),
                "tax_rate": str(x.tax_rate),
                "line_tax": _m(x.line_tax, c),
                "line_total": _m(x.line_total, c),
            }
            for x in order.lines.all()
        ],
    }
    if full:
        data["payments"] = [
            {
                "id": p.pk,
                "provider": p.provider,
                "status": p.status,
                "amount": _m(p.amount, c),
                "captured": _m(p.captured, c),
                "refunded": _m(p.refunded, c),
                "method": p.method_label,
                "client_secret": p.client_secret if secrets and p.status == "requires_action" else "",
            }
            for p in payments.payments_for(reference=order.payment_reference)
        ]
        data["fulfilments"] = [
            {
                "id": f.pk,
                "location": f.location.code,
                "status": f.status,
                "carrier": f.carrier,
                "tracking_number": f.tracking_number,
                "tracking_status": f.tracking_status,
                "lines": [{"line": fl.order_line_id, "quantity": fl.quantity} for fl in f.lines.all()],
            }
            for f in order.fulfilments.select_related("location").prefetch_related("lines")
        ]
        data["returns"] = [
            {
                "number": r.number,
                "status": r.status,
                "refund_to": r.refund_to,
                "refund_amount": _m(r.refund_amount, c),
                "lines": [
                    {
                        "line": rl.order_line_id,
                        "quantity": rl.quantity,
                        "reason": rl.reason,
                        "disposition": rl.disposition,
                    }
                    for rl in r.lines.all()
                ],
            }
            for r in order.returns.prefetch_related("lines")
        ]
        data["exceptions"] = [
            {
                "id": e.pk,
                "reason": e.reason,
                "resolution": e.resolution,
                "details": e.details,
                "created_at": e.created_at,
                "resolved_at": e.resolved_at,
            }
            for e in order.exceptions.all()
        ]
    return data


def placed_out(order: Order, *, secrets: bool = False) -> dict:
    """The lean answer of a checkout (the hot path): no payments/fulfilment reads."""
    c = order.currency
    return {
        **order_summary(order),
        "subtotal": _m(order.subtotal, c),
        "shipping_total": _m(order.shipping_total, c),
        "tax_total": _m(order.tax_total, c),
        "tracking_token": order.tracking_token if secrets else None,
    }


def event_out(e) -> dict:
    return {
        "kind": e.kind,
        "actor": e.actor,
        "message": e.message,
        "before": e.before,
        "after": e.after,
        "created_at": e.created_at,
    }


def cart_out(cart: Cart, quote) -> dict:
    c = cart.channel.currency
    return {
        "token": cart.token,
        "channel": cart.channel.code,
        "status": cart.status,
        "email": cart.email,
        "currency": c,
        "shipping_address": cart.shipping_address,
        "shipping_method": cart.shipping_method.code if cart.shipping_method_id else None,
        "lines": [
            {
                "sku": x.sku,
                "title": x.title,
                "quantity": x.quantity,
                "unit_price": _m(x.unit_price, c),
                "line_tax": _m(x.line_tax, c),
                "line_total": _m(x.line_total, c),
            }
            for x in quote.lines
        ],
        "subtotal": _m(quote.subtotal, c),
        "shipping_total": _m(quote.shipping_total, c),
        "tax_total": _m(quote.tax_total, c),
        "total": _m(quote.total, c),
        "prices_include_tax": quote.prices_include_tax,
    }


def offered_shipping_method(method: ShippingMethod, currency: str) -> dict:
    return {
        "code": method.code,
        "name": method.name,
        "kind": method.kind,
        "price": _m(method.price, currency),
        "free_over": _m(method.free_over, currency) if method.free_over is not None else None,
        "bands": [
            {"up_to_grams": int(b["up_to_grams"]), "price": _m(Decimal(str(b["price"])), currency)}
            for b in method.bands
        ],
        "countries": list(method.countries),
        "pickup_location": method.pickup_location.code if method.pickup_location else None,
    }
