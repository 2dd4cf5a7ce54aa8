"""Demo shipping methods and tax rates: every demo channel can take an order the day the demo is loaded.

Written through `orders.services` (create_shipping_method, set_tax_rate), so the demo's configuration obeys
the same checks as a merchant's. Rates are the standard VAT of each destination; prices are a small shop's.
A method or rate that already exists (channel + code, channel + country) is left as the merchant set it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from omnishop.channels.models import Channel
from omnishop.orders import services as orders
from omnishop.orders.models import ShippingMethod, TaxRate
from omnishop.shipping import services as carriers
from omnishop.shipping.models import Carrier

UK = ["GB"]
# Where the EU marketplace delivers (from the Venlo fulfilment centre).
EU = ["DE", "AT", "NL", "BE", "FR"]


@dataclass(frozen=True)
class PlannedMethod:
    code: str
    name: str
    kind: str
    price: str = "0"
    free_over: str | None = None
    countries: list[str] = field(default_factory=list)
    pickup_location: str | None = None


UK_DELIVERY = (
    PlannedMethod("standard", "Standard delivery (3-5 days)", "free_over", "3.95", "50.00", UK),
    PlannedMethod("express", "Express delivery (next day)", "flat", "7.95", countries=UK),
    PlannedMethod(
        "click-collect", "Click and collect, London store", "pickup", pickup_location="store-london"
    ),
)
METHODS: dict[str, tuple[PlannedMethod, ...]] = {
    "web": UK_DELIVERY,
    "app": UK_DELIVERY,
    "marketplace-eu": (
        PlannedMethod("standard", "Standardversand (2-4 Tage)", "flat", "4.90", countries=EU),
        PlannedMethod("express", "Expressversand (1-2 Tage)", "flat", "9.90", countries=EU),
    ),
    # Till sales leave the store with the shopper; delivery from the store is offered for bulky buys.
    "store-london": (
        PlannedMethod("in-store", "Taken in store", "pickup", pickup_location="store-london"),
        PlannedMethod("standard", "Delivery from the store", "flat", "5.95", countries=UK),
    ),
}
UK_VAT = {"GB": "0.20", "*": "0.20"}
TAX_RATES: dict[str, dict[str, str]] = {
    "web": UK_VAT,
    "app": UK_VAT,
    "store-london": UK_VAT,
    "marketplace-eu": {"DE": "0.19", "AT": "0.20", "NL": "0.21", "BE": "0.21", "FR": "0.20", "*": "0.19"},
}


# The carriers the back-office's ship form offers. Their tracking webhooks need a secret: a random one per
# demo database (nothing outside this machine posts to it).
CARRIERS = (
    (
        "royal-mail",
        "Royal Mail",
        "https://www.royalmail.com/track-your-item#/tracking-results/{tracking_number}",
    ),
    ("dpd", "DPD", "https://track.dpd.co.uk/parcels/{tracking_number}"),
    ("dhl", "DHL Parcel", "https://www.dhl.com/gb-en/home/tracking.html?tracking-id={tracking_number}"),
)


def ensure_carriers() -> None:
    have = set(Carrier.objects.values_list("code", flat=True))
    for code, name, template in CARRIERS:
        if code not in have:
            carriers.create_carrier(
                code=code, name=name, webhook_secret=secrets.token_urlsafe(24), tracking_url_template=template
            )


def ensure_shipping_and_tax(channels: dict[str, Channel]) -> None:
    """Create the missing methods and tax rates of every demo channel (needs the stock locations)."""
    have_methods = set(
        ShippingMethod.objects.filter(channel__in=channels.values()).values_list("channel__code", "code")
    )
    have_rates = set(
        TaxRate.objects.filter(channel__in=channels.values()).values_list("channel__code", "country")
    )
    for code, channel in channels.items():
        for m in METHODS.get(code, ()):
            if (code, m.code) in have_methods:
                continue
            orders.create_shipping_method(
                channel=channel,
                code=m.code,
                name=m.name,
                kind=m.kind,
                price=m.price,
                free_over=m.free_over,
                countries=m.countries,
                pickup_location=m.pickup_location,
            )
        for country, rate in TAX_RATES.get(code, {}).items():
            if (code, country) not in have_rates:
                orders.set_tax_rate(channel=channel, country=country, rate=rate)
