"""Stock locations, which of them serve each channel (in priority order), and each channel's policy."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from omnishop.channels.models import Channel
from omnishop.core.errors import AlreadyExists, ValidationFailed

from ..errors import DuplicateLine, UnknownStrategy
from ..models import ChannelInventoryPolicy, ChannelLocation, StockLocation
from .stock import location_by_code


def create_location(
    *,
    code: str,
    name: str,
    kind: str = StockLocation.Kind.WAREHOUSE,
    ships_to_customers: bool = True,
    serves_pickup: bool = False,
    address_line1: str = "",
    address_line2: str = "",
    city: str = "",
    postcode: str = "",
    country: str = "",
    supplier=None,
) -> StockLocation:
    """Register a place that holds stock; it must ship to customers, serve pick-up, or both."""
    if kind not in StockLocation.Kind.values:
        raise ValidationFailed(
            f"Unknown location kind '{kind}'.", field="kind", allowed=list(StockLocation.Kind.values)
        )
    if not (ships_to_customers or serves_pickup):
        raise ValidationFailed(
            "A location must ship to customers, serve pick-up, or both.", field="ships_to_customers"
        )
    if country and (len(country) != 2 or not country.isalpha()):
        raise ValidationFailed("country must be an ISO-3166 alpha-2 code.", field="country")
    try:
        with transaction.atomic():
            return StockLocation.objects.create(
                code=code,
                name=name,
                kind=kind,
                ships_to_customers=ships_to_customers,
                serves_pickup=serves_pickup,
                address_line1=address_line1,
                address_line2=address_line2,
                city=city,
                postcode=postcode,
                country=country.upper(),
                supplier=supplier,
            )
    except IntegrityError:
        raise AlreadyExists(f"A stock location with code '{code}' exists.", field="code") from None


def set_channel_locations(*, channel: Channel, location_codes: Sequence[str]) -> list[ChannelLocation]:
    """Replace the list of locations serving `channel`; the first code has the highest priority."""
    if len(set(location_codes)) != len(location_codes):
        raise DuplicateLine("A location may appear only once.", field="locations")
    locations = [location_by_code(code, field=f"locations[{i}]") for i, code in enumerate(location_codes)]
    with transaction.atomic():
        ChannelLocation.objects.filter(channel=channel).delete()
        return ChannelLocation.objects.bulk_create(
            [ChannelLocation(channel=channel, location=loc, priority=i) for i, loc in enumerate(locations)]
        )


def channel_locations(*, channel: Channel) -> list[StockLocation]:
    return [
        link.location
        for link in ChannelLocation.objects.filter(channel=channel)
        .select_related("location")
        .order_by("priority")
    ]


def get_policy(*, channel: Channel) -> ChannelInventoryPolicy:
    """The channel's policy (defaults until staff change it; not written until then)."""
    policy = ChannelInventoryPolicy.objects.filter(channel=channel).first()
    return policy or ChannelInventoryPolicy(channel=channel)


def set_policy(*, channel: Channel, **fields) -> ChannelInventoryPolicy:
    """Change the channel's reservation TTL, safety buffer, quota or allocation strategy."""
    from .strategies import STRATEGIES

    allowed = {
        "reservation_ttl_seconds",
        "max_hold_seconds",
        "safety_buffer",
        "quota_percent",
        "quota_minus",
        "allocation_strategy",
    }
    for name, value in fields.items():
        if name not in allowed:
            raise ValidationFailed(f"Unknown policy field '{name}'.", field=name)
        if name == "allocation_strategy":
            if value not in STRATEGIES:
                raise UnknownStrategy(
                    f"Unknown allocation strategy '{value}'.", field=name, allowed=sorted(STRATEGIES)
                )
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValidationFailed(f"{name} must be a whole number ≥ 0.", field=name)
    if fields.get("reservation_ttl_seconds") == 0:
        raise ValidationFailed("reservation_ttl_seconds must be at least 1.", field="reservation_ttl_seconds")
    if fields.get("quota_percent") is not None and fields["quota_percent"] > 100:
        raise ValidationFailed("quota_percent must be between 0 and 100.", field="quota_percent")
    with transaction.atomic():
        policy, _ = ChannelInventoryPolicy.objects.select_for_update().get_or_create(channel=channel)
        for name, value in fields.items():
            setattr(policy, name, value)
        if policy.max_hold_seconds < policy.reservation_ttl_seconds:
            raise ValidationFailed(
                "max_hold_seconds must be at least reservation_ttl_seconds.", field="max_hold_seconds"
            )
        policy.save()
    return policy
