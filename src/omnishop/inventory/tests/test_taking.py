"""Taking stock for a checkout or an order (plan in one read, take in one write): which lines are refused and
how, which locations a channel may take from, what the channel's policy promises, and what happens when
another buyer takes the stock between planning and taking."""

import pytest

from omnishop.core.errors import AlreadyExists, IdempotencyKeyReused, ValidationFailed
from omnishop.inventory import services
from omnishop.inventory.errors import (
    ChannelHasNoLocations,
    DuplicateLine,
    InsufficientStock,
    UnknownLocation,
    UnknownSku,
)
from omnishop.inventory.models import (
    Allocation,
    Reservation,
    ReservationLine,
    StockEvent,
    StockLocation,
)
from omnishop.inventory.services import LineRequest, holds, taking

from .conftest import assert_books_balance

pytestmark = pytest.mark.django_db


def reserve(channel, *lines: tuple[str, int], key: str = "k", **kwargs) -> Reservation:
    return services.reserve_stock(
        channel=channel, lines=[LineRequest(s, q) for s, q in lines], key=key, **kwargs
    )


def held(reservation) -> list[tuple[str, str, int]]:
    return sorted(
        ReservationLine.objects.filter(reservation_id=reservation.pk).values_list(
            "variant__sku", "location__code", "quantity"
        )
    )


def held_for(reservation) -> int:
    """Seconds from creation to expiry (SQLite stamps created_at itself, microseconds after `now`)."""
    return round((reservation.expires_at - reservation.created_at).total_seconds())


# --- lines ----------------------------------------------------------------------------------------------


def test_an_order_without_lines_is_refused(shop):
    with pytest.raises(ValidationFailed) as caught:
        services.reserve_stock(channel=shop, lines=[], key="k")
    assert (caught.value.code, caught.value.field) == ("validation_error", "lines")


def test_the_same_sku_twice_is_refused_at_its_second_line(shop, warehouse, make_variant, stock):
    stock(make_variant("A"), warehouse, 5)
    stock(make_variant("B"), warehouse, 5)
    with pytest.raises(DuplicateLine) as caught:
        reserve(shop, ("A", 1), ("B", 1), ("A", 2))
    assert (caught.value.code, caught.value.field) == ("duplicate_line", "lines[2].sku")
    assert not Reservation.objects.exists()


def test_an_unknown_sku_is_named_with_its_line(shop, warehouse, make_variant, stock):
    stock(make_variant("A"), warehouse, 5)
    with pytest.raises(UnknownSku) as caught:
        reserve(shop, ("A", 1), ("NOPE", 1))
    assert (caught.value.code, caught.value.field) == ("unknown_sku", "lines")
    assert caught.value.details == {"sku": "NOPE", "index": 1}


def test_more_than_is_free_names_the_sku_and_what_is_there(shop, warehouse, make_variant, stock):
    stock(make_variant("A"), warehouse, 5)
    stock(make_variant("B"), warehouse, 2)
    with pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("A", 5), ("B", 3))
    assert (caught.value.code, caught.value.status, caught.value.field) == (
        "insufficient_stock",
        409,
        "lines",
    )
    assert caught.value.details == {"sku": "B", "requested": 3, "available": 2}
    assert caught.value.message == "Only 2 unit(s) of B available; 3 requested."
    assert not Reservation.objects.exists() and not StockEvent.objects.filter(cause="reserved").exists()


def test_exactly_what_is_free_can_be_taken(shop, warehouse, make_variant, stock, level):
    a = make_variant("A")
    stock(a, warehouse, 5)
    reserve(shop, ("A", 5))
    assert level(a, warehouse).reserved == 5


# --- which locations --------------------------------------------------------------------------------------


def test_a_channel_without_locations_cannot_take_stock(web_channel, make_variant):
    make_variant("A")
    with pytest.raises(ChannelHasNoLocations) as caught:
        reserve(web_channel, ("A", 1))
    assert (caught.value.code, caught.value.status) == ("channel_has_no_locations", 409)


