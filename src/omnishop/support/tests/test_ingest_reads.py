"""The reads inbound e-mail makes by hand-written SQL (core.rows) return what the querysets they replace
return: the same rows, every field converted the same way (times, decimals, JSON, booleans), on SQLite and
PostgreSQL."""

from __future__ import annotations

from django.db import transaction

from omnishop.customers import services as customers
from omnishop.customers.models import ChannelIdentity, Customer
from omnishop.orders.models import Order
from omnishop.support.models import Conversation, Message
from omnishop.support.services import email_in, threading


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_thread_and_order_read_by_hand_equal_the_orm_read(write_in, shop, django_assert_num_queries):
    ada = Customer.objects.create(email="ada@example.com", first_name="Ada")
    order = shop.checkout({shop.variant(): 1}, key="o1", customer=ada)
    first = write_in("Where is it?", external_id="<one@mail.example>", auth_results={"spf": "pass"})
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.order_id == order.pk

    with transaction.atomic():
        open_one = threading.find_conversation(customer=ada, lock=True)
        by_header = threading.find_conversation(customer=ada, in_reply_to="<one@mail.example>", lock=True)
    assert _fields(open_one) == _fields(conversation) == _fields(by_header)
    with django_assert_num_queries(0):  # joined in the same statement, as select_related("order")
        joined = open_one.order
    assert _fields(joined) == _fields(Order.objects.get(pk=order.pk))
    assert threading.order_for(customer=ada, email="", numbers=[order.number]) == order
    assert _fields(threading.order_for(customer=ada, email="", numbers=[])) == _fields(order)

    assert email_in._stored("<one@mail.example>") == first
    assert _fields(email_in._stored("<one@mail.example>")) == _fields(Message.objects.get(pk=first.pk))
    assert email_in._stored("<none@mail.example>") is None


def test_a_known_sender_is_found_by_hand_as_the_orm_finds_them(web_channel, write_in):
    write_in("Hello", sender="Grace@Example.com")  # the channel now knows grace by e-mail
    identity = ChannelIdentity.objects.select_related("customer").get(email="grace@example.com")
    before = identity.last_seen_at

    found = customers.resolve_known_email(channel=web_channel, email="grace@example.com", first_name="Grace")

    assert found.pk == identity.customer_id and found.first_name == "Grace"
    identity.refresh_from_db()
    assert identity.last_seen_at > before  # refreshed, and only ever forward
    assert customers.resolve_known_email(channel=web_channel, email="nobody@example.com") is None
