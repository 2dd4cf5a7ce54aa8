"""The inventory context's business failures, each with a stable code (listed in docs/inventory.md)."""

from omnishop.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    default_message = "Not enough stock to fulfil the request."


class InvalidQuantity(ValidationFailed):
    code = "invalid_quantity"
    default_message = "Quantities must be whole numbers of at least 1."


class UnknownSku(ValidationFailed):
    code = "unknown_sku"


class UnknownLocation(ValidationFailed):
    code = "unknown_location"


class LocationNotFound(NotFound):
    code = "location_not_found"


class SameLocation(ValidationFailed):
    code = "same_location"
    default_message = "A transfer needs two different locations."


class DuplicateLine(ValidationFailed):
    code = "duplicate_line"


class ChannelHasNoLocations(Conflict):
    code = "channel_has_no_locations"
    default_message = "No stock location serves this channel yet."


class ReservationExpired(InvalidTransition):
    code = "reservation_expired"
    default_message = "The reservation has expired; its stock is back on sale."


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    default_message = "The reservation cannot be held any longer (channel's maximum hold time)."


class OverReceipt(Conflict):
    code = "over_receipt"
    default_message = "More would be received than was ordered; pass allow_over_receipt to accept it."


class CountInProgress(Conflict):
    code = "count_in_progress"
    default_message = "This location is already being counted; complete or cancel that count first."


class CountBelowCommitted(Conflict):
    code = "count_below_committed"
    default_message = "Fewer units were counted than are allocated or reserved; release holds first."


class UnknownStrategy(ValidationFailed):
    code = "unknown_strategy"


class NoSupplierOffer(ValidationFailed):
    code = "no_supplier_offer"


class ValuationCurrencyMismatch(Conflict):
    code = "valuation_currency_mismatch"
    default_message = "The stock is valued in another currency; receiving this would mix currencies."