def test_inactive_locations_and_locations_that_do_not_ship_are_skipped(
    web_channel, make_location, make_variant, stock
):
    closed, pickup_only, open_ = (
        make_location("closed"),
        make_location("counter", kind="retail_store", ships_to_customers=False, serves_pickup=True),
        make_location("open"),
    )
    a = make_variant("A")
    for location in (closed, pickup_only, open_):
        stock(a, location, 2)
    StockLocation.objects.filter(pk=closed.pk).update(is_active=False)
    services.set_channel_locations(channel=web_channel, location_codes=["closed", "counter", "open"])
    assert held(reserve(web_channel, ("A", 2))) == [("A", "open", 2)]
    with pytest.raises(InsufficientStock) as caught:
        reserve(web_channel, ("A", 1), key="k2")
    assert caught.value.details == {"sku": "A", "requested": 1, "available": 0}


def test_only_inactive_or_non_shipping_locations_is_no_locations(web_channel, make_location, make_variant):
    make_location("counter", kind="retail_store", ships_to_customers=False, serves_pickup=True)
    make_location("closed")
    StockLocation.objects.filter(code="closed").update(is_active=False)
    services.set_channel_locations(channel=web_channel, location_codes=["closed", "counter"])
    make_variant("A")
    with pytest.raises(ChannelHasNoLocations):
        reserve(web_channel, ("A", 1))


def test_a_pickup_order_takes_only_from_the_pickup_location(web_channel, make_location, make_variant, stock):
    depot, store = make_location("depot"), make_location("store", kind="retail_store", serves_pickup=True)
    a = make_variant("A")
    stock(a, depot, 5)
    stock(a, store, 1)
    services.set_channel_locations(channel=web_channel, location_codes=["depot", "store"])
    assert held(reserve(web_channel, ("A", 1), pickup_location=store)) == [("A", "store", 1)]
    with pytest.raises(InsufficientStock) as caught:
        reserve(web_channel, ("A", 1), key="k2", pickup_location=store)
    assert caught.value.details == {"sku": "A", "requested": 1, "available": 0}


@pytest.mark.parametrize("where", ["not serving the channel", "not serving pick-up"])
def test_a_pickup_location_that_cannot_serve_is_refused(
    web_channel, make_location, make_variant, stock, where
):
    depot = make_location("depot")
    store = make_location("store", kind="retail_store", serves_pickup=where == "not serving the channel")
    a = make_variant("A")
    stock(a, depot, 5)
    stock(a, store, 5)
    codes = ["depot"] if where == "not serving the channel" else ["depot", "store"]
    services.set_channel_locations(channel=web_channel, location_codes=codes)
    with pytest.raises(UnknownLocation) as caught:
        reserve(web_channel, ("A", 1), pickup_location=store)
    assert (caught.value.code, caught.value.field) == ("unknown_location", "pickup_location")


def test_stock_at_locations_of_other_channels_is_not_promised(shop, make_location, make_variant, stock):
    a = make_variant("A")
    stock(a, make_location("elsewhere"), 50)
    with pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("A", 1))
    assert caught.value.details == {"sku": "A", "requested": 1, "available": 0}


def test_a_location_that_never_had_the_sku_counts_as_empty(web_channel, make_location, make_variant, stock):
    make_location("first")
    second = make_location("second")
    services.set_channel_locations(channel=web_channel, location_codes=["first", "second"])
    stock(make_variant("A"), second, 3)
    assert held(reserve(web_channel, ("A", 3))) == [("A", "second", 3)]


def test_an_empty_location_adds_nothing_to_what_is_promised(web_channel, make_location, make_variant, stock):
    make_location("first")
    make_location("second")
    services.set_channel_locations(channel=web_channel, location_codes=["first", "second"])
    a = make_variant("A")
    stock(a, StockLocation.objects.get(code="first"), 2)
    stock(a, StockLocation.objects.get(code="second"), 2)
    reserve(web_channel, ("A", 2), key="empties-first")  # first location now has 0 free
    with pytest.raises(InsufficientStock) as caught:
        reserve(web_channel, ("A", 3))
    assert caught.value.details == {"sku": "A", "requested": 3, "available": 2}


