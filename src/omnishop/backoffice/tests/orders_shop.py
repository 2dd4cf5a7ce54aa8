"""Small factories for the orders desk's tests: a shop with stock, paid orders, staff with chosen
permissions, a configured carrier — all built through the services."""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.customers.models import Customer
from omnishop.inventory import services as inventory
from omnishop.orders import services as orders
from omnishop.shipping import services as shipping

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical Row",
    "city": "London",
    "postcode": "N1 1AA",
    "country": "GB",
}
CARD_OK = "4242424242424242"


class Shop:
    def __init__(self, channel) -> None:
        self.channel = channel
        self.warehouse = inventory.create_location(code=f"wh-{next(_seq)}", name="Main warehouse")
        inventory.set_channel_locations(channel=channel, location_codes=[self.warehouse.code])
        orders.create_shipping_method(
            channel=channel, code="standard", name="Standard", kind="flat", price="4.95"
        )
        orders.set_tax_rate(channel=channel, country="GB", rate="0.20")

    def variant(self, *, price: str = "10.00", stock: int = 10, title: str = "") -> Variant:
        n = next(_seq)
        product = Product.objects.create(title=title or f"Product {n}", slug=f"product-{n}")
        variant = Variant.objects.create(product=product, sku=f"SKU-{n}")
        ChannelListing.objects.create(
            channel=self.channel,
            variant=variant,
            is_published=True,
            price=Decimal(price),
            currency=self.channel.currency,
        )
        if stock:
            inventory.receive_stock(
                variant=variant, location=self.warehouse, quantity=stock, reference="test"
            )
        return variant

    def checkout(self, lines: dict, *, customer=None, email: str = "ada@example.com"):
        """A paid web order (test card) with the standard delivery to ADDRESS."""
        return orders.place_order(
            channel=self.channel,
            quantities={v.sku: q for v, q in lines.items()},
            shipping_method="standard",
            shipping_address=ADDRESS,
            payment=orders.PaymentRequest(provider="test_card", token=CARD_OK),
            key=f"k{next(_seq)}",
            customer=customer,
            email=email,
            actor="test",
        )

    def marketplace(self, lines: dict, external_id: str, customer=None):
        """A channel order paid on the marketplace (on hold when stock is missing)."""
        order, _ = orders.create_channel_order(
            channel=self.channel,
            lines=[orders.ChannelLine(sku=v.sku, quantity=q) for v, q in lines.items()],
            external_id=external_id,
            customer=customer,
            actor="channel:test",
        )
        return order


def customer(
    first: str = "Ada", last: str = "Lovelace", email: str = "ada@example.com", phone: str = ""
) -> Customer:
    return Customer.objects.create(first_name=first, last_name=last, email=email, phone=phone)


def staff_with(*permissions: str, username: str = "clerk", superuser: bool = False):
    """An active member of staff holding exactly these permissions ('app.codename')."""
    user = get_user_model().objects.create_user(
        username=username,
        email=f"{username}@example.com",
        password=PASSWORD,
        is_staff=True,
        is_superuser=superuser,
    )
    user.first_name = username.title()
    user.save(update_fields=["first_name"])
    for name in permissions:
        app, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return get_user_model().objects.get(pk=user.pk)  # a fresh instance: no stale permission cache


def carrier(code: str = "dhl", name: str = "DHL Express"):
    return shipping.create_carrier(code=code, name=name, webhook_secret="s" * 32)
