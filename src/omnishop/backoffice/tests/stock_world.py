"""Data for the stock desk's tests, built through the services: a web shop with two locations, a shipped
order with a return requested, a supplier with offers, and staff with and without permissions."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from omnishop.catalog.models import Supplier, SupplierOffer
from omnishop.inventory import services as inventory
from omnishop.inventory.models import StockLevel
from omnishop.orders import services as orders
from omnishop.orders.tests.conftest import Shop


def staff_with(*permissions: str, username: str = "clerk"):
    """An active member of staff holding exactly these permissions ('app.codename')."""
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password="x", is_staff=True
    )
    for name in permissions:
        app, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


class World:
    def __init__(self, channel, make_key):
        self.warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
        self.store = inventory.create_location(
            code="north", name="North store", kind="retail_store", serves_pickup=True
        )
        inventory.set_channel_locations(channel=channel, location_codes=[self.warehouse.code])
        self.shop = Shop(channel, self.warehouse, make_key)
        self.channel = channel
        self.mug = self.shop.variant(sku="MUG", price="10.00", stock=10)
        self.cup = self.shop.variant(sku="CUP", price="6.00", stock=4)
        self.supplier = Supplier.objects.create(code="potter", name="The Potter", currency="GBP")
        for variant, cost in ((self.mug, "2.50"), (self.cup, "1.20")):
            SupplierOffer.objects.create(
                supplier=self.supplier,
                variant=variant,
                cost=Decimal(cost),
                currency="GBP",
                lead_time_days=5,
                is_preferred=True,
            )

    def on_hand(self, variant, location=None) -> int:
        level = StockLevel.objects.filter(variant=variant, location=location or self.warehouse).first()
        return level.on_hand if level else 0

    def shipped_order(self, lines: dict, key: str):
        order = self.shop.checkout(lines, key=key)
        for f in orders.create_fulfilments(order=order, actor="test"):
            orders.ship_fulfilment(fulfilment=f, carrier="dhl", tracking_number="T1", actor="test")
        return orders.get_order(order.number)

    def requested_return(self, *, key: str = "k1", refund_to: str = "original", quantity: int = 1):
        order = self.shipped_order({self.mug: 2}, key)
        line = order.lines.get(sku="MUG")
        return orders.request_return(
            order=order, lines=[(line.pk, quantity, "too small")], refund_to=refund_to, actor="shopper"
        )
