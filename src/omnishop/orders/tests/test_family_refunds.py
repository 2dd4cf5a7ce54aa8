"""Money of an order family (an order and the orders split off it share one payment): after any split,
cancel and partial cancel, the customer has paid exactly what the family still costs — never more."""

from __future__ import annotations

from decimal import Decimal

from omnishop.inventory import services as inventory
from omnishop.orders import services
from omnishop.orders.models import Order, OrderException
from omnishop.payments import services as payments
from omnishop.payments.models import Payment, Refund

from .conftest import assert_books_balance


def family_balance(order):
    return services.paid(order), services.family_total(order)


def test_cancelling_a_split_parent_then_the_childs_line_refunds_everything(shop):
    """The sequence Hypothesis found: paid 2 units, split 1 off, cancel the parent, cancel the child's line."""
    v = shop.variant(price="4.35")
    order = shop.checkout({v: 2})
    child = services.split_order(order=order, quantities={order.lines.get().pk: 1}, actor="t")
    services.cancel_order(order=services.get_order(order.number), actor="t")
    child = services.get_order(child.number)
    services.cancel_order(order=child, quantities={child.lines.get().pk: 1}, actor="t")

    paid, owed = family_balance(child)
    assert owed == Decimal(0)
    assert paid == Decimal(0)
    assert services.get_order(child.number).status == Order.Status.CANCELLED
    payment = Payment.objects.get(reference=order.number)
    assert payment.refunded == payment.captured
    # two refunds, one per cancellation, with different keys
    assert Refund.objects.filter(payment=payment).count() == 2
    assert_books_balance()


def test_a_split_parent_merged_with_another_order_refunds_the_whole_family_when_all_is_cancelled(
    shop, customer
):
    v = shop.variant(price="4.35")
    first = shop.checkout({v: 2}, key="a", customer=customer)
    child = services.split_order(order=first, quantities={first.lines.get().pk: 1}, actor="t")
    second = shop.checkout({v: 1}, key="b", customer=customer)
    survivor = services.merge_orders(orders=[first, second], actor="t")
    assert survivor.number == first.number
    assert services.paid(survivor) <= services.family_total(survivor)

    services.cancel_order(order=survivor, actor="t")
    services.cancel_order(order=services.get_order(child.number), actor="t")

    assert family_balance(survivor) == (Decimal(0), Decimal(0))
    for p in Payment.objects.filter(reference=first.number):
        assert p.refunded == p.captured
    assert_books_balance()


def test_address_changes_of_a_parent_and_its_split_child_each_refund_their_own_difference(shop):
    """Both orders change address at the same point of their timelines: their refunds must not collide."""
    from omnishop.orders.tests.conftest import ADDRESS

    shop.channel.prices_include_tax = False
    shop.channel.save(update_fields=["prices_include_tax"])
    services.set_tax_rate(channel=shop.channel, country="FR", rate="0.05")
    v = shop.variant(price="10.00")
    order = shop.checkout({v: 2})
    child = services.split_order(order=order, quantities={order.lines.get().pk: 1}, actor="t")
    paid_before = services.paid(order)
    services.change_address(
        order=services.get_order(order.number), address={**ADDRESS, "country": "FR"}, actor="t"
    )
    services.change_address(
        order=services.get_order(child.number), address={**ADDRESS, "country": "FR"}, actor="t"
    )
    paid, owed = family_balance(order)
    # GB 20 %: 2 × 12.00 + 4.95 + 0.99 = 29.94; FR 5 %: 2 × 10.50 + 4.95 + 0.25 = 26.20. The child keeps
    # the shipping it was split with (none): the family's one delivery charge stays on the parent.
    assert paid_before == Decimal("29.94")
    assert (paid, owed) == (Decimal("26.20"), Decimal("26.20"))
    assert services.get_order(child.number).shipping_total == 0
    assert sorted(
        Refund.objects.filter(payment__reference=order.number).values_list("amount", flat=True)
    ) == [
        Decimal("1.50"),
        Decimal("2.24"),
    ]
    assert_books_balance()


