"""Order failures, one class per business outcome (documented in docs/orders.md)."""

from omnishop.core.errors import Conflict, NotFound, ValidationFailed
from omnishop.core.money import CurrencyMismatch

__all__ = ["CurrencyMismatch"]  # re-exported: one class per code, core.money owns it


class OrderNotFound(NotFound):
    code = "order_not_found"


class CartNotFound(NotFound):
    code = "cart_not_found"


class EmptyCart(ValidationFailed):
    code = "empty_cart"
    default_message = "The cart has no lines."


class VariantUnavailable(ValidationFailed):
    code = "variant_unavailable"
    default_message = "That variant is not sold on this channel."


class ShippingMethodUnavailable(ValidationFailed):
    code = "shipping_method_unavailable"


class AddressRequired(ValidationFailed):
    code = "address_required"


class InvalidAddress(ValidationFailed):
    code = "invalid_address"


class CartClosed(Conflict):
    code = "cart_closed"
    default_message = "The cart was already checked out."


class CheckoutInProgress(Conflict):
    code = "checkout_in_progress"
    default_message = "This cart is being checked out by another request; retry shortly."


class AddressLocked(Conflict):
    code = "address_locked"
    default_message = "Part of the order has shipped; the address can no longer change."


class QuantityTooLarge(ValidationFailed):
    code = "quantity_too_large"


class NothingToDo(Conflict):
    code = "nothing_to_do"


class NotMergeable(Conflict):
    code = "not_mergeable"


class QuickCheckoutUnavailable(ValidationFailed):
    code = "quick_checkout_unavailable"


class Overpayment(ValidationFailed):
    code = "overpayment"
    default_message = "The amount paid is more than the order costs."


class AmountTooLarge(ValidationFailed):
    code = "amount_too_large"
    default_message = "The order comes to more than an amount column holds."


class CreditExceedsPaid(Conflict):
    code = "credit_exceeds_paid"
    default_message = "The credit is more than what was paid for the order and not yet given back."


class LinesNotMovable(Conflict):
    code = "lines_not_movable"
    default_message = "These order lines cannot move to that variant."
