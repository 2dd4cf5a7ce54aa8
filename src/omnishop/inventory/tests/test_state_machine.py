"""Random sequences of everything that moves stock, with the books checked after every step.

A Hypothesis state machine drives receipts, reservations, expiries, releases, allocations (from
reservations and direct), cancellations, shipments, transfers, adjustments and cycle counts against the real
database, keeps its own model of on_hand / reserved / allocated, and after every step checks: the database
equals the model, the database constraints hold, the ledger verifies, and availability is what the model says.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from omnishop.catalog.models import Product, Variant
from omnishop.channels.services import create_channel
from omnishop.inventory import services
from omnishop.inventory.errors import CountBelowCommitted, InsufficientStock
from omnishop.inventory.models import Allocation, Reservation, StockLevel, Transfer
from omnishop.inventory.services import LineRequest, SkuQuantity
from omnishop.testing import search_settings

_run = itertools.count()
VARIANTS = 3
LOCATIONS = 2


class StockMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        n = next(_run)
        self.channel = create_channel(code=f"sm-{n}", name="SM", kind="web", currency="GBP")
        self.locations = [services.create_location(code=f"sm{n}-loc{i}", name="L") for i in range(LOCATIONS)]
        services.set_channel_locations(channel=self.channel, location_codes=[x.code for x in self.locations])
        product = Product.objects.create(title="P", slug=f"sm-{n}")
        self.variants = [Variant.objects.create(product=product, sku=f"SM{n}-{i}") for i in range(VARIANTS)]
        self.on_hand = defaultdict(int)
        self.reserved = defaultdict(int)
        self.allocated = defaultdict(int)
        self.active: list[Reservation] = []
        self.open_allocations: list[Allocation] = []
        self.in_transit: list[Transfer] = []
        self.keys = itertools.count()

    def _free(self, key) -> int:
        return self.on_hand[key] - self.reserved[key] - self.allocated[key]

    def _channel_free(self, v: int) -> int:
        return sum(self._free((v, loc)) for loc in range(LOCATIONS))

    def _key(self, variant_id: int, location_id: int) -> tuple[int, int]:
        v = next(i for i, x in enumerate(self.variants) if x.pk == variant_id)
        loc = next(i for i, x in enumerate(self.locations) if x.pk == location_id)
        return (v, loc)

    @rule(v=st.integers(0, VARIANTS - 1), loc=st.integers(0, LOCATIONS - 1), qty=st.integers(1, 6))
    def receive(self, v, loc, qty):
        services.receive_stock(variant=self.variants[v], location=self.locations[loc], quantity=qty)
        self.on_hand[(v, loc)] += qty

    @rule(wanted=st.dictionaries(st.integers(0, VARIANTS - 1), st.integers(1, 4), min_size=1, max_size=3))
    def reserve(self, wanted):
        lines = [LineRequest(self.variants[v].sku, q) for v, q in wanted.items()]
        enough = all(self._channel_free(v) >= q for v, q in wanted.items())
        try:
            reservation = services.reserve_stock(channel=self.channel, lines=lines, key=f"k{next(self.keys)}")
        except InsufficientStock:
            assert not enough, "refused although the stock was there"
            return
        assert enough, "reserved more than was free"
        for line in reservation.lines.all():
            self.reserved[self._key(line.variant_id, line.location_id)] += line.quantity
        self.active.append(reservation)

    def _drop_holds(self, reservation, book):
        for line in reservation.lines.all():
            key = self._key(line.variant_id, line.location_id)
            self.reserved[key] -= line.quantity
            if book:
                self.allocated[key] += line.quantity

    @precondition(lambda self: self.active)
    @rule(i=st.integers(0, 100))
    def expire_one(self, i):
        reservation = self.active.pop(i % len(self.active))
        Reservation.objects.filter(pk=reservation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert services.expire_reservations() == 1
        self._drop_holds(reservation, book=False)

    @precondition(lambda self: self.active)
    @rule(i=st.integers(0, 100))
    def release(self, i):
        reservation = self.active.pop(i % len(self.active))
        services.release_reservation(reservation=reservation)
        self._drop_holds(reservation, book=False)

    @precondition(lambda self: self.active)
    @rule(i=st.integers(0, 100))
    def place_order(self, i):
        reservation = self.active.pop(i % len(self.active))
        allocation = services.allocate_reservation(
            reservation=reservation, order_reference=f"o{reservation.pk}"
        )
        self._drop_holds(reservation, book=True)
        self.open_allocations.append(allocation)

    @rule(v=st.integers(0, VARIANTS - 1), qty=st.integers(1, 4))
    def place_order_without_checkout(self, v, qty):
        enough = self._channel_free(v) >= qty
        try:
            allocation = services.allocate_stock(
                channel=self.channel,
                lines=[LineRequest(self.variants[v].sku, qty)],
                order_reference=f"d{next(self.keys)}",
            )
        except InsufficientStock:
            assert not enough
            return
        assert enough
        for line in allocation.lines.all():
            self.allocated[self._key(line.variant_id, line.location_id)] += line.quantity
        self.open_allocations.append(allocation)

    @precondition(lambda self: self.open_allocations)
    @rule(i=st.integers(0, 100), ship=st.booleans())
    def finish_order(self, i, ship):
        allocation = self.open_allocations.pop(i % len(self.open_allocations))
        lines = list(allocation.lines.all())
        if ship:
            services.ship_allocation(allocation=allocation)
        else:
            services.cancel_allocation(allocation=allocation)
        for line in lines:
            key = self._key(line.variant_id, line.location_id)
            self.allocated[key] -= line.quantity
            if ship:
                self.on_hand[key] -= line.quantity

    @rule(v=st.integers(0, VARIANTS - 1), src=st.integers(0, LOCATIONS - 1), qty=st.integers(1, 4))
    def transfer(self, v, src, qty):
        dst = (src + 1) % LOCATIONS
        transfer = services.request_transfer(
            source=self.locations[src],
            destination=self.locations[dst],
            lines=[SkuQuantity(self.variants[v].sku, qty)],
        )
        try:
            services.dispatch_transfer(transfer=transfer)
        except InsufficientStock:
            assert self._free((v, src)) < qty
            services.cancel_transfer(transfer=transfer)
            return
        assert self._free((v, src)) >= qty
        self.on_hand[(v, src)] -= qty
        self.in_transit.append((transfer, v, dst, qty))

    @precondition(lambda self: self.in_transit)
    @rule()
    def transfer_arrives(self):
        transfer, v, dst, qty = self.in_transit.pop(0)
        services.receive_transfer(transfer=transfer)
        self.on_hand[(v, dst)] += qty

    @rule(
        v=st.integers(0, VARIANTS - 1),
        loc=st.integers(0, LOCATIONS - 1),
        delta=st.integers(-3, 3).filter(bool),
    )
    def adjust(self, v, loc, delta):
        try:
            services.adjust_stock(
                variant=self.variants[v], location=self.locations[loc], delta=delta, reason_code="correction"
            )
        except InsufficientStock:
            assert delta < 0 and self._free((v, loc)) < -delta
            return
        self.on_hand[(v, loc)] += delta

    @rule(v=st.integers(0, VARIANTS - 1), loc=st.integers(0, LOCATIONS - 1), counted=st.integers(0, 12))
    def cycle_count(self, v, loc, counted):
        count = services.start_count(location=self.locations[loc])
        try:
            services.complete_count(count=count, lines=[SkuQuantity(self.variants[v].sku, counted)])
        except CountBelowCommitted:
            assert counted < self.reserved[(v, loc)] + self.allocated[(v, loc)]
            services.cancel_count(count=count)
            return
        self.on_hand[(v, loc)] = counted

    @invariant()
    def books_balance(self):
        for level in StockLevel.objects.filter(location__in=self.locations):
            key = self._key(level.variant_id, level.location_id)
            assert (level.on_hand, level.reserved, level.allocated) == (
                self.on_hand[key],
                self.reserved[key],
                self.allocated[key],
            ), key
            assert (
                level.reserved >= 0
                and level.allocated >= 0
                and level.reserved + level.allocated <= level.on_hand
            )
        assert services.verify_ledger() == []
        promised = services.availability_for(channel=self.channel, variant_ids=[x.pk for x in self.variants])
        assert promised == {x.pk: max(0, self._channel_free(i)) for i, x in enumerate(self.variants)}


@pytest.mark.django_db
def test_random_stock_operations_always_keep_the_books_balanced():
    run_state_machine_as_test(StockMachine, settings=search_settings("inventory"))