def test_the_safety_buffer_comes_off_what_the_locations_really_hold(
    web_channel, make_location, make_variant, stock
):
    """A location that never had the SKU and one whose units are all held add nothing to the promise."""
    for code in ("never", "emptied", "full"):
        make_location(code)
    services.set_channel_locations(channel=web_channel, location_codes=["never", "emptied", "full"])
    services.set_policy(channel=web_channel, safety_buffer=1)
    a = make_variant("A")
    emptied = StockLocation.objects.get(code="emptied")
    stock(a, emptied, 2)
    stock(a, StockLocation.objects.get(code="full"), 3)
    reserve(web_channel, ("A", 1), key="holds-one-at-emptied")
    services.adjust_stock(variant=a, location=emptied, delta=-1, reason_code="lost")  # emptied: 0 free
    with pytest.raises(InsufficientStock) as caught:
        reserve(web_channel, ("A", 3))
    assert caught.value.details == {"sku": "A", "requested": 3, "available": 2}


# --- the channel's policy -----------------------------------------------------------------------------


def test_without_a_policy_a_checkout_holds_stock_for_the_default_fifteen_minutes(
    shop, warehouse, make_variant, stock
):
    stock(make_variant("A"), warehouse, 2)
    reservation = Reservation.objects.get(pk=reserve(shop, ("A", 1), reference="chk-1").pk)
    assert held_for(reservation) == 900
    assert (reservation.status, reservation.reference, reservation.key) == ("active", "chk-1", "k")


def test_the_channels_ttl_buffer_and_quota_apply(shop, warehouse, make_variant, stock):
    a = make_variant("A")
    stock(a, warehouse, 50)
    services.set_policy(channel=shop, reservation_ttl_seconds=120, quota_percent=80, quota_minus=2)
    with pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("A", 39))
    assert caught.value.details == {"sku": "A", "requested": 39, "available": 38}
    reservation = Reservation.objects.get(pk=reserve(shop, ("A", 38)).pk)
    assert held_for(reservation) == 120
    services.set_policy(channel=shop, safety_buffer=10, quota_percent=None)
    with pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("A", 3), key="k2")
    assert caught.value.details == {"sku": "A", "requested": 3, "available": 2}


@pytest.mark.parametrize(
    ("free", "buffer", "percent", "minus", "promised"),
    [
        (50, 0, None, 0, 50),
        (50, 5, None, 0, 45),
        (50, 0, 80, 2, 38),
        (50, 20, 80, 2, 30),
        (9, 0, 50, 0, 4),
        (3, 5, None, 0, 0),
        (3, 0, 10, 1, 0),
        (0, 0, None, 0, 0),
    ],
)
def test_available_to_promise(free, buffer, percent, minus, promised):
    assert taking.atp(free, safety_buffer=buffer, quota_percent=percent, quota_minus=minus) == promised


def test_an_order_records_the_strategy_that_placed_it(shop, warehouse, make_variant, stock):
    stock(make_variant("A"), warehouse, 5)
    assert services.allocate_stock(
        channel=shop, lines=[LineRequest("A", 1)], order_reference="O-1"
    ).strategy == ("priority")
    services.set_policy(channel=shop, allocation_strategy="fewest_locations")
    assert services.allocate_stock(
        channel=shop, lines=[LineRequest("A", 1)], order_reference="O-2"
    ).strategy == ("fewest_locations")


def test_a_store_sells_from_its_own_shelf_only(make_channel, make_location, make_variant, stock):
    till = make_channel("till", "pos_store")
    make_location("back-office")
    store = make_location("store", kind="retail_store")
    a = make_variant("A")
    stock(a, StockLocation.objects.get(code="back-office"), 10)
    stock(a, store, 1)
    services.set_channel_locations(channel=till, location_codes=["back-office", "store"])
    sale = services.allocate_stock(channel=till, lines=[LineRequest("A", 1)], order_reference="T-1")
    assert sale.strategy == "pos_store"
    assert [(x.location_id, x.quantity) for x in sale.lines.all()] == [(store.pk, 1)]
    with pytest.raises(InsufficientStock) as caught:
        services.allocate_stock(channel=till, lines=[LineRequest("A", 1)], order_reference="T-2")
    assert caught.value.details == {"sku": "A", "requested": 1, "available": 0}
    assert Allocation.objects.count() == 1


