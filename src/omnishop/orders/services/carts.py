"""Carts: lines priced from the channel listing, an address and a shipping method, and a live quote."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from omnishop.catalog.models import ChannelListing, Variant
from omnishop.core.errors import ValidationFailed
from omnishop.inventory import services as inventory

from ..errors import CartClosed, CartNotFound, VariantUnavailable
from ..models import Cart, CartLine
from ..pricing import MAX_LINE_QUANTITY, Quote, listed_lines, quote
from .checkout import shipping_method_for
from .common import clean_address, destination_country, new_token


def create_cart(*, channel, customer=None, email: str = "") -> Cart:
    if len(email) > 254:
        raise ValidationFailed("The e-mail is too long.", field="email")
    return Cart.objects.create(channel=channel, customer=customer, email=email, token=new_token())


def get_cart(token: str, *, channel=None) -> Cart:
    qs = Cart.objects.select_related(
        "channel", "customer", "shipping_method", "shipping_method__pickup_location"
    )
    cart = qs.filter(token=token).first()
    if cart is None or (channel is not None and cart.channel_id != channel.pk):
        raise CartNotFound("No such cart.", field="token")
    return cart


def _open(cart: Cart) -> None:
    if cart.status == Cart.Status.CHECKING_OUT and cart.claimed_until and cart.claimed_until < timezone.now():
        # The checkout holding the cart died and its claim ran out: editing takes the cart back.
        reopened = Cart.objects.filter(
            pk=cart.pk, status=Cart.Status.CHECKING_OUT, claimed_until=cart.claimed_until
        ).update(status=Cart.Status.OPEN, claimed_until=None)
        if reopened:
            cart.status, cart.claimed_until = Cart.Status.OPEN, None
    if cart.status != Cart.Status.OPEN:
        raise CartClosed(field="cart")


def set_line(*, cart: Cart, sku: str, quantity: int) -> Cart:
    """Put `quantity` of a SKU in the cart (0 removes it); the SKU must be published on the cart's channel."""
    _open(cart)
    if not isinstance(quantity, int) or quantity < 0 or quantity > MAX_LINE_QUANTITY:
        raise ValidationFailed(f"quantity is 0 to {MAX_LINE_QUANTITY}.", field="quantity")
    variant = Variant.objects.filter(sku=sku).first()
    if variant is None:
        raise VariantUnavailable(f"No SKU '{sku}'.", field="sku")
    with transaction.atomic():
        if quantity == 0:
            CartLine.objects.filter(cart=cart, variant=variant).delete()
        else:
            listed_lines(
                channel=cart.channel, skus={sku: quantity}
            )  # published and in the channel's currency
            CartLine.objects.update_or_create(cart=cart, variant=variant, defaults={"quantity": quantity})
        cart.save(update_fields=["updated_at"])
    return cart


def set_checkout_details(
    *,
    cart: Cart,
    shipping_address: dict | None = None,
    shipping_method: str | None = None,
    email: str | None = None,
) -> Cart:
    _open(cart)
    fields = ["updated_at"]
    if shipping_address is not None:
        cart.shipping_address = clean_address(shipping_address)
        fields.append("shipping_address")
    if shipping_method is not None:
        cart.shipping_method = shipping_method_for(channel=cart.channel, code=shipping_method)
        fields.append("shipping_method")
    if email is not None:
        if len(email) > 254 or (email and "@" not in email):
            raise ValidationFailed("Give a valid e-mail address.", field="email")
        cart.email = email
        fields.append("email")
    cart.save(update_fields=fields)
    return cart


def cart_quote(*, cart: Cart) -> Quote:
    quantities = {line.variant.sku: line.quantity for line in cart.lines.select_related("variant")}
    lines = listed_lines(channel=cart.channel, skus=quantities) if quantities else []
    return quote(
        channel=cart.channel, lines=lines, method=cart.shipping_method, country=destination_country(cart)
    )


def adopt_cart(*, cart: Cart, customer) -> Cart:
    """A guest's cart becomes the signed-in shopper's: it is theirs from now on, and the lines of the
    shopper's other open carts on the channel (from an earlier visit or another device) join it — the
    larger quantity wins where both hold a SKU — and those carts are closed by deletion (open carts have
    no order, payment or reservation attached). A cart already someone else's is left alone."""
    with transaction.atomic():
        cart = Cart.objects.select_for_update().select_related("channel").get(pk=cart.pk)
        if cart.customer_id not in (None, customer.pk) or cart.status != Cart.Status.OPEN:
            return cart
        if cart.customer_id is None:
            cart.customer = customer
            cart.email = cart.email or customer.email or ""
            cart.save(update_fields=["customer", "email", "updated_at"])
        others = list(
            Cart.objects.select_for_update()
            .filter(channel=cart.channel, customer=customer, status=Cart.Status.OPEN)
            .exclude(pk=cart.pk)
        )
        if others:
            mine = {line.variant_id: line for line in cart.lines.all()}
            for line in CartLine.objects.filter(cart__in=others):
                kept = mine.get(line.variant_id)
                if kept is None:
                    mine[line.variant_id] = CartLine.objects.create(
                        cart=cart, variant_id=line.variant_id, quantity=line.quantity
                    )
                elif line.quantity > kept.quantity:
                    kept.quantity = line.quantity
                    kept.save(update_fields=["quantity"])
            Cart.objects.filter(pk__in=[c.pk for c in others]).delete()
    return cart


def open_cart_of(*, channel, customer) -> Cart | None:
    """The shopper's most recent open cart on the channel, if any."""
    return (
        Cart.objects.select_related("channel", "customer", "shipping_method")
        .filter(channel=channel, customer=customer, status=Cart.Status.OPEN)
        .order_by("-updated_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class LineReview:
    """A cart line as the shopper must see it before checking out: its price now, what the channel can
    still promise, and why it cannot be bought as it is (`problem`: unlisted, sold_out, short; or "")."""

    sku: str
    title: str
    variant_title: str
    product_id: int
    product_slug: str
    quantity: int
    unit_price: Decimal | None
    available: int
    problem: str


def review_cart(*, cart: Cart) -> list[LineReview]:
    """Every line of the cart checked against its listing and live stock (three queries)."""
    lines = list(cart.lines.select_related("variant", "variant__product").order_by("pk"))
    variant_ids = [line.variant_id for line in lines]
    listings = {
        listing.variant_id: listing
        for listing in ChannelListing.objects.filter(channel=cart.channel, variant_id__in=variant_ids)
    }
    stock = inventory.availability_for(channel=cart.channel, variant_ids=variant_ids) if lines else {}
    out = []
    for line in lines:
        variant, listing = line.variant, listings.get(line.variant_id)
        available = max(stock.get(variant.pk, 0), 0)
        sellable = (
            listing is not None and listing.is_published and variant.is_active and variant.product.is_active
        )
        if not sellable:
            problem = "unlisted"
        elif available == 0:
            problem = "sold_out"
        elif available < line.quantity:
            problem = "short"
        else:
            problem = ""
        out.append(
            LineReview(
                sku=variant.sku,
                title=listing.title if listing and listing.title else variant.product.title,
                variant_title=variant.title,
                product_id=variant.product_id,
                product_slug=variant.product.slug,
                quantity=line.quantity,
                unit_price=listing.price if listing else None,
                available=available,
                problem=problem,
            )
        )
    return out