def test_a_split_childs_new_address_does_not_charge_the_family_a_second_delivery(shop):
    from omnishop.orders.tests.conftest import ADDRESS

    v = shop.variant(price="10.00")
    order = shop.checkout({v: 2})
    child = services.split_order(order=order, quantities={order.lines.get().pk: 1}, actor="t")
    services.change_address(order=child, address={**ADDRESS, "line1": "2 Other Street"}, actor="t")
    assert family_balance(order) == (Decimal("24.95"), Decimal("24.95"))


def test_cancelling_the_unpaid_part_of_a_merged_order_settles_it_as_paid(shop, customer):
    """A paid card order merged into a pending transfer order; cancelling the unpaid line and one paid
    unit leaves more paid than owed: the excess is refunded and the order is settled as paid, exactly."""
    card_item, transfer_item = shop.variant(price="10.00"), shop.variant(price="7.00")
    paid = shop.checkout({card_item: 2}, key="card", customer=customer)
    pending = shop.checkout({transfer_item: 1}, key="transfer", provider="manual", card="", customer=customer)
    assert (paid.status, pending.status) == (Order.Status.PAID, Order.Status.PENDING_PAYMENT)
    merged = services.merge_orders(orders=[pending, paid], actor="t")
    merged = services.get_order(merged.number)
    unpaid_line, paid_line = merged.lines.get(sku=transfer_item.sku), merged.lines.get(sku=card_item.sku)
    # Cancelling the unpaid line and one paid unit leaves less to pay than was paid: a refund, whose
    # payment events settle the order while cancel_order is still running.
    after = services.cancel_order(order=merged, quantities={unpaid_line.pk: 1, paid_line.pk: 1}, actor="t")

    assert after.status == Order.Status.PAID
    paid_now, owed = family_balance(after)
    assert paid_now == owed
    assert_books_balance()


def test_a_goodwill_refund_before_the_3ds_payment_completes_does_not_keep_the_order_awaiting_payment(
    shop, customer
):
    """The sequence the order machine found on 3 Dec 2026 (CI, SQLite): a 3-D Secure order awaiting the
    shopper, a paid card order merged into it, a goodwill refund of 0.01 on the card payment, then the 3-D
    Secure payment completes. Settling compared captured *minus refunded* with the total, so the order stayed
    `pending_payment` for ever although every penny due had been taken."""
    v = shop.variant(price="4.35")
    waiting = shop.checkout({v: 3}, key="3ds", card="4000002500003155", customer=customer)
    card = shop.checkout({v: 1}, key="card", customer=customer)
    assert (waiting.status, card.status) == (Order.Status.PENDING_PAYMENT, Order.Status.PAID)
    merged = services.merge_orders(orders=[card, waiting], actor="t")
    assert merged.number == waiting.number
    captured = Payment.objects.get(reference=merged.number, status="captured")
    payments.refund_payment(payment=captured, amount=Decimal("0.01"), key="goodwill")

    for p in Payment.objects.filter(reference=merged.number, status__in=["pending", "requires_action"]):
        payments.confirm_payment(payment=p)

    after = services.get_order(merged.number)
    assert after.status == Order.Status.PAID
    paid_now, owed = family_balance(after)
    assert paid_now == owed - Decimal("0.01")
    assert_books_balance()


def test_a_goodwill_refund_does_not_send_a_backordered_paid_order_back_to_awaiting_payment(shop):
    """The same rule where a backorder is allocated at last: a marketplace order paid in full waits for
    stock, 1.00 is given back meanwhile; once its stock arrives it is paid (ready to ship), not
    `pending_payment`."""
    v = shop.variant(price="10.00", stock=0)
    order, _ = services.create_channel_order(
        channel=shop.channel,
        lines=[services.ChannelLine(sku=v.sku, quantity=1)],
        external_id="M-goodwill",
        actor="channel:web",
    )
    assert order.status == Order.Status.ON_HOLD and services.paid(order) == order.total
    payments.refund_payment(
        payment=Payment.objects.get(reference=order.number), amount=Decimal("1.00"), key="goodwill"
    )
    services.resolve_exception(item=OrderException.objects.get(order=order), action="backorder", actor="t")
    inventory.receive_stock(variant=v, location=shop.warehouse, quantity=5, reference="po")
    assert services.allocate_backorders() == [order.number]

    assert services.get_order(order.number).status == Order.Status.PAID
    assert_books_balance()