# --- the take: what it writes ---------------------------------------------------------------------------


def test_a_reservation_holds_its_lines_tells_the_channels_and_balances(
    shop, warehouse, make_variant, stock, level
):
    a, b = make_variant("A"), make_variant("B")
    stock(a, warehouse, 4)
    stock(b, warehouse, 4)
    StockEvent.objects.all().delete()
    reservation = reserve(shop, ("B", 1), ("A", 3), reference="chk")
    assert held(reservation) == [("A", "main-wh", 3), ("B", "main-wh", 1)]
    assert (level(a, warehouse).reserved, level(b, warehouse).reserved) == (3, 1)
    assert (level(a, warehouse).allocated, level(a, warehouse).on_hand) == (0, 4)
    assert sorted(StockEvent.objects.values_list("cause", "variant_id")) == [
        ("reserved", a.pk),
        ("reserved", b.pk),
    ]
    assert_books_balance()


def test_an_order_without_checkout_allocates_its_lines(shop, warehouse, make_variant, stock, level):
    a = make_variant("A")
    stock(a, warehouse, 4)
    allocation = services.allocate_stock(channel=shop, lines=[LineRequest("A", 3)], order_reference="O-1")
    assert (allocation.status, allocation.order_reference, allocation.channel_id) == (
        "allocated",
        "O-1",
        shop.pk,
    )
    assert [(x.quantity, x.shipped) for x in allocation.lines.all()] == [(3, 0)]
    assert (level(a, warehouse).allocated, level(a, warehouse).reserved) == (3, 0)
    assert services.allocate_stock(channel=shop, lines=[LineRequest("A", 3)], order_reference="O-1").pk == (
        allocation.pk
    )
    assert level(a, warehouse).allocated == 3
    assert_books_balance()


# --- another buyer between planning and taking ----------------------------------------------------------


@pytest.fixture
def someone_else_first(monkeypatch):
    """Run `act` right after the next `times` plans, as another buyer would between our read and our write."""

    def arrange(act, times: int = 1):
        real_plan = taking.plan
        calls = []
        acting = []

        def plan_then_someone_else(**kwargs):
            planned = real_plan(**kwargs)
            if acting:  # the other buyer's own plan
                return planned
            calls.append(planned)
            if len(calls) <= times:
                acting.append(True)
                act(len(calls))
                acting.pop()
            return planned

        monkeypatch.setattr(taking, "plan", plan_then_someone_else)
        # The one-statement reservation (PostgreSQL, one location) has no gap between read and write to
        # step into: send every reservation through the plan-then-take path whose gap this simulates.
        monkeypatch.setattr(holds, "reserve_in_one_statement", lambda **kwargs: None)
        return calls

    return arrange


def test_losing_the_last_units_to_another_buyer_is_insufficient_stock(
    shop, warehouse, make_location, make_variant, stock, level, someone_else_first
):
    a, b = make_variant("A"), make_variant("B")
    stock(a, warehouse, 2)
    stock(b, warehouse, 5)
    stock(b, make_location("not-for-this-channel"), 9)
    plans = someone_else_first(lambda n: reserve(shop, ("B", 5), key="faster"))
    StockEvent.objects.all().delete()
    with pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("A", 2), ("B", 2))
    assert caught.value.details == {"sku": "B", "requested": 2, "available": 0}
    assert len(plans) == 1  # one location: no point planning again
    assert (level(a, warehouse).reserved, level(b, warehouse).reserved) == (0, 5)
    assert list(Reservation.objects.values_list("key", flat=True)) == ["faster"]
    assert list(StockEvent.objects.values_list("cause", "variant_id")) == [("reserved", b.pk)]
    assert_books_balance()


@pytest.mark.parametrize("holder", ["reservation", "allocation"])
def test_a_channel_with_one_location_that_loses_a_race_does_not_plan_again(
    holder, shop, warehouse, make_variant, stock, level, someone_else_first, monkeypatch
):
    # A re-plan at the only location can only refuse too: it would cost a hot SKU's buyers a second read
    # (and, up to three times, the lock queue again) for nothing. Count every plan, the refused ones included.
    a = make_variant("A")
    stock(a, warehouse, 5)
    someone_else_first(lambda n: reserve(shop, ("A", 4), key="faster"))
    planned = []
    patched = taking.plan

    def counting(**kwargs):
        planned.append(kwargs["key"])
        return patched(**kwargs)

    monkeypatch.setattr(taking, "plan", counting)
    with pytest.raises(InsufficientStock) as caught:
        if holder == "reservation":
            reserve(shop, ("A", 2))
        else:
            services.allocate_stock(channel=shop, lines=[LineRequest("A", 2)], order_reference="O-9")
    assert caught.value.details == {"sku": "A", "requested": 2, "available": 1}
    assert len(planned) == 2  # ours once, the faster buyer's once — never ours again
    assert (level(a, warehouse).reserved, level(a, warehouse).allocated) == (4, 0)
    assert_books_balance()


def test_a_lost_race_at_one_location_is_planned_again_from_the_others(
    web_channel, make_location, make_variant, stock, someone_else_first
):
    north, south = make_location("north"), make_location("south")
    services.set_channel_locations(channel=web_channel, location_codes=["north", "south"])
    a = make_variant("A")
    stock(a, north, 2)
    stock(a, south, 2)
    plans = someone_else_first(
        lambda n: services.adjust_stock(variant=a, location=north, delta=-2, reason_code="damaged")
    )
    reservation = reserve(web_channel, ("A", 2))
    assert len(plans) == 2
    assert held(reservation) == [("A", "south", 2)]
    assert_books_balance()


def test_losing_every_race_gives_up_after_three_plans(
    web_channel, make_location, make_variant, stock, someone_else_first
):
    north, south = make_location("north"), make_location("south")
    services.set_channel_locations(channel=web_channel, location_codes=["north", "south"])
    a = make_variant("A")
    stock(a, north, 3)
    stock(a, south, 3)
    plans = someone_else_first(
        lambda n: services.adjust_stock(variant=a, location=north, delta=-1, reason_code="lost"), times=3
    )
    with pytest.raises(InsufficientStock) as caught:
        reserve(web_channel, ("A", 3))
    assert len(plans) == 3
    # planned from north each time (3, then 2, then 1 free there) and lost it each time
    assert caught.value.details == {"sku": "A", "requested": 3, "available": 3}
    assert not Reservation.objects.exists()
    assert_books_balance()


def test_after_three_lost_races_the_free_units_of_all_the_channels_locations_are_reported(
    web_channel, market_channel, make_location, make_variant, stock, someone_else_first
):
    north, south = make_location("north"), make_location("south")
    services.set_channel_locations(channel=web_channel, location_codes=["north", "south"])
    services.set_channel_locations(channel=market_channel, location_codes=["south"])
    a = make_variant("A")
    stock(a, north, 4)
    stock(a, south, 5)
    services.allocate_stock(channel=market_channel, lines=[LineRequest("A", 1)], order_reference="M-1")
    plans = someone_else_first(
        lambda n: services.adjust_stock(variant=a, location=north, delta=-1, reason_code="lost"), times=3
    )
    with pytest.raises(InsufficientStock) as caught:
        reserve(web_channel, ("A", 5))
    assert len(plans) == 3
    # north 1 + south 4 free now: enough again, but three plans were lost
    assert caught.value.details == {"sku": "A", "requested": 5, "available": 5}


def test_a_race_lost_while_the_channels_locations_change_names_the_sku_that_is_gone(
    web_channel, make_location, make_variant, stock, someone_else_first
):
    north, south = make_location("north"), make_location("south")
    services.set_channel_locations(channel=web_channel, location_codes=["north"])
    a, b = make_variant("A"), make_variant("B")
    stock(a, north, 2)
    stock(b, north, 3)
    stock(b, south, 1)

    def meanwhile(n):
        services.adjust_stock(variant=a, location=north, delta=-2, reason_code="damaged")
        services.set_channel_locations(channel=web_channel, location_codes=["south"])

    someone_else_first(meanwhile)
    with pytest.raises(InsufficientStock) as caught:
        reserve(web_channel, ("A", 1), ("B", 2))
    assert caught.value.details == {"sku": "A", "requested": 1, "available": 0}


@pytest.fixture
def busy_shop(shop, market_channel, warehouse, make_variant, stock):
    """The web shop with an earlier checkout and order, and another channel that used the same key and order
    reference: a replay must find the twin by channel and key, not just any holder."""
    a = make_variant("A")
    stock(a, warehouse, 20)
    services.set_channel_locations(channel=market_channel, location_codes=[warehouse.code])
    reserve(shop, ("A", 1), key="earlier")
    services.allocate_stock(channel=shop, lines=[LineRequest("A", 1)], order_reference="O-0")
    reserve(market_channel, ("A", 1), key="same")
    services.allocate_stock(channel=market_channel, lines=[LineRequest("A", 1)], order_reference="O-1")
    return a


def test_a_twin_request_with_the_same_key_that_wins_is_replayed(
    shop, busy_shop, warehouse, level, someone_else_first
):
    twin = {}
    someone_else_first(lambda n: twin.setdefault("r", reserve(shop, ("A", 2), key="same")))
    mine = reserve(shop, ("A", 2), key="same")
    assert mine.pk == twin["r"].pk
    assert level(busy_shop, warehouse).reserved == 2 + 1 + 1
    assert_books_balance()


def test_a_twin_request_with_the_same_key_for_other_lines_is_refused(shop, busy_shop, someone_else_first):
    someone_else_first(lambda n: reserve(shop, ("A", 1), key="same"))
    with pytest.raises(IdempotencyKeyReused):
        reserve(shop, ("A", 2), key="same")
    assert Reservation.objects.filter(channel=shop, key="same").count() == 1


def test_a_twin_order_that_wins_is_replayed(shop, busy_shop, warehouse, level, someone_else_first):
    twin = {}

    def place(n):
        twin["o"] = services.allocate_stock(channel=shop, lines=[LineRequest("A", 2)], order_reference="O-1")

    someone_else_first(place)
    mine = services.allocate_stock(channel=shop, lines=[LineRequest("A", 2)], order_reference="O-1")
    assert mine.pk == twin["o"].pk
    assert level(busy_shop, warehouse).allocated == 2 + 1 + 1
    assert_books_balance()


def test_a_twin_order_with_other_lines_is_refused(shop, busy_shop, someone_else_first):
    someone_else_first(
        lambda n: services.allocate_stock(channel=shop, lines=[LineRequest("A", 3)], order_reference="O-1")
    )
    with pytest.raises(AlreadyExists):
        services.allocate_stock(channel=shop, lines=[LineRequest("A", 2)], order_reference="O-1")
    assert Allocation.objects.filter(channel=shop, order_reference="O-1").count() == 1


def test_a_registered_strategy_sees_each_location_with_its_code_kind_and_priority(
    web_channel, make_location, make_variant, stock, monkeypatch
):
    from omnishop.inventory.services.strategies import STRATEGIES, Candidate, by_priority

    north, south = make_location("north"), make_location("south", kind="retail_store")
    services.set_channel_locations(channel=web_channel, location_codes=["north", "south"])
    stock(make_variant("A"), south, 2)
    seen = []

    def recording(demand, candidates, free):
        seen.extend(candidates)
        return by_priority(demand, candidates, free)

    monkeypatch.setitem(STRATEGIES, "recording", recording)
    services.set_policy(channel=web_channel, allocation_strategy="recording")
    assert held(reserve(web_channel, ("A", 2))) == [("A", "south", 2)]
    assert seen == [
        Candidate(north.pk, "north", "warehouse", 0),
        Candidate(south.pk, "south", "retail_store", 1),
    ]


def test_losing_part_of_the_units_reports_what_is_left(
    shop, warehouse, make_variant, stock, someone_else_first
):
    stock(make_variant("A"), warehouse, 5)
    someone_else_first(lambda n: reserve(shop, ("A", 4), key="faster"))
    with pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("A", 2))
    assert caught.value.details == {"sku": "A", "requested": 2, "available": 1}
